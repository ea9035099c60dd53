//! A grow-only map read without locks: what the serializer and deserializer consult on every
//! message (ids per type, writer schemas per id, decisions per writer and reader).
//!
//! Entries are never removed or replaced (registry ids are immutable, and so is everything
//! decided from them), which is what allows a map without locks and without `unsafe`: a fixed
//! array of buckets, each a chain of nodes linked through `OnceLock`s. A look-up is one hash and
//! a few acquire loads; an insert walks its chain and sets the first empty link (a lost race
//! just moves on to the node the winner set). Chains grow when the map holds many more entries
//! than it has buckets, which the uses here never do (types × schema versions).

use std::sync::OnceLock;

const BUCKETS: usize = 64;

struct Node<K, V> {
    key: K,
    value: V,
    next: Link<K, V>,
}

/// A link of a chain: empty, or the next node.
type Link<K, V> = OnceLock<Box<Node<K, V>>>;

/// A grow-only map from small `Copy` keys, lock-free to read.
pub(crate) struct GrowOnlyMap<K, V> {
    buckets: Box<[Link<K, V>]>,
}

/// Keys the map can place in a bucket.
pub(crate) trait CacheKey: Copy + Eq {
    fn hash64(&self) -> u64;
}

impl CacheKey for u32 {
    #[inline]
    fn hash64(&self) -> u64 {
        u64::from(*self)
    }
}

impl CacheKey for (u32, usize) {
    #[inline]
    fn hash64(&self) -> u64 {
        u64::from(self.0) ^ (self.1 as u64).rotate_left(29)
    }
}

impl CacheKey for std::any::TypeId {
    #[inline]
    fn hash64(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        // TypeId hashes by writing one u64 (its low half), which is already well mixed
        struct Take(u64);
        impl Hasher for Take {
            fn finish(&self) -> u64 {
                self.0
            }
            fn write(&mut self, bytes: &[u8]) {
                for b in bytes {
                    self.0 = self.0.rotate_left(8) ^ u64::from(*b);
                }
            }
            fn write_u64(&mut self, n: u64) {
                self.0 ^= n;
            }
        }
        let mut h = Take(0);
        self.hash(&mut h);
        h.finish()
    }
}

impl CacheKey for (std::any::TypeId, &'static str) {
    #[inline]
    fn hash64(&self) -> u64 {
        self.0.hash64() ^ (self.1.as_ptr() as u64).rotate_left(17) ^ self.1.len() as u64
    }
}

#[inline]
fn bucket(h: u64) -> usize {
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % BUCKETS
}

impl<K: CacheKey, V> GrowOnlyMap<K, V> {
    pub(crate) fn new() -> Self {
        GrowOnlyMap {
            buckets: (0..BUCKETS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The value for `key`, if one was inserted.
    #[inline]
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        let mut link = &self.buckets[bucket(key.hash64())];
        while let Some(node) = link.get() {
            if node.key == *key {
                return Some(&node.value);
            }
            link = &node.next;
        }
        None
    }

    /// Inserts `value` for `key` unless the key has one already; answers the value kept (the
    /// first one inserted).
    pub(crate) fn insert(&self, key: K, value: V) -> &V {
        let mut link = &self.buckets[bucket(key.hash64())];
        let mut pending = Some(Box::new(Node {
            key,
            value,
            next: OnceLock::new(),
        }));
        loop {
            if let Some(node) = link.get() {
                if node.key == key {
                    return &node.value;
                }
                link = &node.next;
                continue;
            }
            // the chain ends here: try to append; a concurrent insert may win the link
            match link.set(pending.take().expect("not yet placed")) {
                Ok(()) => return &link.get().expect("just set").value,
                Err(back) => pending = Some(back),
            }
        }
    }
}

impl<K, V: std::fmt::Debug> std::fmt::Debug for GrowOnlyMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut n = 0;
        for b in self.buckets.iter() {
            let mut link = b;
            while let Some(node) = link.get() {
                n += 1;
                link = &node.next;
            }
        }
        f.debug_struct("GrowOnlyMap").field("entries", &n).finish()
    }
}

impl<K, V> Drop for GrowOnlyMap<K, V> {
    /// Unlinks chains iteratively, so a long chain cannot overflow the stack.
    fn drop(&mut self) {
        for b in self.buckets.iter_mut() {
            let mut next = b.take();
            while let Some(mut node) = next {
                next = node.next.take();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn first_insert_wins_and_every_key_is_found() {
        let m: GrowOnlyMap<u32, u32> = GrowOnlyMap::new();
        for i in 0..1000 {
            assert_eq!(*m.insert(i, i * 2), i * 2);
        }
        for i in 0..1000 {
            assert_eq!(m.get(&i), Some(&(i * 2)));
            assert_eq!(*m.insert(i, 7), i * 2, "an existing entry is kept");
        }
        assert_eq!(m.get(&1000), None);
    }

    #[test]
    fn concurrent_inserts_agree_on_one_value_per_key() {
        let m: Arc<GrowOnlyMap<(u32, usize), usize>> = Arc::new(GrowOnlyMap::new());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    (0..500u32)
                        .map(|i| *m.insert((i, 1), t))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let seen: Vec<Vec<usize>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for i in 0..500 {
            let kept = *m.get(&(i as u32, 1)).unwrap();
            assert!(seen.iter().all(|s| s[i] == kept), "key {i}");
        }
    }
}
