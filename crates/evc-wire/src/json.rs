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
        Value::Fixed(16, b)
            if matches!(
                named.map(|n| &n.kind),
                Some(NamedKind::Fixed {
                    logical: Some(Logical::Uuid),
                    ..
                })
            ) =>
        {
            Json::String(
                evc_avro::uuid::Uuid::from_slice(b)
                    .map(|u| u.to_string())
                    .unwrap_or_else(|_| bytes(b)),
            )
        }
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

/// The inverse of [`avro_to_json`]: a JSON value in that form, as an Avro value of `schema`
/// (what apache-avro encodes with evc's lowered schema). Unions take the first branch the JSON
/// fits, as Avro JSON without type tags must. The error says where and why it does not fit.
pub fn json_to_avro(json: &Json, schema: &Schema) -> Result<Value, JsonToAvroError> {
    to_avro(json, &schema.root, schema, "")
}

/// A JSON value that does not fit the schema: where (`at`, a path such as `items[0].sku`;
/// empty for the whole value) and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonToAvroError {
    /// The value is not of the JSON form the schema's type takes there.
    #[error("{} should be {expected}, found {found}", shown(.at))]
    Mismatch {
        at: String,
        expected: String,
        found: String,
    },
    /// A record's field is missing (Avro JSON names every field).
    #[error("{} has no field `{field}`", shown(.at))]
    MissingField { at: String, field: String },
    /// No branch of a union fits; the reason of each branch, in order.
    #[error("{} fits no branch of {union}: {}", shown(.at), join(.branches))]
    NoBranch {
        at: String,
        union: String,
        branches: Vec<JsonToAvroError>,
    },
    /// The value has the right form but its logical type refuses it (a decimal with more
    /// places than its scale, ...).
    #[error("{}: {source}", shown(.at))]
    Logical {
        at: String,
        #[source]
        source: evc_avro::EncodeError,
    },
}

fn shown(at: &str) -> String {
    if at.is_empty() {
        "the value".to_string()
    } else {
        format!("`{}`", &at[1..])
    }
}

