//! A whole schema directory → the events crate's `generated/` folder.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use evc_catalog::Catalog;
use serde_json::json;

use crate::module::{generate_module, EventInfo, ModuleOptions};
use crate::names::{camel, snake};
use crate::{format_rust, CodegenError, Templates};

/// One generated file, relative to the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Relative path with `/` separators, e.g. `order_created/v1.rs`.
    pub path: String,
    pub contents: String,
}

/// Generates every module for `catalog`: one file per event version plus `mod.rs` with the
/// version modules, the latest re-exports and one enum per topic. `source_prefix` is how the
/// schema directory is named in `@generated` headers (e.g. `schemas`).
pub fn generate_catalog(
    templates: &Templates,
    catalog: &Catalog,
    source_prefix: &str,
) -> Result<Vec<GeneratedFile>, CodegenError> {
    let mut files = Vec::new();
    let mut modules = HashSet::new();
    let mut events_view = Vec::new();
    let mut by_version: BTreeMap<u32, Vec<serde_json::Value>> = BTreeMap::new();
    for ev in &catalog.events {
        let module = snake(&ev.name);
        if !modules.insert(module.clone()) {
            return Err(CodegenError::DuplicateEventName(ev.name.clone()));
        }
        let rust_name = camel(&ev.name);
        for v in &ev.versions {
            let source = format!("{source_prefix}/{}", v.rel_path);
            let opts = ModuleOptions {
                source: source.clone(),
                root_name: ev.name.clone(),
                event: Some(EventInfo {
                    topic: ev.topic.clone(),
                    subject: ev.subject.clone(),
                    version: v.number,
                    partition_key: ev.partition_key.clone(),
                    event_id_field: Some(catalog.config.envelope.event_id.clone()),
                }),
            };
            let code = generate_module(templates, &v.schema, &opts)
                .and_then(|c| format_rust(&c))
                .map_err(|e| CodegenError::InFile {
                    file: source,
                    source: Box::new(e),
                })?;
            files.push(GeneratedFile {
                path: format!("{module}/v{}.rs", v.number),
                contents: code,
            });
            by_version
                .entry(v.number)
                .or_default()
                .push(json!({"module": module, "name": rust_name}));
        }
        events_view.push(json!({
            "fullname": ev.fullname,
            "module": module,
            "name": rust_name,
            "versions": ev.versions.iter().map(|v| v.number).collect::<Vec<_>>(),
            "latest": ev.latest().number,
        }));
    }
    let topics: Vec<_> = catalog
        .topics()
        .map(|topic| {
            let events: Vec<_> = catalog
                .topic_events(topic)
                .map(|e| json!({"name": camel(&e.name), "fullname": e.fullname}))
                .collect();
            let enum_name = catalog.config.topics[topic]
                .rust_enum
                .clone()
                .unwrap_or_else(|| format!("{}Event", camel(topic)));
            json!({"topic": topic, "enum_name": enum_name, "events": events})
        })
        .filter(|t| t["events"].as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    let version_modules: Vec<_> = by_version
        .into_iter()
        .map(|(number, items)| json!({"number": number, "items": items}))
        .collect();
    let mod_rs = templates.render(
        "events_mod",
        &json!({
            "source": source_prefix,
            "events": events_view,
            "version_modules": version_modules,
            "topics": topics,
        }),
    )?;
    files.push(GeneratedFile {
        path: "mod.rs".into(),
        contents: format_rust(&mod_rs)?,
    });
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The folder generated modules go to: `[codegen] output` of `evc.toml`, relative to the schema
/// directory, with `..` resolved. `None` when the config has no `[codegen]`.
pub fn output_dir(catalog: &Catalog) -> Option<PathBuf> {
    let rel = &catalog.config.codegen.as_ref()?.output;
    let mut out = PathBuf::new();
    for c in catalog.root.join(rel).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// The `.rs` files under `dir`, by path relative to it (with `/` separators), as
/// [`GeneratedFile::path`] names them.
pub fn existing_files(dir: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p
                    .strip_prefix(base)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, p);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
