//! How the registry decides that two schema submissions are "the same schema".
//!
//! Confluent replaces the submitted text by its re-serialised compact JSON (`Schema.toString()`:
//! white space and attribute order do not matter, but docs, defaults, aliases and custom
//! properties do) and keys schemas by a hash of that string plus the references. We do the same
//! with our own writer over the submitted JSON document ([`canonical_text`]):
//! - no white space; numbers are kept exactly as written; strings are re-escaped minimally;
//! - attributes of schema objects are written in a fixed order (`type`, `name`, `namespace`,
//!   `doc`, `aliases`, `fields`, `symbols`, `items`, `values`, `size`, `logicalType`, `precision`,
//!   `scale`, `default`, `order`, then any others sorted by name); field objects start with
//!   `name`, `type`, `doc`, `default`, `order`, `aliases`; objects inside values (defaults,
//!   custom properties) have their keys sorted;
//! - names of record, enum and fixed types are written as Avro Java's `Schema.toString()` writes
//!   them: the simple name, with `namespace` only when it differs from the enclosing one, and
//!   references to named types relative to the enclosing namespace; so a namespace written out
//!   (`"name":"shop.Line"`, `"namespace":"shop"` on a nested record, `"items":"shop.Line"`) or
//!   inherited gives the same text, and the same id;
//! - everything else is kept, including custom properties (`connect.name`, `java-class`, ...).
//!
//! We do not use the Parsing Canonical Form for identity: it drops docs, defaults and aliases,
//! which Confluent treats as different schemas (a changed default changes compatibility).
//!
//! With `normalize=true` the text is first rewritten by evc-schema's `Schema::to_json()`
//! (primitive shorthands like `{"type":"int"}` become `"int"`, namespaces are resolved, and
//! attributes evc-schema does not model, i.e. custom properties, are dropped), which is
//! close to Confluent's `normalize()`. Schemas with references are not normalised this way,
//! because `to_json()` writes the referenced named types inline.
//!
//! The identity key is SHA-256 over the schema type, the canonical text and the references
//! (`[{name, subject, version}]` in the order given, versions resolved to numbers).

use evc_registry_api::{Metadata, RuleSet};
use evc_schema::json::{self, write_string, Json, JsonValue, Key};
use evc_schema::Schema;
use sha2::{Digest, Sha256};

pub use evc_registry_api::SchemaReference as Reference;

const SCHEMA_KEYS: &[&str] = &[
    "type",
    "name",
    "namespace",
    "doc",
    "aliases",
    "fields",
    "symbols",
    "items",
    "values",
    "size",
    "logicalType",
    "precision",
    "scale",
    "default",
    "order",
];

const FIELD_KEYS: &[&str] = &["name", "type", "doc", "default", "order", "aliases"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// A schema (a type definition or a type name or a union).
    Schema,
    /// A record field.
    Field,
    /// Anything else: default values, custom properties.
    Data,
}

/// The canonical compact text of a schema document. See the module documentation.
pub fn canonical_text(doc: &Json) -> String {
    let mut out = String::new();
    write(doc, Ctx::Schema, None, &mut out);
    out
}

fn rank(keys: &[&str], k: &str) -> usize {
    keys.iter().position(|x| *x == k).unwrap_or(keys.len())
}

const PRIMITIVES: &[&str] = &[
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

const NAMED: &[&str] = &["record", "error", "enum", "fixed"];

/// Splits a full name into (namespace, simple name); a name without dots takes `ns`.
fn split_name<'a>(name: &'a str, ns: Option<&'a str>) -> (Option<&'a str>, &'a str) {
    match name.rsplit_once('.') {
        Some((space, simple)) => (Some(space).filter(|s| !s.is_empty()), simple),
        None => (ns.filter(|s| !s.is_empty()), name),
    }
}

/// A type name as Avro Java writes it inside namespace `ns`: the simple name when the type
/// lives in `ns`, else the full name.
fn write_type_name(name: &str, ns: Option<&str>, out: &mut String) {
    if PRIMITIVES.contains(&name) {
        write_string(out, name);
        return;
    }
    let (space, simple) = split_name(name, ns);
    if space == ns.filter(|s| !s.is_empty()) {
        write_string(out, simple);
    } else {
        write_string(out, name);
    }
}

fn write(j: &Json, ctx: Ctx, ns: Option<&str>, out: &mut String) {
    match &j.value {
        JsonValue::Null => out.push_str("null"),
        JsonValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JsonValue::Number(n) => out.push_str(n),
        JsonValue::String(s) if ctx == Ctx::Schema => write_type_name(s, ns, out),
        JsonValue::String(s) => write_string(out, s),
        JsonValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // A union's branches are schemas; arrays elsewhere are data.
                let inner = if ctx == Ctx::Schema {
                    Ctx::Schema
                } else {
                    Ctx::Data
                };
                write(item, inner, ns, out);
            }
            out.push(']');
        }
        JsonValue::Object(members) => write_object(members, ctx, ns, out),
    }
}

