//! Rust expressions for field defaults (the `Default` impl of records).

use evc_schema::json::{Json, JsonValue};
use evc_schema::{Logical, NamedKind, Ty, TyKind};

use crate::docs::string_literal;
use crate::emit::C;
use crate::model::{union_shape, Ctx, Gen, UnionShape};
use crate::names::camel;
use crate::CodegenError;

const V: &str = "::evc_avro::apache_avro::types::Value";

impl Gen<'_> {
    /// A Rust expression for a field default; `None` where no Rust value can be written for it.
    pub(crate) fn default_expr(
        &mut self,
        ty: &Ty,
        d: &Json,
        ctx: &Ctx,
        direct: bool,
    ) -> Result<Option<String>, CodegenError> {
        let v = |kind: &str, val: String| format!("{V}::{kind}({val})");
        let checked =
            |expr: String| format!("{expr}.expect(\"schema default checked by evc codegen\")");
        let num = || match &d.value {
            JsonValue::Number(n) => n.clone(),
            _ => "0".into(),
        };
        let latin1 = |s: &str| -> Vec<u8> { s.chars().map(|c| c as u32 as u8).collect() };
        let bytes_lit = |b: &[u8]| {
            format!(
                "::std::vec![{}]",
                b.iter()
                    .map(|x| format!("{x}u8"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Ok(Some(match &ty.kind {
            TyKind::Null => "()".into(),
            TyKind::Boolean => matches!(d.value, JsonValue::Bool(true)).to_string(),
            TyKind::Int => match ty.logical {
                Some(Logical::Date) => {
                    if evc_avro::conv::date_from(apache_int(&num())).is_err() {
                        // beyond chrono's dates (±262,000 years): no Rust value
                        return Ok(None);
                    }
                    checked(format!("{C}::date_from({})", v("Int", num())))
                }
                Some(Logical::TimeMillis) => {
                    if evc_avro::conv::time_millis_from(apache_int(&num())).is_err() {
                        return Ok(None);
                    }
                    checked(format!("{C}::time_millis_from({})", v("Int", num())))
                }
                _ => match d.as_i64() {
                    Some(n) if n == i32::MIN as i64 => "i32::MIN".into(),
                    Some(n) => format!("{n}i32"),
                    None => return Ok(None),
                },
            },
            TyKind::Long => {
                let n = num();
                let lv = apache_long(&n);
                let f = match ty.logical {
                    Some(Logical::TimeMicros) => Some((
                        "time_micros_from",
                        evc_avro::conv::time_micros_from(lv).err(),
                    )),
                    Some(Logical::TimestampMillis) => Some((
                        "timestamp_millis_from",
                        evc_avro::conv::timestamp_millis_from(lv).err(),
                    )),
                    Some(Logical::TimestampMicros) => Some((
                        "timestamp_micros_from",
                        evc_avro::conv::timestamp_micros_from(lv).err(),
                    )),
                    Some(Logical::TimestampNanos) => Some(("timestamp_nanos_from", None)),
                    Some(Logical::LocalTimestampMillis) => Some((
                        "local_timestamp_millis_from",
                        evc_avro::conv::local_timestamp_millis_from(lv).err(),
                    )),
                    Some(Logical::LocalTimestampMicros) => Some((
                        "local_timestamp_micros_from",
                        evc_avro::conv::local_timestamp_micros_from(lv).err(),
                    )),
                    Some(Logical::LocalTimestampNanos) => {
                        Some(("local_timestamp_nanos_from", None))
                    }
                    _ => None,
                };
                match (f, d.as_i64()) {
                    // beyond chrono's range: no Rust value
                    (Some((_, Some(_))), _) | (_, None) => return Ok(None),
                    (Some((func, None)), _) => checked(format!("{C}::{func}({})", v("Long", n))),
                    (None, Some(i64::MIN)) => "i64::MIN".into(),
                    (None, Some(n)) => format!("{n}i64"),
                }
            }
            TyKind::Float | TyKind::Double => {
                let Some(f) = evc_schema::float_default(d) else {
                    return Ok(None);
                };
                let single = matches!(ty.kind, TyKind::Float);
                let finite = if single {
                    (f.to_f64() as f32).is_finite()
                } else {
                    f.to_f64().is_finite()
                };
                match &d.value {
                    // the number as written, when Rust reads it as the same finite value
                    JsonValue::Number(n) if finite => {
                        format!("{n}{}", if single { "f32" } else { "f64" })
                    }
                    _ => float_literal(f.to_f64(), single),
                }
            }
            TyKind::Bytes => {
                let b = latin1(d.as_str().unwrap_or_default());
                match ty.logical {
                    Some(Logical::Decimal { scale, .. }) => checked(format!(
                        "{C}::decimal_from({}, {scale})",
                        v("Bytes", bytes_lit(&b))
                    )),
                    Some(Logical::BigDecimal) => return Ok(None),
                    _ => bytes_lit(&b),
                }
            }
            TyKind::String => {
                let s = d.as_str().unwrap_or_default();
                match ty.logical {
                    Some(Logical::Uuid) => match evc_avro::uuid::Uuid::parse_str(s) {
                        Ok(u) => {
                            format!("::evc_avro::uuid::Uuid::from_u128(0x{:032x})", u.as_u128())
                        }
                        // Avro does not check it; no `Uuid` holds it
                        Err(_) => return Ok(None),
                    },
                    _ => format!("::std::string::String::from({})", string_literal(s)),
                }
            }
            TyKind::Array(items) => {
                let mut parts = Vec::new();
                for x in d.as_array().unwrap_or_default() {
                    match self.default_expr(items, x, &ctx.with_hint("Item"), false)? {
                        Some(e) => parts.push(e),
                        None => return Ok(None),
                    }
                }
                format!("::std::vec![{}]", parts.join(", "))
            }
            TyKind::Map(values) => {
                let mut parts = Vec::new();
                for (k, x) in d.as_object().unwrap_or_default() {
                    match self.default_expr(values, x, &ctx.with_hint("Value"), false)? {
                        Some(e) => parts.push(format!(
                            "(::std::string::String::from({}), {e})",
                            string_literal(&k.name)
                        )),
                        None => return Ok(None),
                    }
                }
                if parts.is_empty() {
                    "::evc_avro::AvroMap::new()".into()
                } else {
                    format!("::evc_avro::AvroMap::from([{}])", parts.join(", "))
                }
            }
            TyKind::Union(branches) => {
                let is_null = matches!(d.value, JsonValue::Null);
                match union_shape(branches) {
                    UnionShape::Unit { .. } => "()".into(),
                    UnionShape::Single { null: Some(_), .. } if is_null => {
                        "::core::option::Option::None".into()
                    }
                    UnionShape::Single {
                        null, ty: inner, ..
                    } => {
                        let Some(e) = self.default_expr(inner, d, ctx, direct)? else {
                            return Ok(None);
                        };
                        if null.is_some() {
                            format!("::core::option::Option::Some({e})")
                        } else {
                            e
                        }
                    }
                    UnionShape::Many { null: Some(_) } if is_null => {
                        "::core::option::Option::None".into()
                    }
                    UnionShape::Many { null } => {
                        let name = self.union_enum(ty, ctx)?.expect("several branches");
                        let Some(b) = branches.iter().find(|b| {
                            !b.is_null()
                                && evc_schema::validate_default(&self.schema.named, b, d).is_ok()
                        }) else {
                            return Ok(None);
                        };
                        let index = branches
                            .iter()
                            .position(|x| std::ptr::eq(x, b))
                            .expect("a branch of the union");
                        let vname = self.union_variants(branches)[index]
                            .clone()
                            .expect("a non-null branch");
                        let vctx = ctx.with_hint(&vname);
                        let Some(e) = self.default_expr(b, d, &vctx, true)? else {
                            return Ok(None);
                        };
                        let e = format!("{name}::{vname}({e})");
                        if null.is_some() {
                            format!("::core::option::Option::Some({e})")
                        } else {
                            e
                        }
                    }
                }
            }
            TyKind::Named(id) => {
                let n = &self.schema.named[*id];
                match &n.kind {
                    NamedKind::Enum { symbols, .. } => {
                        let s = d.as_str().unwrap_or_default();
                        let i = symbols.iter().position(|x| x == s).unwrap_or(0);
                        let vname = &self.symbols[id][i];
                        format!("{}::{vname}", self.path_to(&ctx.module, *id))
                    }
                    NamedKind::Fixed { size, logical, .. } => {
                        let b = latin1(d.as_str().unwrap_or_default());
                        match logical {
                            None => format!(
                                "{}([{}])",
                                self.path_to(&ctx.module, *id),
                                b.iter()
                                    .map(|x| format!("{x}u8"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            Some(Logical::Decimal { scale, .. }) => checked(format!(
                                "{C}::decimal_from({V}::Fixed({size}, {}), {scale})",
                                bytes_lit(&b)
                            )),
                            Some(Logical::Duration) => checked(format!(
                                "{C}::duration_from({V}::Fixed(12, {}))",
                                bytes_lit(&b)
                            )),
                            Some(Logical::Uuid) => {
                                let mut arr = [0u8; 16];
                                arr.copy_from_slice(&b[..16.min(b.len())]);
                                format!("::evc_avro::uuid::Uuid::from_bytes({arr:?})")
                            }
                            Some(_) => return Ok(None),
                        }
                    }
                    NamedKind::Record { fields, .. } => {
                        let path = self.path_to(&ctx.module, *id);
                        let (module, rname) = self.names[id].clone();
                        let mut parts = Vec::new();
                        let rust_fields = self.fields[id].clone();
                        for (f, rust_field) in fields.iter().zip(rust_fields) {
                            let fctx = Ctx {
                                module: module.clone(),
                                owner: Some(*id),
                                hint: format!("{rname}{}", camel(&f.name)),
                            };
                            let val = match (d.get(&f.name), &f.default) {
                                (Some(x), _) => x.clone(),
                                (None, Some(x)) => x.clone(),
                                (None, None) => return Ok(None),
                            };
                            // expressions are written from the current module, so re-root the paths
                            let fctx = Ctx {
                                module: ctx.module.clone(),
                                ..fctx
                            };
                            match self.default_expr(&f.ty, &val, &fctx, true)? {
                                Some(e) => parts.push(format!("{rust_field}: {e}")),
                                None => return Ok(None),
                            }
                        }
                        let lit = format!("{path} {{ {} }}", parts.join(", "));
                        if self.boxed(ctx, *id, direct) {
                            format!("::std::boxed::Box::new({lit})")
                        } else {
                            lit
                        }
                    }
                }
            }
        }))
    }
}

fn apache_int(n: &str) -> evc_avro::apache_avro::types::Value {
    evc_avro::apache_avro::types::Value::Int(n.parse().unwrap_or(0))
}

fn apache_long(n: &str) -> evc_avro::apache_avro::types::Value {
    evc_avro::apache_avro::types::Value::Long(n.parse().unwrap_or(0))
}

/// A float literal for `x` (as `f32` when `single`): the shortest form that reads back the
/// same value, or the constant for NaN and the infinities.
fn float_literal(x: f64, single: bool) -> String {
    let ty = if single { "f32" } else { "f64" };
    let x = if single { x as f32 as f64 } else { x };
    if x.is_nan() {
        format!("{ty}::NAN")
    } else if x == f64::INFINITY {
        format!("{ty}::INFINITY")
    } else if x == f64::NEG_INFINITY {
        format!("{ty}::NEG_INFINITY")
    } else if single {
        format!("{:?}{ty}", x as f32)
    } else {
        format!("{x:?}{ty}")
    }
}
