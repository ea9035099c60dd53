//! Avro schema parsing (specification 1.12), with the checks Avro Java's parser makes.
//!
//! Why one file of ~800 lines: it is one recursive-descent parser over one grammar (the
//! schema JSON), whose functions call each other; default validation already lives apart
//! (`defaults.rs`). Splitting it by type kind would scatter the name-resolution state.

use std::collections::{HashMap, HashSet};

use crate::defaults::validate_default;
use crate::json::{self, Json, JsonValue, Span};
use crate::model::*;

/// Why a schema text is not a valid Avro schema, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("{message}")]
pub struct SchemaError {
    pub message: String,
    /// Bytes of the offending JSON.
    pub span: Span,
    /// JSON pointer of the offending schema node, when it is inside a valid JSON document.
    pub pointer: Option<String>,
}

impl SchemaError {
    fn at(span: Span, pointer: &str, message: impl Into<String>) -> Self {
        SchemaError {
            message: message.into(),
            span,
            pointer: Some(pointer.to_string()),
        }
    }
}

/// Options for [`Schema::parse_with`].
#[derive(Debug, Clone)]
pub struct ParseOptions<'a> {
    /// Maximum JSON nesting depth.
    pub max_depth: usize,
    /// Schemas whose named types this one may refer to (Confluent schema references).
    pub references: Vec<&'a Schema>,
}

impl Default for ParseOptions<'_> {
    fn default() -> Self {
        ParseOptions {
            max_depth: json::DEFAULT_MAX_DEPTH,
            references: Vec::new(),
        }
    }
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

impl Schema {
    /// Parses a schema from its JSON text.
    ///
    /// ```
    /// let s = evc_schema::Schema::parse(r#"{"type":"record","name":"a.B","fields":[{"name":"x","type":"int"}]}"#).unwrap();
    /// assert_eq!(s.root_name(), "a.B");
    /// assert_eq!(s.canonical_form(), r#"{"name":"a.B","type":"record","fields":[{"name":"x","type":"int"}]}"#);
    /// ```
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        Schema::parse_with(text, &ParseOptions::default())
    }

    /// Parses with options (nesting limit, referenced schemas).
    pub fn parse_with(text: &str, options: &ParseOptions<'_>) -> Result<Schema, SchemaError> {
        let doc = json::parse_with_depth(text, options.max_depth).map_err(|e| SchemaError {
            message: format!("invalid JSON: {}", e.message),
            span: Span::new(e.offset, e.offset),
            pointer: None,
        })?;
        Schema::from_json_with(&doc, options)
    }

    /// Builds a schema from an already parsed JSON document.
    pub fn from_json_with(doc: &Json, options: &ParseOptions<'_>) -> Result<Schema, SchemaError> {
        let mut p = Parser {
            named: Vec::new(),
            index: HashMap::new(),
        };
        for r in &options.references {
            p.import(r);
        }
        let root = p.ty(doc, None, "")?;
        Ok(Schema {
            root,
            named: p.named,
        })
    }
}

struct Parser {
    named: Vec<Named>,
    index: HashMap<String, NamedId>,
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn valid_namespace(s: &str) -> bool {
    s.is_empty() || s.split('.').all(valid_name)
}

fn remap(ty: &Ty, map: &[NamedId]) -> Ty {
    let kind = match &ty.kind {
        TyKind::Array(i) => TyKind::Array(Box::new(remap(i, map))),
        TyKind::Map(v) => TyKind::Map(Box::new(remap(v, map))),
        TyKind::Union(b) => TyKind::Union(b.iter().map(|t| remap(t, map)).collect()),
        TyKind::Named(id) => TyKind::Named(map[*id]),
        k => k.clone(),
    };
    Ty { kind, ..ty.clone() }
}

impl Parser {
    fn import(&mut self, other: &Schema) {
        let mut map = Vec::with_capacity(other.named.len());
        for n in &other.named {
            let full = n.name.fullname();
            match self.index.get(&full) {
                Some(&id) => map.push(id),
                None => {
                    map.push(self.named.len());
                    self.index.insert(full, self.named.len());
                    // placeholder, filled below once every id is known
                    self.named.push(n.clone());
                }
            }
        }
        for (i, n) in other.named.iter().enumerate() {
            let id = map[i];
            let mut n2 = n.clone();
            n2.external = true;
            if let NamedKind::Record { fields, .. } = &mut n2.kind {
                for f in fields {
                    f.ty = remap(&f.ty, &map);
                }
            }
            self.named[id] = n2;
        }
    }

