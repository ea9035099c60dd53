//! HTTP tests of the registry server: real sockets, a real HTTP client, both storage backends.
//!
//! PostgreSQL tests need the server named by `EVC_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test works in a fresh PostgreSQL schema and
//! fails (never skips) when the database is unreachable.

mod api;
mod common;
mod concurrency;
mod contracts;
mod durability;
mod malformed;
mod multi_instance;
mod operations;
