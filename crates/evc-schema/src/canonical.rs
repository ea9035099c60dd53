//! Parsing Canonical Form, CRC-64-AVRO (Rabin) fingerprints, and writing a schema back to JSON.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use crate::json::write_string;
use crate::model::*;

/// The empty CRC-64-AVRO fingerprint (specification, "Schema Fingerprints").
pub const CRC64_AVRO_EMPTY: u64 = 0xc15d_213a_a4d7_a795;

const fn rabin_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut fp = i as u64;
        let mut j = 0;
        while j < 8 {
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & (0u64.wrapping_sub(fp & 1)));
            j += 1;
        }
        table[i] = fp;
        i += 1;
    }
    table
}

static RABIN: [u64; 256] = rabin_table();

/// The 64-bit Rabin fingerprint (CRC-64-AVRO) of `bytes`.
pub fn rabin64(bytes: &[u8]) -> u64 {
    let mut fp = CRC64_AVRO_EMPTY;
    for &b in bytes {
        fp = (fp >> 8) ^ RABIN[((fp ^ b as u64) & 0xff) as usize];
    }
    fp
}

impl Schema {
    /// The Parsing Canonical Form (specification 1.12): full names, only the attributes that
    /// matter for reading, fixed attribute order, no white space.
    pub fn canonical_form(&self) -> String {
        let mut out = String::new();
        let mut seen = HashSet::new();
        self.pcf(&self.root, &mut out, &mut seen);
        out
    }

    /// CRC-64-AVRO fingerprint of the canonical form.
    pub fn fingerprint(&self) -> u64 {
        rabin64(self.canonical_form().as_bytes())
    }