    fn resolve_ref(&self, name: &str, ns: Option<&str>) -> Option<NamedId> {
        if !name.contains('.') {
            if let Some(ns) = ns {
                if let Some(&id) = self.index.get(&format!("{ns}.{name}")) {
                    return Some(id);
                }
            }
        }
        self.index.get(name).copied()
    }

    fn primitive(name: &str) -> Option<TyKind> {
        Some(match name {
            "null" => TyKind::Null,
            "boolean" => TyKind::Boolean,
            "int" => TyKind::Int,
            "long" => TyKind::Long,
            "float" => TyKind::Float,
            "double" => TyKind::Double,
            "bytes" => TyKind::Bytes,
            "string" => TyKind::String,
            _ => return None,
        })
    }

    fn ty(&mut self, j: &Json, ns: Option<&str>, ptr: &str) -> Result<Ty, SchemaError> {
        match &j.value {
            JsonValue::String(name) => {
                let kind = if let Some(k) = Self::primitive(name) {
                    k
                } else if let Some(id) = self.resolve_ref(name, ns) {
                    TyKind::Named(id)
                } else {
                    let hint = if matches!(
                        name.as_str(),
                        "record" | "enum" | "fixed" | "array" | "map" | "error"
                    ) {
                        format!(" (`{name}` is a complex type: write it as an object, {{\"type\": \"{name}\", ...}})")
                    } else {
                        let full = match ns {
                            Some(ns) if !name.contains('.') => {
                                format!(" (looked for `{ns}.{name}` and `{name}`)")
                            }
                            _ => String::new(),
                        };
                        format!("{full}; named types must be defined before they are used")
                    };
                    return Err(SchemaError::at(
                        j.span,
                        ptr,
                        format!("unknown type `{name}`{hint}"),
                    ));
                };
                Ok(Ty {
                    kind,
                    logical: None,
                    ignored_logical: None,
                    span: j.span,
                    pointer: ptr.to_string(),
                })
            }
            JsonValue::Array(branches) => {
                let mut out = Vec::with_capacity(branches.len());
                let mut seen: HashSet<String> = HashSet::new();
                for (i, b) in branches.iter().enumerate() {
                    let bp = format!("{ptr}/{i}");
                    let t = self.ty(b, ns, &bp)?;
                    if matches!(t.kind, TyKind::Union(_)) {
                        return Err(SchemaError::at(
                            b.span,
                            &bp,
                            "a union may not directly contain another union",
                        ));
                    }
                    let key = match &t.kind {
                        TyKind::Named(id) => self.named[*id].name.fullname(),
                        TyKind::Array(_) => "array".into(),
                        TyKind::Map(_) => "map".into(),
                        other => format!("{other:?}").to_lowercase(),
                    };
                    if !seen.insert(key.clone()) {
                        return Err(SchemaError::at(
                            b.span,
                            &bp,
                            format!(
                                "duplicate `{key}` in union: a union may hold each type only once"
                            ),
                        ));
                    }
                    out.push(t);
                }
                Ok(Ty {
                    kind: TyKind::Union(out),
                    logical: None,
                    ignored_logical: None,
                    span: j.span,
                    pointer: ptr.to_string(),
                })
            }
            JsonValue::Object(members) => {
                let mut seen = HashSet::new();
                for (k, _) in members {
                    if !seen.insert(k.name.as_str()) {
                        return Err(SchemaError::at(
                            k.span,
                            ptr,
                            format!("duplicate key `{}` in schema object", k.name),
                        ));
                    }
                }
                let t = j
                    .get("type")
                    .ok_or_else(|| SchemaError::at(j.span, ptr, "schema object has no `type`"))?;
                let tname = match &t.value {
                    JsonValue::String(s) => s.as_str(),
                    _ => {
                        return Err(SchemaError::at(
                            t.span,
                            ptr,
                            format!(
                                "`type` must be a string naming the type, found {}",
                                t.kind()
                            ),
                        ))
                    }
                };
                match tname {
                    "record" | "error" => self.record(j, ns, ptr, tname == "error"),
                    "enum" => self.enumeration(j, ns, ptr),
                    "fixed" => self.fixed(j, ns, ptr),
                    "array" => {
                        let items = j.get("items").ok_or_else(|| {
                            SchemaError::at(j.span, ptr, "array schema has no `items`")
                        })?;
                        let it = self.ty(items, ns, &format!("{ptr}/items"))?;
                        Ok(Ty {
                            kind: TyKind::Array(Box::new(it)),
                            logical: None,
                            ignored_logical: None,
                            span: j.span,
                            pointer: ptr.to_string(),
                        })
                    }
                    "map" => {
                        let values = j.get("values").ok_or_else(|| {
                            SchemaError::at(j.span, ptr, "map schema has no `values`")
                        })?;
                        let vt = self.ty(values, ns, &format!("{ptr}/values"))?;
                        Ok(Ty {
                            kind: TyKind::Map(Box::new(vt)),
                            logical: None,
                            ignored_logical: None,
                            span: j.span,
                            pointer: ptr.to_string(),
                        })
                    }
                    name => {
                        if let Some(kind) = Self::primitive(name) {
                            let (logical, ignored_logical) = logical_for(j, &kind, None);
                            Ok(Ty {
                                kind,
                                logical,
                                ignored_logical,
                                span: j.span,
                                pointer: ptr.to_string(),
                            })
                        } else if let Some(id) = self.resolve_ref(name, ns) {
                            // {"type": "SomeNamedType"}: a reference written as an object
                            Ok(Ty {
                                kind: TyKind::Named(id),
                                logical: None,
                                ignored_logical: None,
                                span: j.span,
                                pointer: ptr.to_string(),
                            })
                        } else {
                            Err(SchemaError::at(
                                t.span,
                                ptr,
                                format!("unknown type `{name}`"),
                            ))
                        }
                    }
                }
            }
            _ => Err(SchemaError::at(
                j.span,
                ptr,
                format!(
                    "a schema must be a string, an object or an array (union), found {}",
                    j.kind()
                ),
            )),
        }
    }