fn write_object(members: &[(Key, Json)], ctx: Ctx, ns: Option<&str>, out: &mut String) {
    let order: &[&str] = match ctx {
        Ctx::Schema => SCHEMA_KEYS,
        Ctx::Field => FIELD_KEYS,
        Ctx::Data => &[],
    };
    let get = |k: &str| members.iter().find(|(m, _)| m.name == k).map(|(_, v)| v);
    // A named type definition: its name is written relative to the enclosing namespace, and
    // the namespace only when it differs (Avro Java's `Schema.toString()`), so a namespace
    // written out or inherited gives the same text.
    let type_name = get("type").and_then(Json::as_str);
    let named = ctx == Ctx::Schema && type_name.is_some_and(|t| NAMED.contains(&t));
    let mut own_ns = ns;
    let mut simple = None;
    if named {
        if let Some(name) = get("name").and_then(Json::as_str) {
            let declared = get("namespace").and_then(Json::as_str).or(ns);
            let (space, s) = split_name(name, declared);
            own_ns = space;
            simple = Some(s);
        }
    }
    let mut sorted: Vec<&(Key, Json)> = members
        .iter()
        .filter(|(k, _)| !(simple.is_some() && k.name == "namespace"))
        .collect();
    // Stable: repeated keys (only possible in data) keep their relative order.
    sorted.sort_by(|(a, _), (b, _)| {
        (rank(order, &a.name), &a.name).cmp(&(rank(order, &b.name), &b.name))
    });
    out.push('{');
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
    };
    for (k, v) in sorted {
        if let (Some(s), "name") = (simple, k.name.as_str()) {
            sep(out);
            out.push_str("\"name\":");
            write_string(out, s);
            if own_ns != ns.filter(|n| !n.is_empty()) {
                out.push_str(",\"namespace\":");
                write_string(out, own_ns.unwrap_or(""));
            }
            continue;
        }
        sep(out);
        write_string(out, &k.name);
        out.push(':');
        match (ctx, k.name.as_str()) {
            // `"type": "record"` and friends are keywords, not type names
            (Ctx::Schema, "type")
                if v.as_str()
                    .is_some_and(|t| NAMED.contains(&t) || t == "array" || t == "map") =>
            {
                write(v, Ctx::Data, ns, out)
            }
            (Ctx::Schema, "type" | "items" | "values") | (Ctx::Field, "type") => {
                write(v, Ctx::Schema, own_ns, out)
            }
            (Ctx::Schema, "fields") => match &v.value {
                JsonValue::Array(fs) => {
                    out.push('[');
                    for (n, f) in fs.iter().enumerate() {
                        if n > 0 {
                            out.push(',');
                        }
                        write(f, Ctx::Field, own_ns, out);
                    }
                    out.push(']');
                }
                _ => write(v, Ctx::Data, own_ns, out),
            },
            _ => write(v, Ctx::Data, own_ns, out),
        }
    }
    out.push('}');
}

/// The normalised canonical text (`normalize=true`), or `None` when it does not apply.
pub fn normalized_text(schema: &Schema, has_refs: bool, max_depth: usize) -> Option<String> {
    if has_refs {
        return None;
    }
    let text = serde_json::to_string(&schema.to_json()).ok()?;
    let doc = json::parse_with_depth(&text, max_depth.max(json::DEFAULT_MAX_DEPTH)).ok()?;
    Some(canonical_text(&doc))
}