    fn pcf(&self, ty: &Ty, out: &mut String, seen: &mut HashSet<NamedId>) {
        match &ty.kind {
            TyKind::Null => out.push_str("\"null\""),
            TyKind::Boolean => out.push_str("\"boolean\""),
            TyKind::Int => out.push_str("\"int\""),
            TyKind::Long => out.push_str("\"long\""),
            TyKind::Float => out.push_str("\"float\""),
            TyKind::Double => out.push_str("\"double\""),
            TyKind::Bytes => out.push_str("\"bytes\""),
            TyKind::String => out.push_str("\"string\""),
            TyKind::Array(items) => {
                out.push_str("{\"type\":\"array\",\"items\":");
                self.pcf(items, out, seen);
                out.push('}');
            }
            TyKind::Map(values) => {
                out.push_str("{\"type\":\"map\",\"values\":");
                self.pcf(values, out, seen);
                out.push('}');
            }
            TyKind::Union(branches) => {
                out.push('[');
                for (i, b) in branches.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.pcf(b, out, seen);
                }
                out.push(']');
            }
            TyKind::Named(id) => {
                let n = &self.named[*id];
                if !seen.insert(*id) {
                    write_string(out, &n.name.fullname());
                    return;
                }
                out.push_str("{\"name\":");
                write_string(out, &n.name.fullname());
                match &n.kind {
                    NamedKind::Record { fields, .. } => {
                        out.push_str(",\"type\":\"record\",\"fields\":[");
                        for (i, f) in fields.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            out.push_str("{\"name\":");
                            write_string(out, &f.name);
                            out.push_str(",\"type\":");
                            self.pcf(&f.ty, out, seen);
                            out.push('}');
                        }
                        out.push_str("]}");
                    }
                    NamedKind::Enum { symbols, .. } => {
                        out.push_str(",\"type\":\"enum\",\"symbols\":[");
                        for (i, s) in symbols.iter().enumerate() {
                            if i > 0 {
                                out.push(',');
                            }
                            write_string(out, s);
                        }
                        out.push_str("]}");
                    }
                    NamedKind::Fixed { size, .. } => {
                        out.push_str(&format!(",\"type\":\"fixed\",\"size\":{size}}}"));
                    }
                }
            }
        }
    }

    /// The schema as JSON with every attribute of the model kept (docs, defaults, aliases, order,
    /// logical types; custom properties are not part of the model). Named types imported from
    /// referenced schemas are written as references by full name.
    pub fn to_json(&self) -> Value {
        self.write_json(false)
    }

    /// The schema as JSON that the `apache-avro` crate (0.21) accepts: `error` is written as
    /// `record`, and logical types it does not know on `fixed` (uuid) or that were ignored are
    /// left out. The binary encoding is the same.
    pub fn to_apache_avro_json(&self) -> Value {
        self.write_json(true)
    }

    fn write_json(&self, lower: bool) -> Value {
        let mut seen = HashSet::new();
        self.json_ty(&self.root, None, lower, &mut seen)
    }

    fn json_ty(
        &self,
        ty: &Ty,
        ns: Option<&str>,
        lower: bool,
        seen: &mut HashSet<NamedId>,
    ) -> Value {
        let prim = |name: &str| -> Value {
            match ty.logical {
                Some(l) => {
                    let mut m = Map::new();
                    m.insert("type".into(), json!(name));
                    m.insert("logicalType".into(), json!(l.name()));
                    if let Logical::Decimal { precision, scale } = l {
                        m.insert("precision".into(), json!(precision));
                        m.insert("scale".into(), json!(scale));
                    }
                    Value::Object(m)
                }
                None => json!(name),
            }
        };
        match &ty.kind {
            TyKind::Null => prim("null"),
            TyKind::Boolean => prim("boolean"),
            TyKind::Int => prim("int"),
            TyKind::Long => prim("long"),
            TyKind::Float => prim("float"),
            TyKind::Double => prim("double"),
            TyKind::Bytes => prim("bytes"),
            TyKind::String => prim("string"),
            TyKind::Array(items) => {
                json!({"type": "array", "items": self.json_ty(items, ns, lower, seen)})
            }
            TyKind::Map(values) => {
                json!({"type": "map", "values": self.json_ty(values, ns, lower, seen)})
            }
            TyKind::Union(branches) => Value::Array(
                branches
                    .iter()
                    .map(|b| self.json_ty(b, ns, lower, seen))
                    .collect(),
            ),
            TyKind::Named(id) => {
                let n = &self.named[*id];
                // Types imported from referenced schemas are written by name, so the text parses
                // again alongside its references; apache-avro gets them inline (it has no
                // notion of references).
                // apache-avro 0.21 does not register the name of a `fixed` it reads as a
                // `decimal` or `duration`, so a reference to one fails to resolve when data is
                // read ("Unresolved schema reference"): the lowered form repeats the definition.
                let unnamed_in_apache = lower
                    && matches!(
                        n.kind,
                        NamedKind::Fixed {
                            logical: Some(Logical::Decimal { .. } | Logical::Duration),
                            ..
                        }
                    );
                if (!seen.insert(*id) && !unnamed_in_apache) || (n.external && !lower) {
                    return json!(n.name.fullname());
                }
                let mut m = Map::new();
                let type_name = match (&n.kind, lower) {
                    (NamedKind::Record { .. }, true) => "record",
                    _ => n.kind_name(),
                };
                m.insert("type".into(), json!(type_name));
                m.insert("name".into(), json!(n.name.name));
                if n.name.namespace.as_deref() != ns {
                    m.insert(
                        "namespace".into(),
                        json!(n.name.namespace.clone().unwrap_or_default()),
                    );
                }
                if let Some(doc) = &n.doc {
                    m.insert("doc".into(), json!(doc));
                }
                // apache-avro panics on an alias that is not an ASCII name; it cannot use one
                // anyway, so the lowered form leaves such aliases out
                let aliases: Vec<String> = n
                    .aliases
                    .iter()
                    .map(Name::fullname)
                    .filter(|a| !lower || apache_avro_name(a))
                    .collect();
                if !aliases.is_empty() {
                    m.insert("aliases".into(), json!(aliases));
                }
                let inner = n.name.namespace.as_deref();
                match &n.kind {
                    NamedKind::Record { fields, .. } => {
                        let fs: Vec<Value> = fields
                            .iter()
                            .map(|f| {
                                let mut fm = Map::new();
                                fm.insert("name".into(), json!(f.name));
                                fm.insert("type".into(), self.json_ty(&f.ty, inner, lower, seen));
                                if let Some(doc) = &f.doc {
                                    fm.insert("doc".into(), json!(doc));
                                }
                                if let Some(d) = &f.default {
                                    if !(lower && self.apache_avro_cannot_default(&f.ty, d)) {
                                        fm.insert("default".into(), d.to_serde());
                                    }
                                }
                                let aliases: Vec<&String> = f
                                    .aliases
                                    .iter()
                                    .filter(|a| !lower || apache_avro_name(a))
                                    .collect();
                                if !aliases.is_empty() {
                                    fm.insert("aliases".into(), json!(aliases));
                                }
                                match f.order {
                                    Order::Ascending => {}
                                    Order::Descending => {
                                        fm.insert("order".into(), json!("descending"));
                                    }
                                    Order::Ignore => {
                                        fm.insert("order".into(), json!("ignore"));
                                    }
                                }
                                Value::Object(fm)
                            })
                            .collect();
                        m.insert("fields".into(), Value::Array(fs));
                    }
                    NamedKind::Enum { symbols, default } => {
                        m.insert("symbols".into(), json!(symbols));
                        if let Some(d) = default {
                            m.insert("default".into(), json!(d));
                        }
                    }
                    NamedKind::Fixed { size, logical, .. } => {
                        m.insert("size".into(), json!(size));
                        match logical {
                            Some(Logical::Uuid) if lower => {}
                            Some(l) => {
                                m.insert("logicalType".into(), json!(l.name()));
                                if let Logical::Decimal { precision, scale } = l {
                                    m.insert("precision".into(), json!(precision));
                                    m.insert("scale".into(), json!(scale));
                                }
                            }
                            None => {}
                        }
                    }
                }
                Value::Object(m)
            }
        }
    }
}

