//! One schema → one Rust module.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use evc_schema::json::{Json, JsonValue};
use evc_schema::{Logical, NamedId, NamedKind, Schema, Ty, TyKind};
use serde::Serialize;
use serde_json::json;

use crate::names::{camel, snake};
use crate::{CodegenError, Templates};

/// What makes a top-level record an event (a version of it).
#[derive(Debug, Clone)]
pub struct EventInfo {
    pub topic: String,
    pub subject: String,
    pub version: u32,
    /// Avro name of the partition key field.
    pub partition_key: String,
    /// Avro name of the event id field (used when present and a uuid or string).
    pub event_id_field: Option<String>,
}

/// Options for [`generate_module`].
#[derive(Debug, Clone)]
pub struct ModuleOptions {
    /// Shown in the `@generated` header (the schema file's path).
    pub source: String,
    /// Rust name for a top-level union (which has no name of its own).
    pub root_name: String,
    pub event: Option<EventInfo>,
}

const V: &str = "::evc_avro::apache_avro::types::Value";
const C: &str = "::evc_avro::conv";
const B: &str = "::evc_avro::binary";

/// Generates the Rust module (file contents, unformatted) for one schema.
pub fn generate_module(
    templates: &Templates,
    schema: &Schema,
    opts: &ModuleOptions,
) -> Result<String, CodegenError> {
    let mut g = Gen::new(templates, schema)?;
    let root_ctx = Ctx {
        module: Vec::new(),
        owner: None,
        hint: camel(&opts.root_name),
    };
    for id in 0..schema.named.len() {
        g.named_item(id)?;
    }
    let (root_name, root_fullname) = match &schema.root.kind {
        TyKind::Named(id) => {
            let n = &schema.named[*id];
            if !matches!(n.kind, NamedKind::Record { .. }) && opts.event.is_some() {
                return Err(CodegenError::Unsupported(
                    "an event must be a record".into(),
                ));
            }
            if g.is_logical_fixed(*id) {
                return Err(CodegenError::Unsupported(
                    "a top-level fixed with a logical type has no Rust type of its own".into(),
                ));
            }
            (g.names[id].1.clone(), n.name.fullname())
        }
        TyKind::Union(branches) => {
            if branches.iter().any(Ty::is_null) {
                return Err(CodegenError::Unsupported(
                    "a top-level union with `null` has no Rust type of its own; drop `null` or wrap the union in a record".into(),
                ));
            }
            let name = g.union_enum(&schema.root, &root_ctx)?;
            match name {
                Some(n) => (n, schema.root_name()),
                None => {
                    return Err(CodegenError::Unsupported(
                        "a top-level union needs two or more non-null branches".into(),
                    ))
                }
            }
        }
        _ => {
            return Err(CodegenError::Unsupported(format!(
                "a top-level `{}` schema has no Rust type to generate; wrap it in a record",
                schema.root_name()
            )))
        }
    };
    let schema_json = serde_json::to_string(&schema.to_json()).expect("json");
    let event = match &opts.event {
        None => None,
        Some(ev) => Some(g.event_view(ev)?),
    };
    let impl_code = templates.render(
        "schema_impl",
        &json!({
            "name": root_name,
            "fullname": root_fullname,
            "schema_json": rust_raw_string(&schema_json),
            "fingerprint": format!("0x{:016x}", schema.fingerprint()),
            "event": event,
        }),
    )?;
    g.items.entry(Vec::new()).or_default().push(impl_code);
    let body = g.assemble(&[]);
    templates.render("file", &json!({"source": opts.source, "body": body}))
}

pub(crate) fn rust_raw_string(s: &str) -> String {
    let mut hashes = 1;
    while s.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let h = "#".repeat(hashes);
    format!("r{h}\"{s}\"{h}")
}

#[derive(Clone)]
struct Ctx {
    module: Vec<String>,
    owner: Option<NamedId>,
    hint: String,
}