/// The identity key of a schema: its type, canonical text and resolved references, and its
/// data contract (metadata and rule set; an empty one counts as none).
pub fn identity_hash(
    schema_type: &str,
    text: &str,
    refs: &[Reference],
    metadata: Option<&Metadata>,
    rule_set: Option<&RuleSet>,
) -> String {
    let mut h = Sha256::new();
    h.update(schema_type.as_bytes());
    h.update([0u8]);
    h.update(text.as_bytes());
    h.update([0u8]);
    h.update(serde_json::to_string(refs).unwrap_or_default().as_bytes());
    if let Some(m) = metadata.filter(|m| !m.is_empty()) {
        h.update(b"\0metadata\0");
        h.update(serde_json::to_string(m).unwrap_or_default().as_bytes());
    }
    if let Some(r) = rule_set.filter(|r| !r.is_empty()) {
        h.update(b"\0ruleSet\0");
        h.update(serde_json::to_string(r).unwrap_or_default().as_bytes());
    }
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        canonical_text(&json::parse(text).unwrap())
    }

    #[test]
    fn white_space_and_attribute_order_do_not_matter() {
        let a = canon(
            r#"{ "type": "record", "name": "A", "fields": [ {"name": "x", "type": "int", "default": 1} ] }"#,
        );
        let b = canon(
            r#"{"fields":[{"default":1,"type":"int","name":"x"}],"name":"A","type":"record"}"#,
        );
        assert_eq!(a, b);
        assert_eq!(
            a,
            r#"{"type":"record","name":"A","fields":[{"name":"x","type":"int","default":1}]}"#
        );
    }

    #[test]
    fn docs_defaults_and_properties_matter() {
        let base = canon(r#"{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}"#);
        for other in [
            r#"{"type":"record","name":"A","doc":"d","fields":[{"name":"x","type":"int"}]}"#,
            r#"{"type":"record","name":"A","fields":[{"name":"x","type":"int","default":0}]}"#,
            r#"{"type":"record","name":"A","connect.name":"A","fields":[{"name":"x","type":"int"}]}"#,
        ] {
            assert_ne!(base, canon(other), "{other}");
        }
    }

    #[test]
    fn nested_types_and_unions_are_schemas() {
        let t = canon(r#"{"type":"array","items":{"name":"E","symbols":["A"],"type":"enum"}}"#);
        assert_eq!(
            t,
            r#"{"type":"array","items":{"type":"enum","name":"E","symbols":["A"]}}"#
        );
        let u = canon(r#"["null",{"values":"long","type":"map"}]"#);
        assert_eq!(u, r#"["null",{"type":"map","values":"long"}]"#);
    }

    #[test]
    fn data_objects_are_sorted_and_numbers_kept() {
        let t = canon(
            r#"{"type":"record","name":"A","fields":[{"name":"r","type":{"type":"record","name":"B","fields":[{"name":"b","type":"double"},{"name":"a","type":"long"}]},"default":{"b":1.50,"a":12345678901234567890}}]}"#,
        );
        assert!(
            t.contains(r#""default":{"a":12345678901234567890,"b":1.50}"#),
            "{t}"
        );
        // field order inside a record is significant and kept
        assert!(t.contains(r#"[{"name":"b","type":"double"},{"name":"a","type":"long"}]"#));
    }

    #[test]
    fn namespaces_written_out_or_inherited_are_the_same_schema() {
        let inherited = canon(
            r#"{"type":"record","name":"Order","namespace":"shop","fields":[
                {"name":"line","type":{"type":"record","name":"Line","fields":[{"name":"n","type":"int"}]}},
                {"name":"lines","type":{"type":"array","items":"Line"}},
                {"name":"status","type":["null",{"type":"enum","name":"Status","symbols":["A"]}]},
                {"name":"again","type":"Status"}]}"#,
        );
        let spelled_out = canon(
            r#"{"type":"record","name":"shop.Order","fields":[
                {"name":"line","type":{"type":"record","name":"Line","namespace":"shop","fields":[{"name":"n","type":"int"}]}},
                {"name":"lines","type":{"type":"array","items":"shop.Line"}},
                {"name":"status","type":["null",{"type":"enum","name":"shop.Status","symbols":["A"]}]},
                {"name":"again","type":"shop.Status"}]}"#,
        );
        assert_eq!(inherited, spelled_out);
        assert!(inherited.starts_with(r#"{"type":"record","name":"Order","namespace":"shop","#));
        // another namespace stays written, and a nested type leaving the namespace says so
        let other = canon(
            r#"{"type":"record","name":"a.R","fields":[{"name":"x","type":{"type":"fixed","name":"b.F","size":2}},{"name":"y","type":"b.F"},{"name":"z","type":{"type":"record","name":"G","namespace":"","fields":[]}}]}"#,
        );
        assert_eq!(
            other,
            r#"{"type":"record","name":"R","namespace":"a","fields":[{"name":"x","type":{"type":"fixed","name":"F","namespace":"b","size":2}},{"name":"y","type":"b.F"},{"name":"z","type":{"type":"record","name":"G","namespace":"","fields":[]}}]}"#
        );
    }

    #[test]
    fn hash_depends_on_type_text_and_references() {
        let r = vec![Reference {
            name: "a.B".into(),
            subject: "b".into(),
            version: 1,
        }];
        let h = identity_hash("AVRO", "\"a.B\"", &r, None, None);
        assert_eq!(h.len(), 64);
        assert_ne!(h, identity_hash("AVRO", "\"a.B\"", &[], None, None));
        assert_ne!(h, identity_hash("JSON", "\"a.B\"", &r, None, None));
        let mut m = Metadata::default();
        assert_eq!(h, identity_hash("AVRO", "\"a.B\"", &r, Some(&m), None));
        m.properties.insert("owner".into(), "a".into());
        assert_ne!(h, identity_hash("AVRO", "\"a.B\"", &r, Some(&m), None));
    }
}