fn join(branches: &[JsonToAvroError]) -> String {
    branches
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The generated decoders read dates and times into chrono types and refuse what chrono
/// cannot hold; refuse the same numbers here (with the decoder's own check), so that a value
/// taken from JSON (`evc produce`) is never one every evc reader dead-letters.
fn in_range(l: Option<Logical>, n: i64, j: &Json, at: &str) -> Result<(), JsonToAvroError> {
    use evc_avro::binary as b;
    let mut bytes = Vec::with_capacity(10);
    b::write_long(&mut bytes, n);
    let input = &mut &bytes[..];
    let read = match l {
        Some(Logical::Date) => b::read_date(input).map(drop),
        Some(Logical::TimeMillis) => b::read_time_millis(input).map(drop),
        Some(Logical::TimeMicros) => b::read_time_micros(input).map(drop),
        Some(Logical::TimestampMillis) => b::read_timestamp_millis(input).map(drop),
        Some(Logical::TimestampMicros) => b::read_timestamp_micros(input).map(drop),
        Some(Logical::TimestampNanos) => b::read_timestamp_nanos(input).map(drop),
        Some(Logical::LocalTimestampMillis) => b::read_local_timestamp_millis(input).map(drop),
        Some(Logical::LocalTimestampMicros) => b::read_local_timestamp_micros(input).map(drop),
        Some(Logical::LocalTimestampNanos) => b::read_local_timestamp_nanos(input).map(drop),
        _ => Ok(()),
    };
    read.map_err(|e| JsonToAvroError::Mismatch {
        at: at.to_string(),
        expected: format!("a value in range ({e})"),
        found: j.to_string(),
    })
}

fn to_avro(j: &Json, ty: &Ty, s: &Schema, at: &str) -> Result<Value, JsonToAvroError> {
    use evc_avro::conv;
    let bad = |want: &str| JsonToAvroError::Mismatch {
        at: at.to_string(),
        expected: want.to_string(),
        found: j.to_string(),
    };
    let num_i64 = || j.as_i64().ok_or_else(|| bad("an integer"));
    let text = || j.as_str().ok_or_else(|| bad("a string"));
    let code_points = |t: &str| -> Result<Vec<u8>, JsonToAvroError> {
        t.chars()
            .map(|c| u8::try_from(c as u32).map_err(|_| bad("bytes as code points 0-255")))
            .collect()
    };
    let dec = |t: &str| {
        t.parse::<BigDecimal>()
            .map_err(|_| bad("a decimal number as a string"))
    };
    let enc = |r: Result<Value, evc_avro::EncodeError>| {
        r.map_err(|source| JsonToAvroError::Logical {
            at: at.to_string(),
            source,
        })
    };
    Ok(match (&ty.kind, ty.logical) {
        (TyKind::Null, _) if j.is_null() => Value::Null,
        (TyKind::Null, _) => return Err(bad("null")),
        (TyKind::Boolean, _) => Value::Boolean(j.as_bool().ok_or_else(|| bad("a boolean"))?),
        (TyKind::Int, l) => {
            let n = i32::try_from(num_i64()?).map_err(|_| bad("an int"))?;
            in_range(l, i64::from(n), j, at)?;
            match l {
                Some(Logical::Date) => Value::Date(n),
                Some(Logical::TimeMillis) => Value::TimeMillis(n),
                _ => Value::Int(n),
            }
        }
        (TyKind::Long, l) => {
            let n = num_i64()?;
            in_range(l, n, j, at)?;
            match l {
                Some(Logical::TimeMicros) => Value::TimeMicros(n),
                Some(Logical::TimestampMillis) => Value::TimestampMillis(n),
                Some(Logical::TimestampMicros) => Value::TimestampMicros(n),
                Some(Logical::TimestampNanos) => Value::TimestampNanos(n),
                Some(Logical::LocalTimestampMillis) => Value::LocalTimestampMillis(n),
                Some(Logical::LocalTimestampMicros) => Value::LocalTimestampMicros(n),
                Some(Logical::LocalTimestampNanos) => Value::LocalTimestampNanos(n),
                _ => Value::Long(n),
            }
        }
        (TyKind::Float | TyKind::Double, _) => {
            let f = match (j.as_f64(), j.as_str()) {
                (Some(f), _) => f,
                (None, Some("NaN")) => f64::NAN,
                (None, Some("Infinity")) => f64::INFINITY,
                (None, Some("-Infinity")) => f64::NEG_INFINITY,
                _ => return Err(bad("a number")),
            };
            if matches!(ty.kind, TyKind::Float) {
                Value::Float(f as f32)
            } else {
                Value::Double(f)
            }
        }
        (TyKind::Bytes, Some(Logical::Decimal { precision, scale })) => {
            enc(conv::decimal(&dec(text()?)?, precision, scale, None))?
        }
        (TyKind::Bytes, Some(Logical::BigDecimal)) => Value::BigDecimal(dec(text()?)?),
        (TyKind::Bytes, _) => Value::Bytes(code_points(text()?)?),
        (TyKind::String, Some(Logical::Uuid)) => {
            Value::Uuid(evc_avro::uuid::Uuid::parse_str(text()?).map_err(|_| bad("a uuid"))?)
        }
        (TyKind::String, _) => Value::String(text()?.to_string()),
        (TyKind::Array(item), _) => Value::Array(
            j.as_array()
                .ok_or_else(|| bad("an array"))?
                .iter()
                .enumerate()
                .map(|(i, x)| to_avro(x, item, s, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        (TyKind::Map(values), _) => Value::Map(
            j.as_object()
                .ok_or_else(|| bad("an object"))?
                .iter()
                .map(|(k, x)| Ok((k.clone(), to_avro(x, values, s, &format!("{at}.{k}"))?)))
                .collect::<Result<_, JsonToAvroError>>()?,
        ),
        (TyKind::Union(branches), _) => {
            let mut why = Vec::new();
            for (i, b) in branches.iter().enumerate() {
                match to_avro(j, b, s, at) {
                    Ok(v) => return Ok(Value::Union(i as u32, Box::new(v))),
                    Err(e) => why.push(e),
                }
            }
            return Err(JsonToAvroError::NoBranch {
                at: at.to_string(),
                union: ty.describe(s),
                branches: why,
            });
        }
        (TyKind::Named(id), _) => {
            let n = &s.named[*id];
            match &n.kind {
                NamedKind::Enum { symbols, .. } => {
                    let t = text()?;
                    let i = symbols
                        .iter()
                        .position(|x| x == t)
                        .ok_or_else(|| bad(&format!("a symbol of `{}`", n.name)))?;
                    Value::Enum(i as u32, t.to_string())
                }
                NamedKind::Fixed { size, logical, .. } => match logical {
                    Some(Logical::Decimal { precision, scale }) => enc(conv::decimal(
                        &dec(text()?)?,
                        *precision,
                        *scale,
                        Some(*size),
                    ))?,
                    Some(Logical::Uuid) => {
                        let t = text()?;
                        match evc_avro::uuid::Uuid::parse_str(t) {
                            Ok(u) => Value::Fixed(16, u.as_bytes().to_vec()),
                            // the plain fixed form (16 code points) is accepted too
                            Err(_) => match code_points(t) {
                                Ok(b) if b.len() == 16 => Value::Fixed(16, b),
                                _ => return Err(bad("a uuid")),
                            },
                        }
                    }
                    Some(Logical::Duration) => {
                        let part = |k: &str| {
                            j.get(k)
                                .and_then(Json::as_u64)
                                .and_then(|v| u32::try_from(v).ok())
                                .ok_or_else(|| bad("{\"months\", \"days\", \"millis\"}"))
                        };
                        enc(conv::duration(&evc_avro::Duration {
                            months: part("months")?,
                            days: part("days")?,
                            millis: part("millis")?,
                        }))?
                    }
                    _ => {
                        let b = code_points(text()?)?;
                        if b.len() != *size {
                            return Err(bad(&format!("{size} bytes")));
                        }
                        Value::Fixed(*size, b)
                    }
                },
                NamedKind::Record { fields, .. } => {
                    let obj = j
                        .as_object()
                        .ok_or_else(|| bad(&format!("an object (record `{}`)", n.name)))?;
                    let mut out = Vec::with_capacity(fields.len());
                    for f in fields {
                        let x = obj
                            .get(&f.name)
                            .ok_or_else(|| JsonToAvroError::MissingField {
                                at: at.to_string(),
                                field: f.name.clone(),
                            })?;
                        out.push((
                            f.name.clone(),
                            to_avro(x, &f.ty, s, &format!("{at}.{}", f.name))?,
                        ));
                    }
                    Value::Record(out)
                }
            }
        }
    })
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

    /// Found by `cargo xtask fuzz` (produce_line): `evc produce` took a timestamp-millis of
    /// year 312,000 from JSON and wrote it; every generated decoder refuses it.
    #[test]
    fn dates_and_times_out_of_the_readers_range_are_refused() {
        let schema = Schema::parse(
            r#"{"type":"record","name":"R","fields":[
                {"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}},
                {"name":"d","type":{"type":"int","logicalType":"date"}}]}"#,
        )
        .unwrap();
        let ok = json_to_avro(&json!({"t": 1_700_000_000_000i64, "d": 19000}), &schema);
        assert!(ok.is_ok(), "{ok:?}");
        for (value, field) in [
            (json!({"t": 9_799_933_500_008_000i64, "d": 0}), "`t`"),
            (json!({"t": 0, "d": i32::MAX}), "`d`"),
        ] {
            let err = json_to_avro(&value, &schema).unwrap_err().to_string();
            assert!(
                err.starts_with(field) && err.contains("out of range"),
                "{err}"
            );
        }
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