impl Ctx {
    fn with_hint(&self, suffix: &str) -> Ctx {
        Ctx {
            hint: format!("{}{}", self.hint, suffix),
            ..self.clone()
        }
    }
}

struct Gen<'a> {
    t: &'a Templates,
    schema: &'a Schema,
    root_ns: Option<String>,
    /// Named type → (module path, Rust name).
    names: HashMap<NamedId, (Vec<String>, String)>,
    /// Rendered items per module.
    items: BTreeMap<Vec<String>, Vec<String>>,
    /// Names taken per module.
    taken: HashMap<Vec<String>, HashSet<String>>,
    /// Union enums already made, by the union's JSON pointer: (module, name).
    unions: HashMap<String, (Vec<String>, String)>,
    /// Direct containment between records (not through arrays or maps).
    edges: HashMap<NamedId, BTreeSet<NamedId>>,
}

#[derive(Serialize)]
struct FieldView {
    doc: Vec<String>,
    rust_name: String,
    avro_name: String,
    rust_type: String,
    to_expr: String,
    from_expr: String,
    write_expr: String,
    read_expr: String,
}

enum UnionShape<'t> {
    /// Only `null`.
    Unit { null: u32 },
    /// One non-null branch, with or without `null`.
    Single {
        null: Option<u32>,
        index: u32,
        ty: &'t Ty,
    },
    /// Several non-null branches: a generated enum.
    Many { null: Option<u32> },
}

fn union_shape(branches: &[Ty]) -> UnionShape<'_> {
    let null = branches.iter().position(Ty::is_null).map(|i| i as u32);
    let others: Vec<(usize, &Ty)> = branches
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.is_null())
        .collect();
    match others.len() {
        0 => UnionShape::Unit {
            null: null.unwrap_or(0),
        },
        1 => UnionShape::Single {
            null,
            index: others[0].0 as u32,
            ty: others[0].1,
        },
        _ => UnionShape::Many { null },
    }
}

fn doc_lines(doc: &Option<String>) -> Vec<String> {
    match doc {
        None => Vec::new(),
        Some(d) => d
            .lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!(" {l}")
                }
            })
            .collect(),
    }
}

impl<'a> Gen<'a> {
    fn new(t: &'a Templates, schema: &'a Schema) -> Result<Self, CodegenError> {
        let root_ns = schema.root_named().and_then(|n| n.name.namespace.clone());
        let mut g = Gen {
            t,
            schema,
            root_ns,
            names: HashMap::new(),
            items: BTreeMap::new(),
            taken: HashMap::new(),
            unions: HashMap::new(),
            edges: HashMap::new(),
        };
        for (id, n) in schema.named.iter().enumerate() {
            let module = g.module_of(n.name.namespace.as_deref());
            let name = camel(&n.name.name);
            if !g
                .taken
                .entry(module.clone())
                .or_default()
                .insert(name.clone())
            {
                return Err(CodegenError::Unsupported(format!(
                    "`{}` becomes the Rust name `{name}`, which another type in its namespace already has",
                    n.name.fullname()
                )));
            }
            g.names.insert(id, (module, name));
            let mut direct = BTreeSet::new();
            for f in n.fields() {
                collect_direct(&f.ty, &mut direct);
            }
            g.edges.insert(id, direct);
        }
        Ok(g)
    }

    fn module_of(&self, ns: Option<&str>) -> Vec<String> {
        match ns {
            None => Vec::new(),
            Some(ns) if Some(ns) == self.root_ns.as_deref() => Vec::new(),
            Some(ns) => ns.split('.').map(snake).collect(),
        }
    }

