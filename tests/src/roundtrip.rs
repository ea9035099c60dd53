//! The round-trip checks of every corpus type, behind function pointers so that the test
//! binaries share one copy of the generic code ([`corpus`] lists them all).
//!
//! - [`CorpusType::reencode`]: the generated decoder reads a datum, the generated encoder writes
//!   it back; the bytes must be identical (maps keep their entry order).
//! - [`CorpusType::apache`]: where apache-avro can take the schema, apache-avro and the generated
//!   code read each other's bytes as the same value.
//! - [`CorpusType::random`]: random values (from [`crate::arb`]) written by the generated
//!   encoder, with the values as [`expected_json`].
//! - [`CorpusType::properties`]: the proptest round trip of random values through every path.

use std::fmt::Debug;

use evc_avro::apache_avro::types::Value;
use evc_avro::{binary, AvroBinary, AvroSchema, AvroValue};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::arb;

/// What apache-avro made of a datum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Apache {
    /// apache-avro and the generated code agree, both ways.
    Agrees,
    /// apache-avro cannot take the schema (the reason).
    CannotLoad(String),
}

/// A datum the generated encoder wrote, and the value it holds as [`expected_json`].
pub type Written = (Vec<u8>, serde_json::Value);

/// One corpus schema and the checks of its generated type. The fields are small functions
/// generic in the type; the proptest machinery around them is compiled once (see the methods).
pub struct CorpusType {
    /// The module under `corpus::` (the schema file's stem).
    pub module: &'static str,
    /// The schema the type was generated from, as registered.
    pub schema_json: &'static str,
    pub reencode: fn(&[u8]) -> Result<Vec<u8>, String>,
    pub apache: fn(&[u8]) -> Result<Apache, String>,
    /// A random value (of [`crate::arb`]) written by the generated encoder.
    pub write_value: fn(Value) -> Result<Written, String>,
    /// One proptest case: the value through every path (apache-avro's given its schema).
    pub check_value: fn(Value, Option<&evc_avro::apache_avro::Schema>) -> Result<(), String>,
}

impl CorpusType {
    fn model(&self) -> Result<evc_schema::Schema, String> {
        evc_schema::Schema::parse(self.schema_json)
            .map_err(|e| format!("the schema does not parse: {e}"))
    }

    /// `n` random values written by the generated encoder.
    pub fn random(&self, runner: &mut TestRunner, n: usize) -> Result<Vec<Written>, String> {
        let strategy = arb::value(&self.model()?);
        (0..n)
            .map(|_| {
                let v = strategy
                    .new_tree(runner)
                    .map_err(|e| e.to_string())?
                    .current();
                (self.write_value)(v)
            })
            .collect()
    }

    /// The proptest round trip of `cases` random values through every path.
    pub fn properties(&self, cases: u32) -> Result<Apache, String> {
        let schema = evc_avro::load_schema(self.schema_json);
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let check = self.check_value;
        runner
            .run(&arb::value(&self.model()?), |v| {
                check(v, schema.as_ref().ok()).map_err(TestCaseError::fail)
            })
            .map_err(|e| e.to_string())?;
        Ok(match schema {
            Ok(_) => Apache::Agrees,
            Err(e) => Apache::CannotLoad(e.to_string()),
        })
    }
}

fn reencode<T: AvroBinary>(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let t: T = binary::from_slice(bytes).map_err(|e| format!("generated decoder: {e}"))?;
    binary::to_vec(&t).map_err(|e| format!("generated encoder: {e}"))
}

fn apache<T: AvroSchema + AvroValue + AvroBinary + PartialEq + Debug>(
    bytes: &[u8],
) -> Result<Apache, String> {
    let schema = match evc_avro::load_schema(T::SCHEMA_JSON) {
        Ok(s) => s,
        Err(e) => return Ok(Apache::CannotLoad(e.to_string())),
    };
    let t: T = binary::from_slice(bytes).map_err(|e| format!("generated decoder: {e}"))?;
    let value = evc_avro::decode_value(bytes, &schema, None)
        .map_err(|e| format!("apache-avro cannot read the datum: {e}"))?;
    let via_apache =
        T::from_avro_value(value).map_err(|e| format!("from apache-avro's value: {e}"))?;
    if via_apache != t {
        return Err(format!(
            "apache-avro reads {via_apache:?}, the generated decoder {t:?}"
        ));
    }
    let value = t
        .to_avro_value()
        .map_err(|e| format!("to apache-avro's value: {e}"))?;
    let written = evc_avro::apache_avro::to_avro_datum(&schema, value)
        .map_err(|e| format!("apache-avro cannot write the value: {e}"))?;
    let back: T = binary::from_slice(&written)
        .map_err(|e| format!("the generated decoder cannot read apache-avro's bytes: {e}"))?;
    if back != t {
        return Err(format!(
            "apache-avro wrote {t:?}, the generated decoder read {back:?}"
        ));
    }
    Ok(Apache::Agrees)
}

fn write_value<T: AvroValue + AvroBinary>(v: Value) -> Result<Written, String> {
    let t = T::from_avro_value(v).map_err(|e| format!("from a random value: {e}"))?;
    let bytes = binary::to_vec(&t).map_err(|e| format!("generated encoder: {e}"))?;
    let value = t
        .to_avro_value()
        .map_err(|e| format!("to apache-avro's value: {e}"))?;
    Ok((bytes, expected_json(&value)))
}

