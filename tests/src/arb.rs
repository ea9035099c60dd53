//! Random Avro values for any schema, as proptest strategies.
//!
//! Values come in the shapes apache-avro's encoder expects for the schema evc hands it
//! (`evc_schema::Schema::to_apache_avro_json`): logical types as their logical `Value`
//! variants (a `uuid` on `fixed` as plain `Fixed(16)`), unions as `Union(index, value)`.
//! Recursive schemas stop growing at a depth limit by taking a non-recursive branch
//! (`null`, an empty array or map).

use std::collections::HashMap;

use apache_avro::types::Value;

use evc_schema::{Logical, NamedKind, Schema, Ty, TyKind};
use proptest::prelude::*;

/// A strategy for values of `schema`'s root type.
pub fn value(schema: &Schema) -> BoxedStrategy<Value> {
    ty_value(schema, &schema.root, 4)
}

fn any_string() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-zA-Z0-9 _-]{0,12}".prop_map(|s| s),
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ]
    .boxed()
}

fn bytes(max: usize) -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max).boxed()
}

/// Values that can always be produced without recursing (for the depth limit).
fn can_terminate(schema: &Schema, ty: &Ty, seen: &mut Vec<usize>) -> bool {
    match &ty.kind {
        TyKind::Array(_) | TyKind::Map(_) => true,
        TyKind::Union(bs) => bs.iter().any(|b| can_terminate(schema, b, seen)),
        TyKind::Named(id) => {
            if seen.contains(id) {
                return false;
            }
            seen.push(*id);
            let ok = schema.named[*id]
                .fields()
                .iter()
                .all(|f| can_terminate(schema, &f.ty, seen));
            seen.pop();
            ok
        }
        _ => true,
    }
}

/// Whether the type has values at all (an enum without symbols has none).
fn inhabited(schema: &Schema, ty: &Ty, seen: &mut Vec<usize>) -> bool {
    match &ty.kind {
        TyKind::Union(bs) => bs.iter().any(|b| inhabited(schema, b, seen)),
        TyKind::Named(id) => match &schema.named[*id].kind {
            NamedKind::Enum { symbols, .. } => !symbols.is_empty(),
            NamedKind::Fixed { .. } => true,
            NamedKind::Record { fields, .. } => {
                if seen.contains(id) {
                    // a record that needs itself: no finite value through this path
                    return false;
                }
                seen.push(*id);
                let ok = fields.iter().all(|f| inhabited(schema, &f.ty, seen));
                seen.pop();
                ok
            }
        },
        _ => true,
    }
}

