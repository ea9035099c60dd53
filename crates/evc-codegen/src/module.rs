//! One schema → one Rust module: the entry point, and what makes a record an event.

use evc_schema::{Logical, NamedKind, Schema, TyKind};
use serde_json::json;

use crate::docs::json_without_hidden;
use crate::model::{Ctx, Gen};
use crate::names::camel;
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
    /// Rust name for a top-level type that has no name of its own (a union, a primitive, an
    /// array or map), made CamelCase.
    pub root_name: String,
    pub event: Option<EventInfo>,
}

/// A generated module and the Rust name of its top-level type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedModule {
    /// The file contents, unformatted.
    pub code: String,
    /// The Rust name of the type for the schema's top level (it implements `AvroSchema`).
    pub root_type: String,
}

/// Generates the Rust module (file contents, unformatted) for one schema.
pub fn generate_module(
    templates: &Templates,
    schema: &Schema,
    opts: &ModuleOptions,
) -> Result<String, CodegenError> {
    generate_module_with_root(templates, schema, opts).map(|m| m.code)
}

/// [`generate_module`], also saying which Rust type stands for the top level.
pub fn generate_module_with_root(
    templates: &Templates,
    schema: &Schema,
    opts: &ModuleOptions,
) -> Result<GeneratedModule, CodegenError> {
    let mut g = Gen::new(templates, schema);
    for id in 0..schema.named.len() {
        g.named_item(id)?;
    }
    if let Some(ev) = &opts.event {
        match schema.root_named() {
            Some(n) if matches!(n.kind, NamedKind::Record { .. }) => {}
            _ => {
                return Err(CodegenError::EventNotRecord {
                    name: schema.root_name(),
                    topic: ev.topic.clone(),
                })
            }
        }
    }
    let hint = camel(&opts.root_name);
    let root_name = match &schema.root.kind {
        TyKind::Named(id) if !g.is_logical_fixed(*id) => g.names[id].1.clone(),
        TyKind::Union(branches) if !branches.iter().any(|b| b.is_null()) && branches.len() >= 2 => {
            let ctx = Ctx {
                module: Vec::new(),
                owner: None,
                hint,
            };
            g.union_enum(&schema.root, &ctx)?
                .expect("two or more non-null branches make an enum")
        }
        _ => {
            let name = g.claim_generated(&[], &hint, "Root");
            g.root_wrapper(&name)?;
            name
        }
    };
    // the JSON goes into a raw string literal: no character rustc rejects in literals
    let schema_json = json_without_hidden(&serde_json::to_string(&schema.to_json()).expect("json"));
    let event = match &opts.event {
        None => None,
        Some(ev) => Some(g.event_view(ev)?),
    };
    let impl_code = templates.render(
        "schema_impl",
        &json!({
            "name": root_name,
            "fullname": schema.root_name(),
            "schema_json": rust_raw_string(&schema_json),
            "fingerprint": format!("0x{:016x}", schema.fingerprint()),
            "event": event,
        }),
    )?;
    g.items.entry(Vec::new()).or_default().push(impl_code);
    let body = g.assemble(&[]);
    let code = templates.render("file", &json!({"source": opts.source, "body": body}))?;
    Ok(GeneratedModule {
        code,
        root_type: root_name,
    })
}

pub(crate) fn rust_raw_string(s: &str) -> String {
    let mut hashes = 1;
    while s.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let h = "#".repeat(hashes);
    format!("r{h}\"{s}\"{h}")
}

impl Gen<'_> {
    pub(crate) fn event_view(&mut self, ev: &EventInfo) -> Result<serde_json::Value, CodegenError> {
        let rec = self
            .schema
            .root_named()
            .expect("checked: an event is a record");
        let field = |name: &str| rec.fields().iter().find(|f| f.name == name);
        let root = self
            .schema
            .lookup(&rec.name.fullname())
            .expect("the root is named");
        let rust_field = |avro: &str| {
            rec.fields()
                .iter()
                .position(|f| f.name == avro)
                .map(|i| self.fields[&root][i].clone())
        };
        let pk = field(&ev.partition_key).ok_or_else(|| CodegenError::MissingPartitionKey {
            record: rec.name.fullname(),
            field: ev.partition_key.clone(),
        })?;
        let pk_name = rust_field(&pk.name).expect("a field of the record");
        let partition_key_expr = match (&pk.ty.kind, pk.ty.logical) {
            (TyKind::String, None) => format!("::core::clone::Clone::clone(&self.{pk_name})"),
            (TyKind::String | TyKind::Int | TyKind::Long, _) => {
                format!("::std::string::ToString::to_string(&self.{pk_name})")
            }
            _ => {
                return Err(CodegenError::PartitionKeyType {
                    field: pk.name.clone(),
                    found: pk.ty.describe(self.schema),
                })
            }
        };
        let event_id_expr = ev.event_id_field.as_deref().and_then(field).and_then(|f| {
            let n = rust_field(&f.name)?;
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
}
