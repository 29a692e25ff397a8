//! Enrichment: what the address and the user agent tell about a hit.
//!
//! Both are looked up once per distinct value per worker: a campaign has few
//! distinct user agents, and proxies and scanners repeat addresses.

pub mod agent;
pub mod geo;
pub mod mmdb_writer;

use std::hash::BuildHasher;

/// A per-worker cache of what a key (an address, a user agent) tells,
/// direct-mapped: a key has one slot and a miss overwrites it. A working
/// set bigger than the cache (a CDN log has hundreds of thousands of
/// addresses) then costs one recomputation per miss, not the burst of
/// frees of a map cleared when full, and slots keep their key buffers, so
/// a miss allocates only what the value itself needs.
pub struct Slots<V> {
    slots: Vec<Slot<V>>,
    mask: usize,
    hasher: foldhash::fast::RandomState,
}

/// Keys up to this long (any address as text) are kept in the slot itself:
/// a miss on the slot's cache line is then the only one a lookup pays,
/// where a key on the heap cost a second one for every lookup.
const INLINE: usize = 46;

/// Aligned to a cache line, with what a lookup compares first: the check
/// of a key against its slot reads one line (a slot of the address cache
/// spans four), and [`Slots::prefetch`] can load every line of it. Unaligned,
/// the compared fields fell on a line the prefetch had not loaded: 4.7% of
/// the CPU samples of an ingest waited on that one load.
#[repr(C, align(64))]
struct Slot<V> {
    hash: u64,
    len: usize,
    inline: [u8; INLINE],
    value: Option<V>,
    /// Longer keys (user agents).
    heap: Vec<u8>,
}

impl<V> Slot<V> {
    fn holds(&self, key: &[u8]) -> bool {
        self.len == key.len()
            && if key.len() <= INLINE {
                &self.inline[..key.len()] == key
            } else {
                self.heap == key
            }
    }

    fn set_key(&mut self, key: &[u8]) {
        self.len = key.len();
        if key.len() <= INLINE {
            self.inline[..key.len()].copy_from_slice(key);
        } else {
            self.heap.clear();
            self.heap.extend_from_slice(key);
        }
    }
}

impl<V> Slots<V> {
    /// A cache of `cap` slots (rounded up to a power of two).
    pub fn new(cap: usize) -> Self {
        let n = cap.max(1).next_power_of_two();
        Slots {
            slots: (0..n)
                .map(|_| Slot {
                    hash: 0,
                    len: 0,
                    inline: [0; INLINE],
                    heap: Vec::new(),
                    value: None,
                })
                .collect(),
            mask: n - 1,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Asks the CPU to bring `key`'s slot into cache ahead of its lookup:
    /// every line of it, since a hit goes on to read the value.
    #[inline]
    pub fn prefetch(&self, key: &[u8]) {
        let slot = &self.slots[self.hasher.hash_one(key) as usize & self.mask];
        let start = (slot as *const Slot<V>).cast::<u8>();
        for line in (0..std::mem::size_of::<Slot<V>>()).step_by(64) {
            crate::prefetch_at(start.wrapping_add(line));
        }
    }

    /// The cached value for `key`, computing it on a miss.
    pub fn get_or(&mut self, key: &[u8], make: impl FnOnce() -> V) -> &V {
        let hash = self.hasher.hash_one(key);
        let slot = &mut self.slots[hash as usize & self.mask];
        // The value's presence last: it lies beyond the slot's first line.
        let hit = slot.hash == hash && slot.holds(key) && slot.value.is_some();
        if !hit {
            slot.hash = hash;
            slot.set_key(key);
            slot.value = Some(make());
        }
        slot.value.as_ref().expect("filled above")
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;

    /// Hits return the first value, a changed key is recomputed, and more
    /// keys than slots still give each key its own value.
    #[test]
    fn slots_give_each_key_its_value() {
        let mut s = Slots::new(4);
        let mut made = 0;
        for round in 0..3 {
            for k in 0..100u32 {
                let key = k.to_string();
                let v = *s.get_or(key.as_bytes(), || {
                    made += 1;
                    k * 2
                });
                assert_eq!(v, k * 2, "round {round}");
            }
        }
        assert!((100..=300).contains(&made));
        made = 0;
        for _ in 0..10 {
            assert_eq!(
                *s.get_or(b"7", || {
                    made += 1;
                    14
                }),
                14
            );
        }
        assert_eq!(made, 1, "a repeated key is a hit");
        // A fresh slot holds no key, not even the empty one.
        let mut fresh = Slots::new(8);
        assert_eq!(*fresh.get_or(b"", || 5), 5);
        assert_eq!(*fresh.get_or(b"", || 6), 5, "then it is a hit");
    }

    /// Slots start on a cache line, so a prefetch of their lines covers them.
    #[test]
    fn slots_are_aligned_to_cache_lines() {
        let s: Slots<[u64; 20]> = Slots::new(3);
        for slot in &s.slots {
            assert_eq!((slot as *const _ as usize) % 64, 0);
        }
        assert_eq!(std::mem::size_of_val(&s.slots[0]) % 64, 0);
    }

    /// Keys kept in the slot and keys kept on the heap, around the length
    /// where one becomes the other, in one slot: each gets its own value,
    /// and a key differing only in its last byte is not a hit.
    #[test]
    fn short_and_long_keys_sharing_a_slot() {
        let mut s = Slots::new(1);
        let mut keys: Vec<Vec<u8>> = [1, 45, 46, 47, 120]
            .iter()
            .map(|&n| vec![b'k'; n])
            .collect();
        keys.push([vec![b'k'; 119], vec![b'x']].concat());
        keys.push([vec![b'k'; 45], vec![b'x']].concat());
        for round in 0..2 {
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(*s.get_or(k, || i), i, "round {round}, key {i}");
                assert_eq!(*s.get_or(k, || usize::MAX), i, "a hit, key {i}");
            }
        }
    }
}
