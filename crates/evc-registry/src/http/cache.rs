//! Whole answers of the hot read paths, kept until the registry changes.
//!
//! Producers look up or re-register the same schema on every start, and consumers fetch each
//! id once per process; on a busy registry these requests repeat byte for byte. An answer of
//! `GET /schemas/ids/{id}`, `POST /subjects/{s}` (look-up) or `POST /subjects/{s}/versions`
//! that did not change anything (the schema was registered already) is kept here under the
//! route, the path, the query and the request body, with the registry's generation read before
//! it was computed; any committed write (here or, through the change listener, in another
//! server process) moves the generation on and empties the cache. Errors are never kept.

use std::collections::HashMap;

use axum::body::Bytes;
use parking_lot::RwLock;

use crate::Registry;

/// Bound on kept answers; the cache starts over when it is full.
const BOUND: usize = 20_000;

/// What an answer was computed for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub route: &'static str,
    pub path: String,
    pub query: String,
    pub body: Bytes,
}

#[derive(Default)]
pub(crate) struct AnswerCache {
    inner: RwLock<(u64, HashMap<Key, Bytes>)>,
}

impl AnswerCache {
    /// The kept answer, if the registry did not change since.
    pub fn get(&self, registry: &Registry, key: &Key) -> Option<Bytes> {
        let g = self.inner.read();
        if g.0 != registry.generation() {
            return None;
        }
        g.1.get(key).cloned()
    }

    /// Keeps an answer computed under `generation`.
    pub fn put(&self, registry: &Registry, generation: u64, key: Key, answer: Bytes) {
        let mut g = self.inner.write();
        let now = registry.generation();
        if now != generation {
            return;
        }
        if g.0 != now {
            g.0 = now;
            g.1.clear();
        }
        if g.1.len() >= BOUND {
            g.1.clear();
        }
        g.1.insert(key, answer);
    }
}