    /// Reads `name`/`namespace`/`aliases` of a named type definition and registers the name.
    fn define(
        &mut self,
        j: &Json,
        ns: Option<&str>,
        ptr: &str,
    ) -> Result<(Name, Vec<Name>, Option<String>, Span), SchemaError> {
        let name_j = j
            .get("name")
            .ok_or_else(|| SchemaError::at(j.span, ptr, "named type has no `name`"))?;
        let raw = name_j.as_str().ok_or_else(|| {
            SchemaError::at(
                name_j.span,
                ptr,
                format!("`name` must be a string, found {}", name_j.kind()),
            )
        })?;
        let ns_attr = match j.get("namespace") {
            None => None,
            Some(n) => match &n.value {
                JsonValue::String(s) => {
                    if !valid_namespace(s) {
                        return Err(SchemaError::at(
                            n.span,
                            ptr,
                            format!("invalid namespace `{s}`: each dotted part must start with a letter or `_` and hold only letters, digits and `_`"),
                        ));
                    }
                    Some(s.clone())
                }
                JsonValue::Null => Some(String::new()),
                _ => {
                    return Err(SchemaError::at(
                        n.span,
                        ptr,
                        format!("`namespace` must be a string, found {}", n.kind()),
                    ))
                }
            },
        };
        let name = if raw.contains('.') {
            Name::from_fullname(raw)
        } else {
            let space = match ns_attr {
                Some(s) => Some(s),
                None => ns.map(str::to_string),
            };
            Name {
                name: raw.to_string(),
                namespace: space.filter(|s| !s.is_empty()),
            }
        };
        if !valid_name(&name.name) || !name.namespace.as_deref().is_none_or(valid_namespace) {
            return Err(SchemaError::at(
                name_j.span,
                ptr,
                format!("invalid name `{raw}`: a name starts with a letter or `_` and holds only letters, digits and `_`"),
            ));
        }
        if name.namespace.is_none() && PRIMITIVES.contains(&name.name.as_str()) {
            return Err(SchemaError::at(
                name_j.span,
                ptr,
                format!(
                    "`{}` is a primitive type and cannot be redefined",
                    name.name
                ),
            ));
        }
        let full = name.fullname();
        if self.index.contains_key(&full) {
            return Err(SchemaError::at(
                name_j.span,
                ptr,
                format!("`{full}` is defined twice"),
            ));
        }
        let mut aliases = Vec::new();
        if let Some(a) = j.get("aliases") {
            let arr = a.as_array().ok_or_else(|| {
                SchemaError::at(a.span, ptr, "`aliases` must be an array of strings")
            })?;
            for al in arr {
                let s = al.as_str().ok_or_else(|| {
                    SchemaError::at(al.span, ptr, "`aliases` must be an array of strings")
                })?;
                let an = if s.contains('.') {
                    Name::from_fullname(s)
                } else {
                    Name {
                        name: s.to_string(),
                        namespace: name.namespace.clone(),
                    }
                };
                // The specification gives aliases no syntax: any string is kept and takes part
                // in resolution by full name (Avro Java and fastavro accept them too).
                aliases.push(an);
            }
        }
        let doc = doc_of(j, ptr)?;
        Ok((name, aliases, doc, name_j.span))
    }