/// value → T → value → T, T → bytes → T with the generated code, and (given apache-avro's
/// schema) T → apache-avro bytes → T and the generated bytes read by apache-avro.
fn check_value<T: AvroValue + AvroBinary + PartialEq + Debug>(
    v: Value,
    schema: Option<&evc_avro::apache_avro::Schema>,
) -> Result<(), String> {
    let t = T::from_avro_value(v.clone()).map_err(|e| format!("from_avro_value: {e}"))?;
    let back = t
        .to_avro_value()
        .map_err(|e| format!("to_avro_value: {e}"))?;
    let t2 = T::from_avro_value(back).map_err(|e| format!("re-read: {e}"))?;
    same(&t, &t2, "value → T → value → T")?;
    let fast = binary::to_vec(&t).map_err(|e| format!("generated encoder: {e}"))?;
    let again: T = binary::from_slice(&fast).map_err(|e| format!("generated decoder: {e}"))?;
    same(&t, &again, "generated encoder → generated decoder")?;
    if let Some(schema) = schema {
        let direct = evc_avro::apache_avro::to_avro_datum(schema, v)
            .map_err(|e| format!("apache-avro encode: {e}"))?;
        let read: T = binary::from_slice(&direct)
            .map_err(|e| format!("generated decoder of apache-avro's bytes: {e}"))?;
        same(&t, &read, "apache-avro encoder → generated decoder")?;
        let value = evc_avro::decode_value(&fast, schema, None)
            .map_err(|e| format!("apache-avro reading the generated bytes: {e}"))?;
        let by_apache = T::from_avro_value(value).map_err(|e| format!("from apache: {e}"))?;
        same(&t, &by_apache, "generated encoder → apache-avro decoder")?;
    }
    Ok(())
}

fn same<T: PartialEq + Debug>(a: &T, b: &T, path: &str) -> Result<(), String> {
    if a == b {
        Ok(())
    } else {
        Err(format!("{path}: {a:?} became {b:?}"))
    }
}

macro_rules! entries {
    ($($module:ident => $ty:ty),* $(,)?) => {
        vec![$(CorpusType {
            module: stringify!($module),
            schema_json: <$ty as AvroSchema>::SCHEMA_JSON,
            reencode: reencode::<$ty>,
            apache: apache::<$ty>,
            write_value: write_value::<$ty>,
            check_value: check_value::<$ty>,
        }),*]
    };
}

/// Every corpus schema's type, in module order.
pub fn corpus() -> Vec<CorpusType> {
    crate::for_each_corpus_type!(entries)
}

/// A value as a peer reading the bytes with the logical types left out sees it (what
/// `interop/corpus_roundtrip.py` compares fastavro's reading with): unions unwrapped, enums as
/// their symbols, ints and longs as numbers, strings, arrays, and every JSON object a tag:
/// `{"__object": [[key, value], …]}` for a record or map, `{"__f": bits}` for a float or double
/// (its value as `f64` bits, hex), `{"__bytes": hex}`, `{"__decimal": unscaled}` (the bytes read
/// as a two's complement integer), `{"__big_decimal": [unscaled, scale]}`.
pub fn expected_json(v: &evc_avro::apache_avro::types::Value) -> serde_json::Value {
    use evc_avro::apache_avro::types::Value as V;
    use serde_json::json;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    match v {
        V::Null => json!(null),
        V::Boolean(b) => json!(b),
        V::Int(n) | V::Date(n) | V::TimeMillis(n) => json!(n),
        V::Long(n)
        | V::TimeMicros(n)
        | V::TimestampMillis(n)
        | V::TimestampMicros(n)
        | V::TimestampNanos(n)
        | V::LocalTimestampMillis(n)
        | V::LocalTimestampMicros(n)
        | V::LocalTimestampNanos(n) => json!(n),
        V::Float(f) => json!({"__f": format!("{:016x}", (*f as f64).to_bits())}),
        V::Double(f) => json!({"__f": format!("{:016x}", f.to_bits())}),
        V::Bytes(b) | V::Fixed(_, b) => json!({"__bytes": hex(b)}),
        V::String(s) => json!(s),
        V::Uuid(u) => json!(u.hyphenated().to_string()),
        V::Enum(_, s) => json!(s),
        V::Union(_, inner) => expected_json(inner),
        V::Array(items) => serde_json::Value::Array(items.iter().map(expected_json).collect()),
        V::Map(m) => json!({"__object": m
            .iter()
            .map(|(k, x)| json!([k, expected_json(x)]))
            .collect::<Vec<_>>()}),
        V::Record(fields) => json!({"__object": fields
            .iter()
            .map(|(k, x)| json!([k, expected_json(x)]))
            .collect::<Vec<_>>()}),
        V::Decimal(d) => {
            let raw: Vec<u8> = Vec::try_from(d).unwrap_or_default();
            json!({"__decimal": num_bigint_string(&raw)})
        }
        V::BigDecimal(d) => {
            let (n, scale) = d.as_bigint_and_exponent();
            json!({"__big_decimal": [n.to_string(), scale]})
        }
        V::Duration(d) => {
            let mut b = Vec::with_capacity(12);
            b.extend_from_slice(&u32::from(d.months()).to_le_bytes());
            b.extend_from_slice(&u32::from(d.days()).to_le_bytes());
            b.extend_from_slice(&u32::from(d.millis()).to_le_bytes());
            json!({"__bytes": hex(&b)})
        }
    }
}

/// Two's complement big-endian bytes as a decimal integer string.
fn num_bigint_string(raw: &[u8]) -> String {
    // i128 holds every decimal of the corpus (at most 20 bytes would need more: use strings)
    let negative = raw.first().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude: Vec<u8> = if negative {
        // -(x) = !x + 1
        let mut m: Vec<u8> = raw.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        m
    } else {
        raw.to_vec()
    };
    // base-256 to base-10 by repeated division
    let mut digits = Vec::new();
    while magnitude.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in magnitude.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(char::from(b'0' + rem as u8));
    }
    if digits.is_empty() {
        return "0".into();
    }
    if negative {
        digits.push('-');
    }
    digits.iter().rev().collect()
}
