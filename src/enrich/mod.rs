//! Enrichment: what the address and the user agent tell about a hit.
//!
//! Both are looked up once per distinct value per worker: a campaign has few
//! distinct user agents, and proxies and scanners repeat addresses.

pub mod agent;
pub mod geo;
pub mod mmdb_writer;

use foldhash::HashMap;
use foldhash::HashMapExt;
use std::hash::Hash;
use std::sync::Arc;

/// A small per-worker memo. It is cleared when full rather than evicting
/// item by item: simple, and the hot set refills within a few lines.
#[derive(Debug)]
pub struct Memo<K, V> {
    map: HashMap<K, Arc<V>>,
    cap: usize,
}

impl<K: Hash + Eq, V> Memo<K, V> {
    /// A memo holding at most `cap` entries.
    pub fn new(cap: usize) -> Self {
        Memo {
            map: HashMap::with_capacity(cap.min(1024)),
            cap,
        }
    }

    /// The cached value for `key`, computing it on a miss.
    pub fn get_or<Q>(&mut self, key: &Q, make: impl FnOnce() -> V) -> Arc<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(v) = self.map.get(key) {
            return v.clone();
        }
        if self.map.len() >= self.cap {
            self.map.clear();
        }
        let v = Arc::new(make());
        self.map.insert(key.to_owned(), v.clone());
        v
    }
}