    fn register(&mut self, n: Named) -> NamedId {
        let id = self.named.len();
        self.index.insert(n.name.fullname(), id);
        self.named.push(n);
        id
    }

    fn named_ty(id: NamedId, j: &Json, ptr: &str) -> Ty {
        Ty {
            kind: TyKind::Named(id),
            logical: None,
            ignored_logical: None,
            span: j.span,
            pointer: ptr.to_string(),
        }
    }

    fn record(
        &mut self,
        j: &Json,
        ns: Option<&str>,
        ptr: &str,
        error: bool,
    ) -> Result<Ty, SchemaError> {
        let (name, aliases, doc, name_span) = self.define(j, ns, ptr)?;
        let fields_j = j.get("fields").ok_or_else(|| {
            SchemaError::at(
                j.span,
                ptr,
                format!("record `{}` has no `fields`", name.fullname()),
            )
        })?;
        let fields_arr = fields_j.as_array().ok_or_else(|| {
            SchemaError::at(
                fields_j.span,
                ptr,
                format!("`fields` of `{}` must be an array", name.fullname()),
            )
        })?;
        let inner_ns = name.namespace.clone();
        // Register before the fields so that the record may refer to itself.
        let id = self.register(Named {
            name: name.clone(),
            aliases,
            doc,
            kind: NamedKind::Record {
                fields: Vec::new(),
                error,
            },
            span: j.span,
            name_span,
            pointer: ptr.to_string(),
            external: false,
        });
        let mut fields: Vec<Field> = Vec::with_capacity(fields_arr.len());
        for (i, fj) in fields_arr.iter().enumerate() {
            let fptr = format!("{ptr}/fields/{i}");
            if fj.as_object().is_none() {
                return Err(SchemaError::at(
                    fj.span,
                    &fptr,
                    format!("a field must be an object, found {}", fj.kind()),
                ));
            }
            let mut seen = HashSet::new();
            for (k, _) in fj.as_object().unwrap_or_default() {
                if !seen.insert(k.name.as_str()) {
                    return Err(SchemaError::at(
                        k.span,
                        &fptr,
                        format!("duplicate key `{}` in field", k.name),
                    ));
                }
            }
            let fname_j = fj
                .get("name")
                .ok_or_else(|| SchemaError::at(fj.span, &fptr, "field has no `name`"))?;
            let fname = fname_j.as_str().ok_or_else(|| {
                SchemaError::at(fname_j.span, &fptr, "field `name` must be a string")
            })?;
            if !valid_name(fname) {
                return Err(SchemaError::at(fname_j.span, &fptr, format!("invalid field name `{fname}`: a name starts with a letter or `_` and holds only letters, digits and `_`")));
            }
            if fields.iter().any(|f| f.name == fname) {
                return Err(SchemaError::at(
                    fname_j.span,
                    &fptr,
                    format!("field `{fname}` appears twice in `{}`", name.fullname()),
                ));
            }
            let tj = fj.get("type").ok_or_else(|| {
                SchemaError::at(fj.span, &fptr, format!("field `{fname}` has no `type`"))
            })?;
            let ty = self.ty(tj, inner_ns.as_deref(), &format!("{fptr}/type"))?;
            let default = fj.get("default").cloned();
            if let Some(d) = &default {
                if let Err(why) = validate_default(&self.named, &ty, d) {
                    return Err(SchemaError::at(
                        d.span,
                        &format!("{fptr}/default"),
                        format!(
                            "invalid default for field `{fname}` of type {}: {why}",
                            describe(&self.named, &ty)
                        ),
                    ));
                }
            }
            let order = match fj.get("order") {
                None => Order::Ascending,
                Some(o) => match o.as_str() {
                    Some("ascending") => Order::Ascending,
                    Some("descending") => Order::Descending,
                    Some("ignore") => Order::Ignore,
                    _ => {
                        return Err(SchemaError::at(
                            o.span,
                            &fptr,
                            "`order` must be \"ascending\", \"descending\" or \"ignore\"",
                        ))
                    }
                },
            };
            let mut faliases = Vec::new();
            if let Some(a) = fj.get("aliases") {
                let arr = a.as_array().ok_or_else(|| {
                    SchemaError::at(a.span, &fptr, "`aliases` must be an array of strings")
                })?;
                for al in arr {
                    let s = al.as_str().ok_or_else(|| {
                        SchemaError::at(al.span, &fptr, "`aliases` must be an array of strings")
                    })?;
                    // any string, as for the aliases of named types
                    faliases.push(s.to_string());
                }
            }
            fields.push(Field {
                name: fname.to_string(),
                aliases: faliases,
                doc: doc_of(fj, &fptr)?,
                ty,
                default,
                order,
                span: fj.span,
                name_span: fname_j.span,
                pointer: fptr,
            });
        }
        self.named[id].kind = NamedKind::Record { fields, error };
        Ok(Self::named_ty(id, j, ptr))
    }

