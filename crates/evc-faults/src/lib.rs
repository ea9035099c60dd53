//! Fault injection for evc's fault suites.
//!
//! **Owns:** [`FaultProxy`], a TCP proxy of our own that sits between clients and a server
//! (a broker, the registry, PostgreSQL) and, driven by a seeded random source, delays the
//! bytes it forwards, refuses (closes at once) new connections, and resets (RST) open ones at
//! random points or all at once on demand; and [`Rng`], the seeded source the fault suites use
//! to decide where faults land; and [`History`], the checker of what an outbox → broker →
//! idempotent consumer → projection pipeline did under faults (no acknowledged write lost;
//! published at least once, in per-key order; side effects exactly once; the read model equal
//! to a rebuild).
//!
//! **Does not own:** the servers, the clients, or reading the stores back (a suite fills the
//! [`History`] from them); it knows no protocol and no domain (the proxy forwards bytes, the
//! checker compares event ids, keys and rendered rows).
//!
//! Faults are chosen per connection and per forwarded chunk from one seeded [`Rng`], so a seed
//! fixes the sequence of choices; the exact interleaving still depends on the scheduler, which
//! is what a fault suite wants to explore across seeds.

mod history;
mod proxy;
mod rng;

pub use history::{Appended, Delivered, History, Summary, Violation};
pub use proxy::{FaultProxy, Faults, ProxyStats};
pub use rng::Rng;