fn ty_value(schema: &Schema, ty: &Ty, depth: u32) -> BoxedStrategy<Value> {
    match &ty.kind {
        TyKind::Null => Just(Value::Null).boxed(),
        TyKind::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        TyKind::Int => match ty.logical {
            // within chrono's range
            Some(Logical::Date) => (-3_000_000i32..3_000_000).prop_map(Value::Date).boxed(),
            Some(Logical::TimeMillis) => (0i32..86_400_000).prop_map(Value::TimeMillis).boxed(),
            _ => any::<i32>().prop_map(Value::Int).boxed(),
        },
        TyKind::Long => {
            // chrono's DateTime spans about ±262,000 years: ±8e15 ms, ±8e18 µs
            const MS: i64 = 8_000_000_000_000_000;
            const US: i64 = 8_000_000_000_000_000_000;
            match ty.logical {
                Some(Logical::TimeMicros) => {
                    (0i64..86_400_000_000).prop_map(Value::TimeMicros).boxed()
                }
                Some(Logical::TimestampMillis) => {
                    (-MS..MS).prop_map(Value::TimestampMillis).boxed()
                }
                Some(Logical::TimestampMicros) => {
                    (-US..US).prop_map(Value::TimestampMicros).boxed()
                }
                Some(Logical::TimestampNanos) => {
                    any::<i64>().prop_map(Value::TimestampNanos).boxed()
                }
                Some(Logical::LocalTimestampMillis) => {
                    (-MS..MS).prop_map(Value::LocalTimestampMillis).boxed()
                }
                Some(Logical::LocalTimestampMicros) => {
                    (-US..US).prop_map(Value::LocalTimestampMicros).boxed()
                }
                Some(Logical::LocalTimestampNanos) => {
                    any::<i64>().prop_map(Value::LocalTimestampNanos).boxed()
                }
                _ => any::<i64>().prop_map(Value::Long).boxed(),
            }
        }
        // NaN never equals itself, which would make equality checks meaningless
        TyKind::Float => any::<f32>()
            .prop_filter("not NaN", |f| !f.is_nan())
            .prop_map(Value::Float)
            .boxed(),
        TyKind::Double => any::<f64>()
            .prop_filter("not NaN", |f| !f.is_nan())
            .prop_map(Value::Double)
            .boxed(),
        TyKind::Bytes => match ty.logical {
            Some(Logical::Decimal { precision, .. }) => decimal(precision, None),
            Some(Logical::BigDecimal) => (any::<i64>(), 0i64..10)
                .prop_map(|(n, s)| {
                    Value::BigDecimal(evc_avro::bigdecimal::BigDecimal::new(n.into(), s))
                })
                .boxed(),
            _ => bytes(16).prop_map(Value::Bytes).boxed(),
        },
        TyKind::String => match ty.logical {
            Some(Logical::Uuid) => any::<u128>()
                .prop_map(|n| Value::Uuid(evc_avro::uuid::Uuid::from_u128(n)))
                .boxed(),
            _ => any_string().prop_map(Value::String).boxed(),
        },
        TyKind::Array(items) => {
            if depth == 0 {
                return Just(Value::Array(Vec::new())).boxed();
            }
            prop::collection::vec(ty_value(schema, items, depth - 1), 0..3)
                .prop_map(Value::Array)
                .boxed()
        }
        TyKind::Map(values) => {
            if depth == 0 {
                return Just(Value::Map(HashMap::new())).boxed();
            }
            prop::collection::hash_map(any_string(), ty_value(schema, values, depth - 1), 0..3)
                .prop_map(Value::Map)
                .boxed()
        }
        TyKind::Union(branches) => {
            let is_record = |b: &Ty| {
                matches!(
                    schema.named_of(b).map(|n| &n.kind),
                    Some(NamedKind::Record { .. })
                )
            };
            let has_leaf = branches.iter().any(|b| !is_record(b));
            let choices: Vec<BoxedStrategy<Value>> = branches
                .iter()
                .enumerate()
                .filter(|(_, b)| inhabited(schema, b, &mut Vec::new()))
                .filter(|(_, b)| {
                    depth > 0
                        || if has_leaf {
                            !is_record(b)
                        } else {
                            can_terminate(schema, b, &mut Vec::new())
                        }
                })
                .map(|(i, b)| {
                    let i = i as u32;
                    ty_value(schema, b, depth.saturating_sub(1))
                        .prop_map(move |v| Value::Union(i, Box::new(v)))
                        .boxed()
                })
                .collect();
            proptest::strategy::Union::new(choices).boxed()
        }
        TyKind::Named(id) => {
            let n = &schema.named[*id];
            match &n.kind {
                NamedKind::Enum { symbols, .. } => {
                    let symbols = symbols.clone();
                    (0..symbols.len())
                        .prop_map(move |i| Value::Enum(i as u32, symbols[i].clone()))
                        .boxed()
                }
                NamedKind::Fixed { size, logical, .. } => {
                    let size = *size;
                    match logical {
                        Some(Logical::Decimal { precision, .. }) => decimal(*precision, Some(size)),
                        Some(Logical::Duration) => (any::<u32>(), any::<u32>(), any::<u32>())
                            .prop_map(|(m, d, ms)| {
                                Value::Duration(apache_avro::Duration::new(
                                    apache_avro::Months::new(m),
                                    apache_avro::Days::new(d),
                                    apache_avro::Millis::new(ms),
                                ))
                            })
                            .boxed(),
                        _ => prop::collection::vec(any::<u8>(), size..=size)
                            .prop_map(move |b| Value::Fixed(size, b))
                            .boxed(),
                    }
                }
                NamedKind::Record { fields, .. } => {
                    let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
                    let strategies: Vec<BoxedStrategy<Value>> = fields
                        .iter()
                        .map(|f| ty_value(schema, &f.ty, depth.saturating_sub(1)))
                        .collect();
                    strategies
                        .prop_map(move |vals| {
                            Value::Record(names.iter().cloned().zip(vals).collect())
                        })
                        .boxed()
                }
            }
        }
    }
}

/// An unscaled decimal with at most `precision` digits (and fitting `fixed_size` bytes).
fn decimal(precision: u32, fixed_size: Option<usize>) -> BoxedStrategy<Value> {
    let digits = precision.min(18);
    let limit = 10i64.pow(digits) - 1;
    (-limit..=limit)
        .prop_map(move |n| {
            let raw = num_bigint_bytes(n);
            let size = fixed_size.or(Some(evc_avro::conv::decimal_bytes_for_precision(precision)));
            let raw = match size {
                Some(size) => {
                    let mut ext =
                        vec![if n < 0 { 0xff } else { 0 }; size.saturating_sub(raw.len())];
                    ext.extend_from_slice(&raw);
                    ext
                }
                None => raw,
            };
            Value::Decimal(apache_avro::Decimal::from(raw))
        })
        .boxed()
}

/// Minimal big-endian two's complement bytes of `n`.
fn num_bigint_bytes(n: i64) -> Vec<u8> {
    let b = n.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (cur, next) = (b[start], b[start + 1]);
        if (cur == 0 && next & 0x80 == 0) || (cur == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    b[start..].to_vec()
}