/// A `uuid` string default apache-avro accepts: 8-4-4-4-12 hex digits.
fn hyphenated_uuid(d: &crate::json::Json) -> bool {
    d.as_str().is_some_and(|s| {
        s.len() == 36
            && s.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            })
    })
}

/// What apache-avro 0.21 cannot take in a schema that Avro accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApacheAvroLimit {
    #[error("apache-avro 0.21 cannot take the name `{0}` (it accepts ASCII names only)")]
    NonAsciiName(String),
    #[error("apache-avro 0.21 reads `{0}` of the null namespace as a type of the enclosing namespace, where another `{0}` is defined")]
    NullNamespaceClash(String),
}

/// A full name as apache-avro 0.21 accepts it: dotted ASCII identifiers.
pub(crate) fn apache_avro_name(s: &str) -> bool {
    s.split('.').all(|p| {
        let mut c = p.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    })
}

impl Schema {
    /// What in this schema apache-avro 0.21 cannot take, if anything: names outside ASCII (it
    /// panics on them), or a type in the null namespace whose short name a namespaced type also
    /// has (it moves null-namespace types into the enclosing namespace, where the two clash).
    pub fn apache_avro_limit(&self) -> Option<ApacheAvroLimit> {
        for n in &self.named {
            if !apache_avro_name(&n.name.fullname()) {
                return Some(ApacheAvroLimit::NonAsciiName(n.name.fullname()));
            }
            match &n.kind {
                NamedKind::Record { fields, .. } => {
                    if let Some(f) = fields.iter().find(|f| !apache_avro_name(&f.name)) {
                        return Some(ApacheAvroLimit::NonAsciiName(f.name.clone()));
                    }
                }
                NamedKind::Enum { symbols, .. } => {
                    if let Some(s) = symbols.iter().find(|s| !apache_avro_name(s)) {
                        return Some(ApacheAvroLimit::NonAsciiName(s.clone()));
                    }
                }
                NamedKind::Fixed { .. } => {}
            }
        }
        for n in self.named.iter().filter(|n| n.name.namespace.is_none()) {
            if self
                .named
                .iter()
                .any(|m| m.name.namespace.is_some() && m.name.name == n.name.name)
            {
                return Some(ApacheAvroLimit::NullNamespaceClash(n.name.name.clone()));
            }
        }
        None
    }

    /// apache-avro 0.21 cannot hold a default that is, or holds, a `decimal`, `big-decimal` or
    /// `duration` value (it resolves the JSON string as a string and fails) or a `uuid` string
    /// that is not a hyphenated uuid (it parses and refuses it), so the lowered form leaves such
    /// defaults out.
    fn apache_avro_cannot_default(&self, ty: &Ty, d: &crate::json::Json) -> bool {
        use crate::json::JsonValue;
        match &ty.kind {
            TyKind::Bytes => matches!(
                ty.logical,
                Some(Logical::Decimal { .. } | Logical::BigDecimal)
            ),
            TyKind::String => matches!(ty.logical, Some(Logical::Uuid)) && !hyphenated_uuid(d),
            TyKind::Array(items) => match &d.value {
                JsonValue::Array(xs) => {
                    xs.iter().any(|x| self.apache_avro_cannot_default(items, x))
                }
                _ => false,
            },
            TyKind::Map(values) => match &d.value {
                JsonValue::Object(m) => m
                    .iter()
                    .any(|(_, x)| self.apache_avro_cannot_default(values, x)),
                _ => false,
            },
            TyKind::Union(bs) => bs
                .iter()
                .find(|b| crate::validate_default(&self.named, b, d).is_ok())
                .is_some_and(|b| self.apache_avro_cannot_default(b, d)),
            TyKind::Named(id) => match &self.named[*id].kind {
                NamedKind::Fixed { logical, .. } => matches!(
                    logical,
                    Some(Logical::Decimal { .. } | Logical::BigDecimal | Logical::Duration)
                ),
                NamedKind::Record { fields, .. } => {
                    fields
                        .iter()
                        .any(|f| match d.get(&f.name).or(f.default.as_ref()) {
                            Some(x) => self.apache_avro_cannot_default(&f.ty, x),
                            None => false,
                        })
                }
                NamedKind::Enum { .. } => false,
            },
            _ => false,
        }
    }
}
