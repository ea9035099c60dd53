//! The four expression emitters, one per direction and representation, and the Rust type of
//! an Avro type. For a type and a Rust expression they write:
//! - [`Gen::rust_type`]: the Rust type;
//! - [`Gen::encode_expr`] / [`Gen::decode_expr`]: to and from `apache_avro::types::Value`
//!   (the apache-avro path, with schema resolution);
//! - [`Gen::write_expr`] / [`Gen::read_expr`]: straight to and from Avro binary (the generated
//!   encoder and decoder).
//!
//! They recurse the same way; union enums met on the way are made by [`Gen::union_enum`].

use evc_schema::{Logical, NamedKind, Ty, TyKind};

use crate::model::{union_shape, Ctx, Gen, UnionShape};
use crate::CodegenError;

pub(crate) const C: &str = "::evc_avro::conv";
pub(crate) const B: &str = "::evc_avro::binary";

impl Gen<'_> {
    pub(crate) fn rust_type(
        &mut self,
        ty: &Ty,
        ctx: &Ctx,
        direct: bool,
    ) -> Result<String, CodegenError> {
        Ok(match &ty.kind {
            TyKind::Null => "()".into(),
            TyKind::Boolean => "bool".into(),
            TyKind::Int => match ty.logical {
                Some(Logical::Date) => "::evc_avro::chrono::NaiveDate".into(),
                Some(Logical::TimeMillis) => "::evc_avro::chrono::NaiveTime".into(),
                _ => "i32".into(),
            },
            TyKind::Long => match ty.logical {
                Some(Logical::TimeMicros) => "::evc_avro::chrono::NaiveTime".into(),
                Some(
                    Logical::TimestampMillis | Logical::TimestampMicros | Logical::TimestampNanos,
                ) => "::evc_avro::chrono::DateTime<::evc_avro::chrono::Utc>".into(),
                Some(
                    Logical::LocalTimestampMillis
                    | Logical::LocalTimestampMicros
                    | Logical::LocalTimestampNanos,
                ) => "::evc_avro::chrono::NaiveDateTime".into(),
                _ => "i64".into(),
            },
            TyKind::Float => "f32".into(),
            TyKind::Double => "f64".into(),
            TyKind::Bytes => match ty.logical {
                Some(Logical::Decimal { .. } | Logical::BigDecimal) => {
                    "::evc_avro::bigdecimal::BigDecimal".into()
                }
                _ => "::std::vec::Vec<u8>".into(),
            },
            TyKind::String => match ty.logical {
                Some(Logical::Uuid) => "::evc_avro::uuid::Uuid".into(),
                _ => "::std::string::String".into(),
            },
            TyKind::Array(items) => {
                format!(
                    "::std::vec::Vec<{}>",
                    self.rust_type(items, &ctx.with_hint("Item"), false)?
                )
            }
            TyKind::Map(values) => format!(
                "::evc_avro::AvroMap<{}>",
                self.rust_type(values, &ctx.with_hint("Value"), false)?
            ),
            TyKind::Union(branches) => match union_shape(branches) {
                UnionShape::Unit { .. } => "()".into(),
                UnionShape::Single { null, ty, .. } => {
                    let inner = self.rust_type(ty, ctx, direct)?;
                    if null.is_some() {
                        format!("::core::option::Option<{inner}>")
                    } else {
                        inner
                    }
                }
                UnionShape::Many { null } => {
                    let path = self.union_enum(ty, ctx)?.expect("several branches");
                    if null.is_some() {
                        format!("::core::option::Option<{path}>")
                    } else {
                        path
                    }
                }
            },
            TyKind::Named(id) => match &self.schema.named[*id].kind {
                NamedKind::Fixed {
                    logical: Some(l), ..
                } => match l {
                    Logical::Decimal { .. } | Logical::BigDecimal => {
                        "::evc_avro::bigdecimal::BigDecimal".into()
                    }
                    Logical::Duration => "::evc_avro::Duration".into(),
                    Logical::Uuid => "::evc_avro::uuid::Uuid".into(),
                    _ => self.path_to(&ctx.module, *id),
                },
                _ => {
                    let p = self.path_to(&ctx.module, *id);
                    if self.boxed(ctx, *id, direct) {
                        format!("::std::boxed::Box<{p}>")
                    } else {
                        p
                    }
                }
            },
        })
    }

    pub(crate) fn encode_expr(
        &mut self,
        ty: &Ty,
        var: &str,
        ctx: &Ctx,
    ) -> Result<String, CodegenError> {
        let leaf = |f: &str| format!("{C}::{f}({var})");
        Ok(match &ty.kind {
            TyKind::Bytes if matches!(ty.logical, Some(Logical::Decimal { .. })) => {
                let Some(Logical::Decimal { precision, scale }) = ty.logical else { unreachable!() };
                format!("{C}::decimal({var}, {precision}, {scale}, ::core::option::Option::None)")
            }
            TyKind::Null | TyKind::Boolean | TyKind::Int | TyKind::Long | TyKind::Float | TyKind::Double | TyKind::Bytes | TyKind::String => {
                leaf(leaf_name(ty))
            }
            TyKind::Array(items) => {
                let inner = self.encode_expr(items, "e", &ctx.with_hint("Item"))?;
                format!("{C}::array({var}, |e| {inner})")
            }
            TyKind::Map(values) => {
                let inner = self.encode_expr(values, "e", &ctx.with_hint("Value"))?;
                format!("{C}::map({var}, |e| {inner})")
            }
            TyKind::Union(branches) => match union_shape(branches) {
                UnionShape::Unit { null } => format!("{C}::union({null}, {C}::null({var}))"),
                UnionShape::Single { null: Some(n), index, ty } => {
                    let inner = self.encode_expr(ty, "e", ctx)?;
                    format!("{C}::option({var}, {n}, {index}, |e| {inner})")
                }
                UnionShape::Single { null: None, index, ty } => {
                    let inner = self.encode_expr(ty, var, ctx)?;
                    format!("{C}::union({index}, {inner})")
                }
                UnionShape::Many { null: Some(n) } => {
                    self.union_enum(ty, ctx)?;
                    format!("{C}::option_wrapped({var}, {n}, |e| ::evc_avro::AvroValue::to_avro_value(e))")
                }
                UnionShape::Many { null: None } => {
                    self.union_enum(ty, ctx)?;
                    format!("::evc_avro::AvroValue::to_avro_value({var})")
                }
            },
            TyKind::Named(id) => match &self.schema.named[*id].kind {
                NamedKind::Fixed { logical: Some(l), size, .. } => match l {
                    Logical::Decimal { precision, scale } => format!(
                        "{C}::decimal({var}, {precision}, {scale}, ::core::option::Option::Some({size}))"
                    ),
                    Logical::Duration => leaf("duration"),
                    Logical::Uuid => leaf("uuid_fixed"),
                    _ => format!("::evc_avro::AvroValue::to_avro_value({var})"),
                },
                _ => format!("::evc_avro::AvroValue::to_avro_value({var})"),
            },
        })
    }

    pub(crate) fn decode_expr(
        &mut self,
        ty: &Ty,
        var: &str,
        ctx: &Ctx,
        direct: bool,
    ) -> Result<String, CodegenError> {
        let leaf = |f: &str| format!("{C}::{f}_from({var})");
        Ok(match &ty.kind {
            TyKind::Bytes if matches!(ty.logical, Some(Logical::Decimal { .. })) => {
                let Some(Logical::Decimal { scale, .. }) = ty.logical else {
                    unreachable!()
                };
                format!("{C}::decimal_from({var}, {scale})")
            }
            TyKind::Null
            | TyKind::Boolean
            | TyKind::Int
            | TyKind::Long
            | TyKind::Float
            | TyKind::Double
            | TyKind::Bytes
            | TyKind::String => leaf(leaf_name(ty)),
            TyKind::Array(items) => {
                let inner = self.decode_expr(items, "v", &ctx.with_hint("Item"), false)?;
                format!("{C}::array_from({var}, |v| {inner})")
            }
            TyKind::Map(values) => {
                let inner = self.decode_expr(values, "v", &ctx.with_hint("Value"), false)?;
                format!("{C}::map_from({var}, |v| {inner})")
            }
            TyKind::Union(branches) => match union_shape(branches) {
                UnionShape::Unit { .. } => leaf("null"),
                UnionShape::Single {
                    null: Some(_), ty, ..
                } => {
                    let inner = self.decode_expr(ty, "v", ctx, direct)?;
                    format!("{C}::option_from({var}, |v| {inner})")
                }
                UnionShape::Single { null: None, ty, .. } => {
                    self.decode_expr(ty, var, ctx, direct)?
                }
                UnionShape::Many { null } => {
                    let name = self.union_enum(ty, ctx)?.expect("several branches");
                    let e = format!("<{name} as ::evc_avro::AvroValue>::from_avro_value");
                    if null.is_some() {
                        format!("{C}::option_from({var}, |v| {e}(v))")
                    } else {
                        format!("{e}({var})")
                    }
                }
            },
            TyKind::Named(id) => match &self.schema.named[*id].kind {
                NamedKind::Fixed {
                    logical: Some(l), ..
                } => match l {
                    Logical::Decimal { scale, .. } => format!("{C}::decimal_from({var}, {scale})"),
                    Logical::Duration => leaf("duration"),
                    Logical::Uuid => leaf("uuid"),
                    _ => unreachable!("only decimal, duration and uuid apply to fixed"),
                },
                _ => {
                    let t = self.rust_type(ty, ctx, direct)?;
                    format!("<{t} as ::evc_avro::AvroValue>::from_avro_value({var})")
                }
            },
        })
    }

    /// An expression of type `Result<(), EncodeError>` appending the Avro binary of `var`
    /// (an expression of type `&T`) to `out`.
    pub(crate) fn write_expr(
        &mut self,
        ty: &Ty,
        var: &str,
        ctx: &Ctx,
    ) -> Result<String, CodegenError> {
        let put = |f: &str| format!("{B}::put_{f}(out, {var})");
        Ok(match &ty.kind {
            TyKind::Bytes if matches!(ty.logical, Some(Logical::Decimal { .. })) => {
                let Some(Logical::Decimal { precision, scale }) = ty.logical else { unreachable!() };
                format!("{B}::write_decimal(out, {var}, {precision}, {scale}, ::core::option::Option::None)")
            }
            TyKind::Null => format!("{B}::put_unit(out, {var})"),
            TyKind::Boolean | TyKind::Int | TyKind::Long | TyKind::Float | TyKind::Double | TyKind::Bytes | TyKind::String => {
                put(leaf_name(ty))
            }
            TyKind::Array(items) => {
                let inner = self.write_expr(items, "e", &ctx.with_hint("Item"))?;
                format!("{B}::write_array(out, {var}, |out, e| {inner})")
            }
            TyKind::Map(values) => {
                let inner = self.write_expr(values, "e", &ctx.with_hint("Value"))?;
                format!("{B}::write_map(out, {var}, |out, e| {inner})")
            }
            TyKind::Union(branches) => match union_shape(branches) {
                UnionShape::Unit { null } => format!("{B}::put_index(out, {null})"),
                UnionShape::Single { null: Some(n), index, ty } => {
                    let inner = self.write_expr(ty, "e", ctx)?;
                    format!(
                        "match {var} {{ ::core::option::Option::None => {B}::put_index(out, {n}), ::core::option::Option::Some(e) => {{ {B}::write_long(out, {index}); {inner} }} }}"
                    )
                }
                UnionShape::Single { null: None, index, ty } => {
                    let inner = self.write_expr(ty, var, ctx)?;
                    format!("{{ {B}::write_long(out, {index}); {inner} }}")
                }
                UnionShape::Many { null: Some(n) } => {
                    self.union_enum(ty, ctx)?;
                    format!(
                        "match {var} {{ ::core::option::Option::None => {B}::put_index(out, {n}), ::core::option::Option::Some(e) => ::evc_avro::AvroBinary::write_avro(e, out) }}"
                    )
                }
                UnionShape::Many { null: None } => {
                    self.union_enum(ty, ctx)?;
                    format!("::evc_avro::AvroBinary::write_avro({var}, out)")
                }
            },
            TyKind::Named(id) => match &self.schema.named[*id].kind {
                NamedKind::Fixed { logical: Some(l), size, .. } => match l {
                    Logical::Decimal { precision, scale } => format!(
                        "{B}::write_decimal(out, {var}, {precision}, {scale}, ::core::option::Option::Some({size}))"
                    ),
                    Logical::Duration => put("duration"),
                    Logical::Uuid => put("uuid_fixed"),
                    _ => format!("::evc_avro::AvroBinary::write_avro({var}, out)"),
                },
                _ => format!("::evc_avro::AvroBinary::write_avro({var}, out)"),
            },
        })
    }

    /// An expression of type `Result<T, DecodeError>` reading a `T` from `input`.
    pub(crate) fn read_expr(
        &mut self,
        ty: &Ty,
        ctx: &Ctx,
        direct: bool,
    ) -> Result<String, CodegenError> {
        let get = |f: &str| format!("{B}::read_{f}(input)");
        Ok(match &ty.kind {
            TyKind::Bytes if matches!(ty.logical, Some(Logical::Decimal { .. })) => {
                let Some(Logical::Decimal { scale, .. }) = ty.logical else {
                    unreachable!()
                };
                format!("{B}::read_decimal(input, {scale}, ::core::option::Option::None)")
            }
            TyKind::Null
            | TyKind::Boolean
            | TyKind::Int
            | TyKind::Long
            | TyKind::Float
            | TyKind::Double
            | TyKind::Bytes
            | TyKind::String => get(leaf_name(ty)),
            TyKind::Array(items) => {
                let inner = self.read_expr(items, &ctx.with_hint("Item"), false)?;
                format!("{B}::read_array(input, |input| {inner})")
            }
            TyKind::Map(values) => {
                let inner = self.read_expr(values, &ctx.with_hint("Value"), false)?;
                format!("{B}::read_map(input, |input| {inner})")
            }
            TyKind::Union(branches) => {
                let n = branches.len();
                match union_shape(branches) {
                    UnionShape::Unit { .. } => format!("{B}::read_index(input, {n}).map(|_| ())"),
                    UnionShape::Single {
                        null: Some(null),
                        ty,
                        ..
                    } => {
                        let inner = self.read_expr(ty, ctx, direct)?;
                        format!(
                            "match {B}::read_index(input, {n}) {{ ::core::result::Result::Err(e) => ::core::result::Result::Err(e), ::core::result::Result::Ok({null}) => ::core::result::Result::Ok(::core::option::Option::None), ::core::result::Result::Ok(_) => ({inner}).map(::core::option::Option::Some) }}"
                        )
                    }
                    UnionShape::Single { null: None, ty, .. } => {
                        let inner = self.read_expr(ty, ctx, direct)?;
                        format!("{B}::read_index(input, {n}).and_then(|_| {inner})")
                    }
                    UnionShape::Many { null } => {
                        let name = self.union_enum(ty, ctx)?.expect("several branches");
                        match null {
                            Some(null) => format!(
                                "match {B}::read_index(input, {n}) {{ ::core::result::Result::Err(e) => ::core::result::Result::Err(e), ::core::result::Result::Ok({null}) => ::core::result::Result::Ok(::core::option::Option::None), ::core::result::Result::Ok(i) => {name}::read_avro_branch(i, input).map(::core::option::Option::Some) }}"
                            ),
                            None => format!("<{name} as ::evc_avro::AvroBinary>::read_avro(input)"),
                        }
                    }
                }
            }
            TyKind::Named(id) => match &self.schema.named[*id].kind {
                NamedKind::Fixed {
                    logical: Some(l),
                    size,
                    ..
                } => match l {
                    Logical::Decimal { scale, .. } => {
                        format!("{B}::read_decimal(input, {scale}, ::core::option::Option::Some({size}))")
                    }
                    Logical::Duration => get("duration"),
                    Logical::Uuid => get("uuid_fixed"),
                    _ => unreachable!("only decimal, duration and uuid apply to fixed"),
                },
                _ => {
                    let t = self.rust_type(ty, ctx, direct)?;
                    format!("<{t} as ::evc_avro::AvroBinary>::read_avro(input)")
                }
            },
        })
    }
}

