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

use evc_schema::json::{self, write_string, Json, JsonValue};
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
    write(doc, Ctx::Schema, &mut out);
    out
}

fn rank(keys: &[&str], k: &str) -> usize {
    keys.iter().position(|x| *x == k).unwrap_or(keys.len())
}

fn write(j: &Json, ctx: Ctx, out: &mut String) {
    match &j.value {
        JsonValue::Null => out.push_str("null"),
        JsonValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        JsonValue::Number(n) => out.push_str(n),
        JsonValue::String(s) => write_string(out, s),
        JsonValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // A union's branches are schemas; arrays elsewhere are data.
                write(
                    item,
                    if ctx == Ctx::Schema {
                        Ctx::Schema
                    } else {
                        Ctx::Data
                    },
                    out,
                );
            }
            out.push(']');
        }
        JsonValue::Object(members) => {
            let order: &[&str] = match ctx {
                Ctx::Schema => SCHEMA_KEYS,
                Ctx::Field => FIELD_KEYS,
                Ctx::Data => &[],
            };
            let mut sorted: Vec<_> = members.iter().collect();
            // Stable: repeated keys (only possible in data) keep their relative order.
            sorted.sort_by(|(a, _), (b, _)| {
                (rank(order, &a.name), &a.name).cmp(&(rank(order, &b.name), &b.name))
            });
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, &k.name);
                out.push(':');
                let inner = match (ctx, k.name.as_str()) {
                    (Ctx::Schema, "type" | "items" | "values") => Ctx::Schema,
                    (Ctx::Field, "type") => Ctx::Schema,
                    (Ctx::Schema, "fields") => Ctx::Field,
                    _ => Ctx::Data,
                };
                if inner == Ctx::Field {
                    // the `fields` array: each element is a field
                    match &v.value {
                        JsonValue::Array(fs) => {
                            out.push('[');
                            for (n, f) in fs.iter().enumerate() {
                                if n > 0 {
                                    out.push(',');
                                }
                                write(f, Ctx::Field, out);
                            }
                            out.push(']');
                        }
                        _ => write(v, Ctx::Data, out),
                    }
                } else {
                    write(v, inner, out);
                }
            }
            out.push('}');
        }
    }
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

/// The identity key of a schema.
pub fn identity_hash(schema_type: &str, text: &str, refs: &[Reference]) -> String {
    let mut h = Sha256::new();
    h.update(schema_type.as_bytes());
    h.update([0u8]);
    h.update(text.as_bytes());
    h.update([0u8]);
    h.update(serde_json::to_string(refs).unwrap_or_default().as_bytes());
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
    fn hash_depends_on_type_text_and_references() {
        let r = vec![Reference {
            name: "a.B".into(),
            subject: "b".into(),
            version: 1,
        }];
        let h = identity_hash("AVRO", "\"a.B\"", &r);
        assert_eq!(h.len(), 64);
        assert_ne!(h, identity_hash("AVRO", "\"a.B\"", &[]));
        assert_ne!(h, identity_hash("JSON", "\"a.B\"", &r));
    }
}
