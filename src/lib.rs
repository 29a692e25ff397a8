//! pixelsift: email open and click analytics from web-server access logs.
//!
//! Modules are listed in the order a log line travels through them: from
//! bytes on disk to a row in the Parquet dataset, then to SQL.
#![deny(missing_docs)]

pub mod batch;
pub mod chart;
pub mod classify;
#[cfg(feature = "ballista")]
pub mod cluster;
pub mod commit;
pub mod demo;
pub mod dialect;
pub mod encode;
pub mod enrich;
pub mod error;
pub mod input;
pub mod lines;
pub mod maintain;
pub mod manifest;
pub mod mint;
pub mod nightly;
pub mod output;
pub mod pipeline;
pub mod privacy;
pub mod query;
pub mod readtime;
pub mod reclassify;
pub mod registry;
pub mod remote;
pub mod simulate;
pub mod tally;
pub mod track;
pub mod workdir;

pub use error::{Error, Result};

/// Asks the CPU to bring the cache line holding `*p` in; a hint, no more.
/// The join and the address cache use it to load a window of lines' table
/// slots before they are looked up.
#[inline]
pub(crate) fn prefetch<T: ?Sized>(p: &T) {
    prefetch_at((p as *const T).cast::<u8>());
}

/// Asks the CPU to bring the cache line holding address `p` in.
#[inline]
pub(crate) fn prefetch_at(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: a prefetch is a hint that never faults, whatever the address.
        #[allow(unused_unsafe)]
        unsafe {
            std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Helpers the unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    /// A fixed sequence of pseudo-random numbers (xorshift64), so that a
    /// test's failure repeats; `seed` must not be 0.
    pub fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// The addresses at and just past each end of network `addr/len`
    /// (wrapping at the ends of the address space): where a lookup by
    /// prefix goes wrong first.
    pub fn edges(addr: std::net::IpAddr, len: u8) -> Vec<std::net::IpAddr> {
        use std::net::IpAddr;
        match addr {
            IpAddr::V4(a) => {
                let v = u32::from(a);
                let last = v | u32::MAX.checked_shr(len.into()).unwrap_or(0);
                let around = [v.wrapping_sub(1), v, v.wrapping_add(1)];
                let end = [last.wrapping_sub(1), last, last.wrapping_add(1)];
                around
                    .into_iter()
                    .chain(end)
                    .map(|x| IpAddr::V4(x.into()))
                    .collect()
            }
            IpAddr::V6(a) => {
                let v = u128::from(a);
                let last = v | u128::MAX.checked_shr(len.into()).unwrap_or(0);
                let around = [v.wrapping_sub(1), v, v.wrapping_add(1)];
                let end = [last.wrapping_sub(1), last, last.wrapping_add(1)];
                around
                    .into_iter()
                    .chain(end)
                    .map(|x| IpAddr::V6(x.into()))
                    .collect()
            }
        }
    }
}