    fn reaches(&self, from: NamedId, to: NamedId) -> bool {
        let mut stack = vec![from];
        let mut seen = HashSet::new();
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n) {
                if let Some(e) = self.edges.get(&n) {
                    stack.extend(e.iter().copied());
                }
            }
        }
        false
    }

    fn is_logical_fixed(&self, id: NamedId) -> bool {
        matches!(
            self.schema.named[id].kind,
            NamedKind::Fixed {
                logical: Some(_),
                ..
            }
        )
    }

    fn path_to(&self, from: &[String], id: NamedId) -> String {
        let (module, name) = &self.names[&id];
        self.path_from(from, module, name)
    }

    fn path_from(&self, from: &[String], module: &[String], name: &str) -> String {
        if from == module {
            return name.to_string();
        }
        let mut s = "super::".repeat(from.len());
        for m in module {
            s.push_str(m);
            s.push_str("::");
        }
        s.push_str(name);
        s
    }

    fn boxed(&self, ctx: &Ctx, id: NamedId, direct: bool) -> bool {
        direct
            && matches!(self.schema.named[id].kind, NamedKind::Record { .. })
            && ctx.owner.is_some_and(|owner| self.reaches(id, owner))
    }

    fn rust_type(&mut self, ty: &Ty, ctx: &Ctx, direct: bool) -> Result<String, CodegenError> {
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
                "::std::collections::HashMap<::std::string::String, {}>",
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

    fn encode_expr(&mut self, ty: &Ty, var: &str, ctx: &Ctx) -> Result<String, CodegenError> {
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

    fn decode_expr(
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
    fn write_expr(&mut self, ty: &Ty, var: &str, ctx: &Ctx) -> Result<String, CodegenError> {
        let put = |f: &str| format!("{B}::put_{f}(out, {var})");
        Ok(match &ty.kind {
            TyKind::Bytes if matches!(ty.logical, Some(Logical::Decimal { .. })) => {
                let Some(Logical::Decimal { precision, scale }) = ty.logical else { unreachable!() };
                format!("{B}::write_decimal(out, {var}, {precision}, {scale}, ::core::option::Option::None)")
            }
            TyKind::Null => format!("{B}::put_null(out)"),
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
    fn read_expr(&mut self, ty: &Ty, ctx: &Ctx, direct: bool) -> Result<String, CodegenError> {
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

    /// Makes (once) the enum for a union with several non-null branches; returns its name.
    fn union_enum(&mut self, ty: &Ty, ctx: &Ctx) -> Result<Option<String>, CodegenError> {
        let TyKind::Union(branches) = &ty.kind else {
            return Ok(None);
        };
        if !matches!(union_shape(branches), UnionShape::Many { .. }) {
            return Ok(None);
        }
        if let Some((module, n)) = self.unions.get(&ty.pointer) {
            return Ok(Some(self.path_from(&ctx.module, module, n)));
        }
        let taken = self.taken.entry(ctx.module.clone()).or_default();
        let mut name = ctx.hint.clone();
        if taken.contains(&name) {
            name = format!("{}Union", ctx.hint);
        }
        let mut i = 2;
        while taken.contains(&name) {
            name = format!("{}Union{i}", ctx.hint);
            i += 1;
        }
        taken.insert(name.clone());
        self.unions
            .insert(ty.pointer.clone(), (ctx.module.clone(), name.clone()));
        let mut variants = Vec::new();
        let mut used = HashSet::new();
        for (index, b) in branches.iter().enumerate() {
            if b.is_null() {
                continue;
            }
            let mut vname = self.variant_name(b);
            if !used.insert(vname.clone()) {
                if let Some(n) = self.schema.named_of(b) {
                    vname = camel(&n.name.fullname().replace('.', "_"));
                }
                if !used.insert(vname.clone()) {
                    vname = format!("{vname}{index}");
                    used.insert(vname.clone());
                }
            }
            let vctx = ctx.with_hint(&vname);
            let rust_type = self.rust_type(b, &vctx, true)?;
            let to_expr = self.encode_expr(b, "e", &vctx)?;
            let from_expr = self.decode_expr(b, "v", &vctx, true)?;
            let write_expr = self.write_expr(b, "e", &vctx)?;
            let read_expr = self.read_expr(b, &vctx, true)?;
            variants.push(json!({
                "index": index,
                "rust_name": vname,
                "rust_type": rust_type,
                "to_expr": to_expr,
                "from_expr": from_expr,
                "write_expr": write_expr,
                "read_expr": read_expr,
            }));
        }
        let code = self.t.render(
            "union",
            &json!({
                "name": name,
                "description": format!("`{}`", ty.describe(self.schema)),
                "branches": branches.len(),
                "variants": variants,
            }),
        )?;
        self.items.entry(ctx.module.clone()).or_default().push(code);
        Ok(Some(name))
    }

    fn variant_name(&self, b: &Ty) -> String {
        match (&b.kind, b.logical) {
            (_, Some(l)) => camel(&l.name().replace('-', "_")),
            (TyKind::Named(id), None) => self.names[id].1.clone(),
            (TyKind::Boolean, _) => "Boolean".into(),
            (TyKind::Int, _) => "Int".into(),
            (TyKind::Long, _) => "Long".into(),
            (TyKind::Float, _) => "Float".into(),
            (TyKind::Double, _) => "Double".into(),
            (TyKind::Bytes, _) => "Bytes".into(),
            (TyKind::String, _) => "String".into(),
            (TyKind::Array(_), _) => "Array".into(),
            (TyKind::Map(_), _) => "Map".into(),
            (TyKind::Null | TyKind::Union(_), _) => "Other".into(),
        }
    }

    fn named_item(&mut self, id: NamedId) -> Result<(), CodegenError> {
        let n = &self.schema.named[id];
        let (module, name) = self.names[&id].clone();
        let doc = doc_lines(&n.doc);
        let code = match &n.kind {
            NamedKind::Record { fields, .. } => {
                let mut views = Vec::new();
                let mut defaults = Vec::new();
                let mut all_default = !fields.is_empty();
                let mut rust_names = HashSet::new();
                for f in fields {
                    let ctx = Ctx {
                        module: module.clone(),
                        owner: Some(id),
                        hint: format!("{name}{}", camel(&f.name)),
                    };
                    let rust_name = snake(&f.name);
                    if !rust_names.insert(rust_name.clone()) {
                        return Err(CodegenError::Unsupported(format!(
                            "fields of `{}` collide as the Rust field `{rust_name}`",
                            n.name.fullname()
                        )));
                    }
                    let rust_type = self.rust_type(&f.ty, &ctx, true)?;
                    let access = format!("&self.{rust_name}");
                    let to_expr = self.encode_expr(&f.ty, &access, &ctx)?;
                    let from_expr = self.decode_expr(&f.ty, "v", &ctx, true)?;
                    let write_expr = self.write_expr(&f.ty, &access, &ctx)?;
                    let read_expr = self.read_expr(&f.ty, &ctx, true)?;
                    let mut fdoc = doc_lines(&f.doc);
                    if f.name != rust_name.trim_start_matches("r#") {
                        fdoc.push(String::new());
                        fdoc.push(format!(" Avro field `{}`.", f.name));
                    }
                    match f
                        .default
                        .as_ref()
                        .map(|d| self.default_expr(&f.ty, d, &ctx, true))
                    {
                        Some(Ok(Some(expr))) => {
                            if !fdoc.is_empty() {
                                fdoc.push(String::new());
                            }
                            fdoc.push(format!(
                                " Default: `{}`.",
                                serde_json::to_string(&f.default.as_ref().unwrap().to_serde())
                                    .unwrap_or_default()
                                    .replace('`', "'")
                            ));
                            defaults.push(json!({"rust_name": rust_name, "expr": expr}));
                        }
                        Some(Err(e)) => return Err(e),
                        _ => all_default = false,
                    }
                    views.push(FieldView {
                        doc: fdoc,
                        rust_name,
                        avro_name: f.name.clone(),
                        rust_type,
                        to_expr,
                        from_expr,
                        write_expr,
                        read_expr,
                    });
                }
                self.t.render(
                    "record",
                    &json!({
                        "doc": doc,
                        "name": name,
                        "fullname": n.name.fullname(),
                        "fields": views,
                        "default_fields": if all_default { json!(defaults) } else { json!(null) },
                    }),
                )?
            }
            NamedKind::Enum { symbols, default } => {
                let mut used = HashSet::new();
                let variants: Vec<_> = symbols
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let mut v = camel(s);
                        if !used.insert(v.clone()) {
                            v = format!("{v}{i}");
                            used.insert(v.clone());
                        }
                        json!({"symbol": s, "rust_name": v})
                    })
                    .collect();
                let default = default
                    .as_ref()
                    .and_then(|d| variants.iter().find(|v| v["symbol"] == json!(d)).cloned());
                self.t.render(
                    "enum",
                    &json!({
                        "doc": doc,
                        "name": name,
                        "fullname": n.name.fullname(),
                        "symbol_count": variants.len(),
                        "variants": variants,
                        "default": default,
                    }),
                )?
            }
            NamedKind::Fixed {
                size,
                logical: None,
                ..
            } => self
                .t
                .render("fixed", &json!({"doc": doc, "name": name, "size": size}))?,
            NamedKind::Fixed {
                size,
                logical: Some(l),
                ..
            } => {
                let ty = Ty::new(TyKind::Named(id));
                let ctx = Ctx {
                    module: module.clone(),
                    owner: None,
                    hint: name.clone(),
                };
                let rust_type = self.rust_type(&ty, &ctx, false)?;
                self.t.render(
                    "alias",
                    &json!({"doc": doc, "name": name, "fullname": n.name.fullname(), "size": size, "logical": l.name(), "rust_type": rust_type}),
                )?
            }
        };
        self.items.entry(module).or_default().push(code);
        Ok(())
    }

    /// A Rust expression for a field default; `None` where no Rust value can be written for it.
    fn default_expr(
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
                    self.check_default(
                        evc_avro::conv::date_from(apache_int(&num())).err(),
                        &num(),
                    )?;
                    checked(format!("{C}::date_from({})", v("Int", num())))
                }
                Some(Logical::TimeMillis) => {
                    self.check_default(
                        evc_avro::conv::time_millis_from(apache_int(&num())).err(),
                        &num(),
                    )?;
                    checked(format!("{C}::time_millis_from({})", v("Int", num())))
                }
                _ => format!("{}i32", num()),
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
                match f {
                    Some((func, err)) => {
                        self.check_default(err, &n)?;
                        checked(format!("{C}::{func}({})", v("Long", n)))
                    }
                    None => format!("{n}i64"),
                }
            }
            TyKind::Float | TyKind::Double => {
                let n = num();
                let suffix = if matches!(ty.kind, TyKind::Float) {
                    "f32"
                } else {
                    "f64"
                };
                format!("{n}{suffix}")
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
                        Err(e) => {
                            return Err(CodegenError::Unsupported(format!(
                                "default `{s}` is not a uuid: {e}"
                            )))
                        }
                    },
                    _ => format!("::std::string::String::from({s:?})"),
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
                        Some(e) => {
                            parts.push(format!("(::std::string::String::from({:?}), {e})", k.name))
                        }
                        None => return Ok(None),
                    }
                }
                if parts.is_empty() {
                    "::std::collections::HashMap::new()".into()
                } else {
                    format!("::std::collections::HashMap::from([{}])", parts.join(", "))
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
                        let mut vname = self.variant_name(b);
                        // the enum may have renamed a clashing variant; look it up the same way
                        if let Some(n) = self.schema.named_of(b) {
                            let dup = branches
                                .iter()
                                .filter(|x| !x.is_null() && self.variant_name(x) == vname)
                                .count()
                                > 1;
                            if dup {
                                vname = camel(&n.name.fullname().replace('.', "_"));
                            }
                        }
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
                        let mut used = HashSet::new();
                        let mut vname = String::new();
                        for (j, sym) in symbols.iter().enumerate() {
                            let mut v = camel(sym);
                            if !used.insert(v.clone()) {
                                v = format!("{v}{j}");
                                used.insert(v.clone());
                            }
                            if j == i {
                                vname = v;
                            }
                        }
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
                        for f in fields {
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
                                Some(e) => parts.push(format!("{}: {e}", snake(&f.name))),
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

    fn check_default(
        &self,
        err: Option<evc_avro::DecodeError>,
        n: &str,
    ) -> Result<(), CodegenError> {
        match err {
            None => Ok(()),
            Some(e) => Err(CodegenError::Unsupported(format!(
                "default `{n}` cannot be represented: {e}"
            ))),
        }
    }

    fn event_view(&mut self, ev: &EventInfo) -> Result<serde_json::Value, CodegenError> {
        let rec = self
            .schema
            .root_named()
            .expect("checked: an event is a record");
        let field = |name: &str| rec.fields().iter().find(|f| f.name == name);
        let pk = field(&ev.partition_key).ok_or_else(|| {
            CodegenError::Unsupported(format!(
                "`{}` has no partition key field `{}`",
                rec.name.fullname(),
                ev.partition_key
            ))
        })?;
        let pk_name = snake(&pk.name);
        let partition_key_expr = match (&pk.ty.kind, pk.ty.logical) {
            (TyKind::String, None) => format!("::core::clone::Clone::clone(&self.{pk_name})"),
            (TyKind::String | TyKind::Int | TyKind::Long, _) => {
                format!("::std::string::ToString::to_string(&self.{pk_name})")
            }
            _ => {
                return Err(CodegenError::Unsupported(format!(
                    "partition key `{}` must be a string, uuid, int or long",
                    pk.name
                )))
            }
        };
        let event_id_expr = ev.event_id_field.as_deref().and_then(field).and_then(|f| {
            let n = snake(&f.name);
            match (&f.ty.kind, f.ty.logical) {
                (TyKind::String, Some(Logical::Uuid)) => {
                    Some(format!("::core::option::Option::Some(self.{n})"))
                }
                (TyKind::String, None) => {
                    Some(format!("::evc_avro::uuid::Uuid::parse_str(&self.{n}).ok()"))
                }
                _ => None,
            }
        });
        Ok(json!({
            "topic": ev.topic,
            "subject": ev.subject,
            "version": ev.version,
            "partition_key_expr": partition_key_expr,
            "event_id_expr": event_id_expr,
        }))
    }

    fn assemble(&self, prefix: &[String]) -> String {
        let mut out = String::new();
        if let Some(items) = self.items.get(prefix) {
            for it in items {
                out.push_str(it);
                out.push('\n');
            }
        }
        let children: BTreeSet<&String> = self
            .items
            .keys()
            .filter(|k| k.len() > prefix.len() && k.starts_with(prefix))
            .map(|k| &k[prefix.len()])
            .collect();
        for c in children {
            let mut p = prefix.to_vec();
            p.push(c.clone());
            out.push_str(&format!("pub mod {c} {{\n{}}}\n", self.assemble(&p)));
        }
        out
    }
}

fn apache_int(n: &str) -> evc_avro::apache_avro::types::Value {
    evc_avro::apache_avro::types::Value::Int(n.parse().unwrap_or(0))
}

fn apache_long(n: &str) -> evc_avro::apache_avro::types::Value {
    evc_avro::apache_avro::types::Value::Long(n.parse().unwrap_or(0))
}

/// The runtime function name for a primitive, or a logical type on a primitive (decimal, which
/// takes arguments, excepted): `conv::{name}`/`conv::{name}_from` and `binary::put_{name}`/
/// `binary::read_{name}` exist for each.
fn leaf_name(ty: &Ty) -> &'static str {
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

fn collect_direct(ty: &Ty, out: &mut BTreeSet<NamedId>) {
    match &ty.kind {
        TyKind::Named(id) => {
            out.insert(*id);
        }
        TyKind::Union(bs) => bs.iter().for_each(|b| collect_direct(b, out)),
        _ => {}
    }
}