/// The runtime function name for a primitive, or a logical type on a primitive (decimal, which
/// takes arguments, excepted): `conv::{name}`/`conv::{name}_from` and `binary::put_{name}`/
/// `binary::read_{name}` exist for each.
pub(crate) fn leaf_name(ty: &Ty) -> &'static str {
    match (&ty.kind, ty.logical) {
        (TyKind::Null, _) => "null",
        (TyKind::Boolean, _) => "boolean",
        (TyKind::Int, Some(Logical::Date)) => "date",
        (TyKind::Int, Some(Logical::TimeMillis)) => "time_millis",
        (TyKind::Int, _) => "int",
        (TyKind::Long, Some(Logical::TimeMicros)) => "time_micros",
        (TyKind::Long, Some(Logical::TimestampMillis)) => "timestamp_millis",
        (TyKind::Long, Some(Logical::TimestampMicros)) => "timestamp_micros",
        (TyKind::Long, Some(Logical::TimestampNanos)) => "timestamp_nanos",
        (TyKind::Long, Some(Logical::LocalTimestampMillis)) => "local_timestamp_millis",
        (TyKind::Long, Some(Logical::LocalTimestampMicros)) => "local_timestamp_micros",
        (TyKind::Long, Some(Logical::LocalTimestampNanos)) => "local_timestamp_nanos",
        (TyKind::Long, _) => "long",
        (TyKind::Float, _) => "float",
        (TyKind::Double, _) => "double",
        (TyKind::Bytes, Some(Logical::BigDecimal)) => "big_decimal",
        (TyKind::Bytes, _) => "bytes",
        (TyKind::String, Some(Logical::Uuid)) => "uuid",
        (TyKind::String, _) => "string",
        _ => unreachable!("only primitives have leaf functions"),
    }
}