    fn enumeration(&mut self, j: &Json, ns: Option<&str>, ptr: &str) -> Result<Ty, SchemaError> {
        let (name, aliases, doc, name_span) = self.define(j, ns, ptr)?;
        let sj = j.get("symbols").ok_or_else(|| {
            SchemaError::at(
                j.span,
                ptr,
                format!("enum `{}` has no `symbols`", name.fullname()),
            )
        })?;
        let arr = sj.as_array().ok_or_else(|| {
            SchemaError::at(sj.span, ptr, "`symbols` must be an array of strings")
        })?;
        let mut symbols: Vec<String> = Vec::with_capacity(arr.len());
        for (i, s) in arr.iter().enumerate() {
            let sym = s.as_str().ok_or_else(|| {
                SchemaError::at(
                    s.span,
                    &format!("{ptr}/symbols/{i}"),
                    "`symbols` must be an array of strings",
                )
            })?;
            if !valid_name(sym) {
                return Err(SchemaError::at(s.span, &format!("{ptr}/symbols/{i}"), format!("invalid enum symbol `{sym}`: a symbol starts with a letter or `_` and holds only letters, digits and `_`")));
            }
            if symbols.iter().any(|x| x == sym) {
                return Err(SchemaError::at(
                    s.span,
                    &format!("{ptr}/symbols/{i}"),
                    format!("duplicate enum symbol `{sym}`"),
                ));
            }
            symbols.push(sym.to_string());
        }
        let default = match j.get("default") {
            None => None,
            Some(d) => {
                let sym = d.as_str().ok_or_else(|| {
                    SchemaError::at(
                        d.span,
                        ptr,
                        "enum `default` must be a string naming a symbol",
                    )
                })?;
                if !symbols.iter().any(|s| s == sym) {
                    return Err(SchemaError::at(
                        d.span,
                        ptr,
                        format!(
                            "enum default `{sym}` is not one of the symbols of `{}`",
                            name.fullname()
                        ),
                    ));
                }
                Some(sym.to_string())
            }
        };
        let id = self.register(Named {
            name,
            aliases,
            doc,
            kind: NamedKind::Enum { symbols, default },
            span: j.span,
            name_span,
            pointer: ptr.to_string(),
            external: false,
        });
        Ok(Self::named_ty(id, j, ptr))
    }

