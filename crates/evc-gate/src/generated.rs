//! Generated code must be what the schemas generate.

use evc_catalog::{Catalog, Code, Diagnostic};

/// Reports stale, missing and orphaned generated files (when `[codegen]` is configured).
pub fn generated(catalog: &Catalog, out: &mut Vec<Diagnostic>) {
    let Some(dir) = evc_codegen::output_dir(catalog) else {
        return;
    };
    let files =
        match evc_codegen::generate_catalog(&evc_codegen::Templates::new(), catalog, "schemas") {
            Ok(f) => f,
            Err(e) => {
                out.push(Diagnostic::error(
                    Code::CodegenFailed,
                    catalog.root.join(evc_catalog::CONFIG_FILE),
                    format!("code generation failed: {e}"),
                ));
                return;
            }
        };
    let on_disk = evc_codegen::existing_files(&dir);
    let help = "run `cargo xtask codegen` and commit the result";
    for f in &files {
        let path = dir.join(&f.path);
        match std::fs::read_to_string(&path) {
            Ok(text) if text == f.contents => {}
            Ok(_) => out.push(
                Diagnostic::error(
                    Code::GeneratedStale,
                    &path,
                    "generated code differs from what the schemas generate",
                )
                .with_help(help),
            ),
            Err(_) => out.push(
                Diagnostic::error(Code::GeneratedStale, &path, "generated file is missing")
                    .with_help(help),
            ),
        }
    }
    for (rel, path) in on_disk {
        if !files.iter().any(|f| f.path == rel) {
            out.push(
                Diagnostic::error(
                    Code::GeneratedStale,
                    &path,
                    "generated file that no schema generates any more",
                )
                .with_help(help),
            );
        }
    }
}
