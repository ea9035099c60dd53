//! Cross-crate tests of evc.
//!
//! **Owns:** the codegen corpus (`codegen-corpus/*.avsc`, every Avro type and logical type),
//! the Rust generated from it (`src/corpus/`, checked in and kept fresh by
//! `cargo xtask codegen --check`), and [`arb`], proptest strategies that produce random Avro
//! values for any schema. The tests in `tests/` round-trip the corpus types and the order
//! events through apache-avro.
//!
//! **Does not own:** any product code.

pub mod arb;
pub mod corpus;
