//! Read time: how long a message stayed open, from how long the mail client
//! kept downloading an image that nginx sends slowly (`mint --read-time`).
//!
//! The image is a transparent 1x1 GIF followed by comment blocks, sent at
//! [`READ_RATE`] bytes a second, so a client that keeps the message open
//! keeps the request open until the end (about the chosen maximum). When
//! the reader closes the message the client drops the connection and nginx
//! logs the request's duration (`$request_time`) with the bytes sent so far.
//!
//! What a hit tells, in order:
//! - a machine (image proxy, Apple's prefetch, scanner, crawler) fetched it:
//!   no read time, whatever the duration;
//! - the whole image arrived in under a second: fetched at once by something
//!   nginx does not slow down (a proxy it knows), or from a cache: no read time;
//! - the whole image arrived slowly: read for at least the maximum, capped there;
//! - part of it arrived: read for the request's duration.

use crate::classify::Class;

/// Bytes per second the read-time image is sent at. Low enough that the
/// image is small (about 16 KB for a minute), high enough that nginx's
/// once-a-second pacing sends something every second.
pub const READ_RATE: u32 = 256;

/// The read-time image's file name in the output directory.
pub const READ_IMAGE: &str = "readtime.gif";

/// The read-time image for a maximum of `max_seconds`: a transparent 1x1
/// GIF whose picture comes first, followed by comment blocks that carry no
/// picture, then the trailer. A client that stops early has already drawn
/// the (invisible) pixel; one that takes it whole sees the same pixel.
pub fn read_time_gif(max_seconds: u32) -> Vec<u8> {
    // nginx's empty_gif without its trailer byte.
    const PIXEL: [u8; 42] = [
        b'G', b'I', b'F', b'8', b'9', b'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
        0x21, 0xf9, 4, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0,
    ];
    let target = (READ_RATE as usize) * (max_seconds as usize + 1);
    let mut g = PIXEL.to_vec();
    g.extend_from_slice(&[0x21, 0xfe]);
    while g.len() + 256 + 2 < target {
        g.push(255);
        g.extend(std::iter::repeat_n(b' ', 255));
    }
    g.push(0);
    g.push(0x3b);
    g
}

/// The maximum a whole read-time image of `bytes` bytes was made for.
pub fn max_of_whole_image(bytes: u64) -> Option<u32> {
    // Sizes are 46 + 256 k: find the maximum whose image has this size.
    if bytes < 46 || !(bytes - 46).is_multiple_of(256) {
        return None;
    }
    (1..=3600u32).find(|&m| image_len(m) as u64 == bytes)
}

fn image_len(max_seconds: u32) -> usize {
    let target = (READ_RATE as usize) * (max_seconds as usize + 1);
    let mut len = 44;
    while len + 256 + 2 < target {
        len += 256;
    }
    len + 2
}

/// Seconds read, from a read-time hit's class, duration and bytes sent.
pub fn read_seconds(class: Class, duration_us: Option<i64>, bytes: Option<u64>) -> Option<f64> {
    if class != Class::Human {
        return None;
    }
    let secs = duration_us? as f64 / 1e6;
    match bytes.and_then(max_of_whole_image) {
        Some(_) if secs < 1.0 => None,
        Some(max) => Some(secs.min(max as f64)),
        None => Some(secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_valid_and_their_size_names_their_maximum() {
        for max in [5, 10, 60, 600] {
            let g = read_time_gif(max);
            assert_eq!(g.len(), image_len(max));
            assert_eq!(max_of_whole_image(g.len() as u64), Some(max));
            assert!(g.starts_with(b"GIF89a") && g.ends_with(&[0, 0x3b]));
            // Lasts about `max` seconds at the rate.
            let secs = g.len() as f64 / READ_RATE as f64;
            assert!((secs - max as f64).abs() <= 1.5, "{max}: {secs}");
        }
    }

    #[test]
    fn only_people_read_and_only_partial_or_slow_fetches_measure() {
        let whole = Some(read_time_gif(60).len() as u64);
        assert_eq!(
            read_seconds(Class::Human, Some(5_250_000), Some(1_536)),
            Some(5.25)
        );
        assert_eq!(
            read_seconds(Class::Human, Some(61_020_000), whole),
            Some(60.0)
        );
        assert_eq!(read_seconds(Class::Human, Some(3_000), whole), None);
        assert_eq!(
            read_seconds(Class::ImageProxy, Some(5_000_000), Some(1_536)),
            None
        );
        assert_eq!(read_seconds(Class::AppleMpp, Some(0), whole), None);
        assert_eq!(read_seconds(Class::Human, None, Some(1_536)), None);
    }
}
