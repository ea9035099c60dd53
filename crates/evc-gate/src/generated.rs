//! Generated code must be what the schemas generate.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use evc_catalog::{Catalog, Diagnostic};

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

fn existing(dir: &Path, base: &Path, out: &mut BTreeMap<String, PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            existing(&p, base, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.insert(
                p.strip_prefix(base)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/"),
                p,
            );
        }
    }
}

/// Reports stale, missing and orphaned generated files (when `[codegen]` is configured).
pub fn generated(catalog: &Catalog, out: &mut Vec<Diagnostic>) {
    let Some(cfg) = &catalog.config.codegen else {
        return;
    };
    let dir = normalize(&catalog.root.join(&cfg.output));
    let files =
        match evc_codegen::generate_catalog(&evc_codegen::Templates::new(), catalog, "schemas") {
            Ok(f) => f,
            Err(e) => {
                out.push(Diagnostic::error(
                    "codegen-failed",
                    catalog.root.join(evc_catalog::CONFIG_FILE),
                    format!("code generation failed: {e}"),
                ));
                return;
            }
        };
    let mut on_disk = BTreeMap::new();
    existing(&dir, &dir, &mut on_disk);
    let help = "run `cargo xtask codegen` and commit the result";
    for f in &files {
        let path = dir.join(&f.path);
        match std::fs::read_to_string(&path) {
            Ok(text) if text == f.contents => {}
            Ok(_) => out.push(
                Diagnostic::error(
                    "generated-stale",
                    &path,
                    "generated code differs from what the schemas generate",
                )
                .with_help(help),
            ),
            Err(_) => out.push(
                Diagnostic::error("generated-stale", &path, "generated file is missing")
                    .with_help(help),
            ),
        }
    }
    for (rel, path) in on_disk {
        if !files.iter().any(|f| f.path == rel) {
            out.push(
                Diagnostic::error(
                    "generated-stale",
                    &path,
                    "generated file that no schema generates any more",
                )
                .with_help(help),
            );
        }
    }
}
