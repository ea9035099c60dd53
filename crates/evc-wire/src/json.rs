//! Avro values as JSON for people to read (`evc tail`).

use evc_avro::apache_avro::types::Value;
use evc_avro::bigdecimal::num_bigint::BigInt;
use evc_avro::bigdecimal::BigDecimal;
use evc_schema::{Logical, NamedKind, Schema, Ty, TyKind};
use serde_json::{json, Map, Number, Value as Json};

/// An Avro value as "Avro JSON-ish": close to the Avro JSON encoding, made for reading.
/// `schema` is the schema the value was decoded with (it gives decimals their scale).
///
/// - records and maps → objects (record fields in schema order, map keys sorted);
/// - unions → the branch's value, unwrapped (`null`, or the value; not `{"type": value}`);
/// - enums → their symbol; `uuid` → its string;
/// - `decimal` → a decimal string with the schema's scale (`"0.2000"`), `big-decimal` → its
///   decimal string;
/// - `bytes` and `fixed` → a string with one code point per byte (`\u00XX`), as in Avro JSON;
/// - dates, times and timestamps → their Avro number (days, millis, micros, nanos);
/// - `duration` → `{"months", "days", "millis"}`;
/// - NaN and infinite floats → the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub fn avro_to_json(value: &Value, schema: &Schema) -> Json {
    convert(value, Some(&schema.root), schema)
}

fn convert(value: &Value, ty: Option<&Ty>, schema: &Schema) -> Json {
    let named = ty.and_then(|t| schema.named_of(t));
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int(i) | Value::Date(i) | Value::TimeMillis(i) => json!(i),
        Value::Long(l)
        | Value::TimeMicros(l)
        | Value::TimestampMillis(l)
        | Value::TimestampMicros(l)
        | Value::TimestampNanos(l)
        | Value::LocalTimestampMillis(l)
        | Value::LocalTimestampMicros(l)
        | Value::LocalTimestampNanos(l) => json!(l),
        Value::Float(f) => float(f64::from(*f)),
        Value::Double(d) => float(*d),
        Value::Bytes(b) | Value::Fixed(_, b) => Json::String(bytes(b)),
        Value::String(s) | Value::Enum(_, s) => Json::String(s.clone()),
        Value::Union(i, v) => {
            let branch = match ty.map(|t| &t.kind) {
                Some(TyKind::Union(branches)) => branches.get(*i as usize),
                _ => None,
            };
            convert(v, branch, schema)
        }
        Value::Array(items) => {
            let item = match ty.map(|t| &t.kind) {
                Some(TyKind::Array(item)) => Some(&**item),
                _ => None,
            };
            Json::Array(items.iter().map(|v| convert(v, item, schema)).collect())
        }
        Value::Map(m) => {
            let values = match ty.map(|t| &t.kind) {
                Some(TyKind::Map(v)) => Some(&**v),
                _ => None,
            };
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Json::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), convert(&m[k], values, schema)))
                    .collect(),
            )
        }
        Value::Record(fields) => {
            let declared = named.map(|n| n.fields()).unwrap_or_default();
            let mut obj = Map::new();
            for (i, (name, v)) in fields.iter().enumerate() {
                let field_ty = declared
                    .get(i)
                    .filter(|f| &f.name == name)
                    .or_else(|| declared.iter().find(|f| &f.name == name))
                    .map(|f| &f.ty);
                obj.insert(name.clone(), convert(v, field_ty, schema));
            }
            Json::Object(obj)
        }
        Value::Decimal(d) => {
            let fixed_logical = match named.map(|n| &n.kind) {
                Some(NamedKind::Fixed { logical, .. }) => *logical,
                _ => None,
            };
            let scale = match ty.and_then(|t| t.logical).or(fixed_logical) {
                Some(Logical::Decimal { scale, .. }) => Some(scale),
                _ => None,
            };
            match (scale, Vec::<u8>::try_from(d)) {
                (Some(scale), Ok(raw)) => Json::String(
                    BigDecimal::new(BigInt::from_signed_bytes_be(&raw), i64::from(scale))
                        .to_string(),
                ),
                (None, Ok(raw)) => Json::String(bytes(&raw)),
                (_, Err(_)) => Json::Null,
            }
        }
        Value::BigDecimal(d) => Json::String(d.to_string()),
        Value::Duration(d) => json!({
            "months": u32::from(d.months()),
            "days": u32::from(d.days()),
            "millis": u32::from(d.millis()),
        }),
        Value::Uuid(u) => Json::String(u.to_string()),
    }
}

fn float(f: f64) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::String("NaN".into()),
        None if f > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

/// Avro JSON's byte strings: each byte is the code point of the same value.
fn bytes(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn values_without_a_matching_schema() {
        let schema = Schema::parse(r#""null""#).unwrap();
        let v = Value::Record(vec![
            ("z".into(), Value::Union(1, Box::new(Value::Long(5)))),
            ("a".into(), Value::Union(0, Box::new(Value::Null))),
            ("e".into(), Value::Enum(1, "WEB".into())),
            ("b".into(), Value::Bytes(vec![0, 65, 255])),
            (
                "m".into(),
                Value::Map(HashMap::from([("k".to_string(), Value::Float(1.5))])),
            ),
            (
                "arr".into(),
                Value::Array(vec![Value::Double(f64::NAN), Value::Boolean(true)]),
            ),
            ("t".into(), Value::TimestampMillis(1_700_000_000_000)),
        ]);
        assert_eq!(
            avro_to_json(&v, &schema),
            json!({
                "z": 5, "a": null, "e": "WEB", "b": "\u{0}A\u{ff}", "m": {"k": 1.5},
                "arr": ["NaN", true], "t": 1_700_000_000_000_i64
            })
        );
    }

    #[test]
    fn decimals_get_their_scale() {
        let schema = Schema::parse(
            r#"{"type":"record","name":"R","fields":[
                {"name":"b","type":["null",{"type":"bytes","logicalType":"decimal","precision":5,"scale":4}]},
                {"name":"f","type":{"type":"fixed","name":"F","size":4,"logicalType":"decimal","precision":6,"scale":2}},
                {"name":"xs","type":{"type":"array","items":{"type":"bytes","logicalType":"decimal","precision":3,"scale":1}}}]}"#,
        )
        .unwrap();
        let dec = |n: i64| Value::Decimal(n.to_be_bytes().to_vec().into());
        let v = Value::Record(vec![
            ("b".into(), Value::Union(1, Box::new(dec(2000)))),
            ("f".into(), dec(-12345)),
            ("xs".into(), Value::Array(vec![dec(5)])),
        ]);
        assert_eq!(
            avro_to_json(&v, &schema),
            json!({"b": "0.2000", "f": "-123.45", "xs": ["0.5"]})
        );
    }
}
