//! Every generated corpus type: random values convert into the Rust type and back, encode with
//! apache-avro against the type's own schema, and decode back equal.

use evc_avro::{AvroBinary, AvroSchema, AvroValue};
use evc_tests::{arb, corpus};
use proptest::prelude::*;

fn model<T: AvroSchema>() -> evc_schema::Schema {
    evc_schema::Schema::parse(T::SCHEMA_JSON).expect("generated schema parses")
}

/// value → T → value → bytes → value → T, with equality at both ends; and the generated
/// binary encoder/decoder agree with apache-avro's in both directions.
fn roundtrip<T: AvroSchema + AvroValue + AvroBinary + PartialEq + std::fmt::Debug>(
    v: apache_avro::types::Value,
) -> Result<(), TestCaseError> {
    let t = T::from_avro_value(v.clone())
        .map_err(|e| TestCaseError::fail(format!("from_avro_value: {e}")))?;
    let back = t
        .to_avro_value()
        .map_err(|e| TestCaseError::fail(format!("to_avro_value: {e}")))?;
    let t2 = T::from_avro_value(back).map_err(|e| TestCaseError::fail(format!("re-read: {e}")))?;
    prop_assert_eq!(&t, &t2);
    let bytes = evc_avro::encode(&t).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    // apache-avro must agree it is valid data for the schema: encode the generated value directly too
    let direct = apache_avro::to_avro_datum(T::schema(), v)
        .map_err(|e| TestCaseError::fail(format!("apache-avro encode: {e}")))?;
    prop_assert_eq!(
        bytes.len(),
        direct.len(),
        "same encoded size as apache-avro's own encoding of the value"
    );
    let decoded: T =
        evc_avro::decode(&bytes).map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(&t, &decoded);
    // the generated binary encoder: apache-avro reads what it writes ...
    let fast = evc_avro::binary::to_vec(&t)
        .map_err(|e| TestCaseError::fail(format!("binary encode: {e}")))?;
    let read_by_apache: T = evc_avro::decode(&fast).map_err(|e| {
        TestCaseError::fail(format!(
            "apache-avro reading the generated encoder's bytes: {e}"
        ))
    })?;
    prop_assert_eq!(&t, &read_by_apache);
    // ... and the generated binary decoder reads what apache-avro writes
    let read_fast: T = evc_avro::binary::from_slice(&direct)
        .map_err(|e| TestCaseError::fail(format!("binary decode of apache-avro bytes: {e}")))?;
    prop_assert_eq!(&t, &read_fast);
    let again: T = evc_avro::binary::from_slice(&fast)
        .map_err(|e| TestCaseError::fail(format!("binary decode: {e}")))?;
    prop_assert_eq!(t, again);
    Ok(())
}

macro_rules! corpus_roundtrip {
    ($($test:ident => $ty:ty),* $(,)?) => {$(
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn $test(v in arb::value(&model::<$ty>())) {
                roundtrip::<$ty>(v)?;
            }
        }
    )*};
}

corpus_roundtrip! {
    primitives => corpus::primitives::Primitives,
    nested_records => corpus::nested_records::Outer,
    recursive => corpus::recursive::Recursive,
    enums => corpus::enums::Enums,
    fixed => corpus::fixed::Fixeds,
    collections => corpus::collections::Collections,
    unions => corpus::unions::Unions,
    defaults => corpus::defaults::Defaults,
    docs => corpus::docs::Documented,
    namespaces => corpus::namespaces::Holder,
    logical => corpus::logical::Logical,
    keywords => corpus::keywords::Keywords,
    error_type => corpus::error_type::Failure,
    top_union => corpus::top_union::TopUnion,
    aliases => corpus::aliases::Renamed,
}