    fn fixed(&mut self, j: &Json, ns: Option<&str>, ptr: &str) -> Result<Ty, SchemaError> {
        let (name, aliases, doc, name_span) = self.define(j, ns, ptr)?;
        let sj = j.get("size").ok_or_else(|| {
            SchemaError::at(
                j.span,
                ptr,
                format!("fixed `{}` has no `size`", name.fullname()),
            )
        })?;
        let size = sj
            .as_i64()
            .filter(|n| *n >= 0 && *n <= i32::MAX as i64)
            .ok_or_else(|| {
                SchemaError::at(sj.span, ptr, "fixed `size` must be a non-negative integer")
            })? as usize;
        let (logical, ignored_logical) = logical_for(j, &TyKind::Bytes, Some(size));
        let id = self.register(Named {
            name,
            aliases,
            doc,
            kind: NamedKind::Fixed {
                size,
                logical,
                ignored_logical,
            },
            span: j.span,
            name_span,
            pointer: ptr.to_string(),
            external: false,
        });
        Ok(Self::named_ty(id, j, ptr))
    }
}

fn doc_of(j: &Json, ptr: &str) -> Result<Option<String>, SchemaError> {
    match j.get("doc") {
        None => Ok(None),
        Some(d) => match &d.value {
            JsonValue::String(s) => Ok(Some(s.clone())),
            JsonValue::Null => Ok(None),
            _ => Err(SchemaError::at(d.span, ptr, "`doc` must be a string")),
        },
    }
}

fn describe(named: &[Named], ty: &Ty) -> String {
    let s = Schema {
        root: Ty::new(TyKind::Null),
        named: named.to_vec(),
    };
    ty.describe(&s)
}

/// Reads a logical type annotation. `fixed_size` is `Some` when the underlying type is fixed.
fn logical_for(
    j: &Json,
    kind: &TyKind,
    fixed_size: Option<usize>,
) -> (Option<Logical>, Option<IgnoredLogical>) {
    let Some(lj) = j.get("logicalType") else {
        return (None, None);
    };
    let Some(lt) = lj.as_str() else {
        return (
            None,
            Some(IgnoredLogical {
                logical_type: lj.kind().to_string(),
                reason: "`logicalType` must be a string".into(),
                span: lj.span,
            }),
        );
    };
    let ignore = |reason: String| {
        (
            None,
            Some(IgnoredLogical {
                logical_type: lt.to_string(),
                reason,
                span: lj.span,
            }),
        )
    };
    let on = |want: &str| format!("`{lt}` applies to {want} only");
    let is_fixed = fixed_size.is_some();
    let l = match lt {
        "decimal" => {
            if !(is_fixed || matches!(kind, TyKind::Bytes)) {
                return ignore(on("bytes or fixed"));
            }
            let precision = match j.get("precision").map(|p| p.as_i64()) {
                Some(Some(p)) if p > 0 && p <= u32::MAX as i64 => p as u32,
                Some(_) => return ignore("decimal `precision` must be a positive integer".into()),
                None => return ignore("decimal needs a `precision`".into()),
            };
            let scale = match j.get("scale").map(|p| p.as_i64()) {
                None => 0,
                Some(Some(s)) if s >= 0 && s <= u32::MAX as i64 => s as u32,
                Some(_) => return ignore("decimal `scale` must be a non-negative integer".into()),
            };
            if scale > precision {
                return ignore(format!(
                    "decimal scale {scale} is greater than its precision {precision}"
                ));
            }
            if let Some(size) = fixed_size {
                let max = max_decimal_digits(size);
                if precision as u64 > max {
                    return ignore(format!(
                        "fixed({size}) cannot hold {precision} decimal digits (at most {max})"
                    ));
                }
            }
            Logical::Decimal { precision, scale }
        }
        "big-decimal" if matches!(kind, TyKind::Bytes) && !is_fixed => Logical::BigDecimal,
        "uuid" => match (kind, fixed_size) {
            (TyKind::String, None) | (_, Some(16)) => Logical::Uuid,
            _ => return ignore(on("string or fixed(16)")),
        },
        "date" if matches!(kind, TyKind::Int) => Logical::Date,
        "time-millis" if matches!(kind, TyKind::Int) => Logical::TimeMillis,
        "time-micros" if matches!(kind, TyKind::Long) => Logical::TimeMicros,
        "timestamp-millis" if matches!(kind, TyKind::Long) => Logical::TimestampMillis,
        "timestamp-micros" if matches!(kind, TyKind::Long) => Logical::TimestampMicros,
        "timestamp-nanos" if matches!(kind, TyKind::Long) => Logical::TimestampNanos,
        "local-timestamp-millis" if matches!(kind, TyKind::Long) => Logical::LocalTimestampMillis,
        "local-timestamp-micros" if matches!(kind, TyKind::Long) => Logical::LocalTimestampMicros,
        "local-timestamp-nanos" if matches!(kind, TyKind::Long) => Logical::LocalTimestampNanos,
        "duration" if fixed_size == Some(12) => Logical::Duration,
        "big-decimal" => return ignore(on("bytes")),
        "date" | "time-millis" => return ignore(on("int")),
        "time-micros"
        | "timestamp-millis"
        | "timestamp-micros"
        | "timestamp-nanos"
        | "local-timestamp-millis"
        | "local-timestamp-micros"
        | "local-timestamp-nanos" => return ignore(on("long")),
        "duration" => return ignore(on("fixed(12)")),
        _ => return ignore(format!("unknown logical type `{lt}`")),
    };
    (Some(l), None)
}

/// The most decimal digits a two's-complement number of `size` bytes always holds.
pub fn max_decimal_digits(size: usize) -> u64 {
    if size == 0 {
        return 0;
    }
    // floor(log10(2^(8*size - 1) - 1))
    ((8 * size as u64 - 1) as f64 * std::f64::consts::LOG10_2).floor() as u64
}
