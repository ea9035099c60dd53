//! Cross-crate tests of evc.
//!
//! **Owns:** the codegen corpus (`codegen-corpus/*.avsc`, hand-written in the spirit of public
//! schemas and of the hard cases, plus the generated families in `codegen-corpus/generated/`,
//! one per Avro type), the Rust generated from it (`src/corpus/`, checked in and kept fresh by
//! `cargo xtask codegen --check`), [`arb`], proptest strategies that produce random Avro values
//! for any schema, and [`roundtrip`], the checks of every corpus type. The tests in `tests/`
//! round-trip the corpus against apache-avro and fastavro (`corpus_roundtrip`,
//! `fastavro_corpus`, with `interop/corpus_roundtrip.py`) and the order events.
//!
//! **Does not own:** any product code.

#![forbid(unsafe_code)]

pub mod arb;
pub mod corpus;
pub mod roundtrip;
