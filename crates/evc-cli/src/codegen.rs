//! `evc codegen [--root DIR] [--check]`: the schema directory → typed Rust, into the folder
//! `[codegen] output` of `evc.toml` names. The same engine and layout as `cargo xtask codegen`
//! and the `evc-build` build-script API.

use std::path::Path;

use evc_codegen::{generate_schema_dir, sync, Change, ProjectError};

use crate::{load_catalog, Outcome};

/// Writes (or with `check`, compares) the generated code; exit 1 when `check` finds it stale.
pub fn run(root: &Path, check: bool) -> anyhow::Result<Outcome> {
    // problems in the schema directory are printed rustc-style, like `evc check` does
    load_catalog(root)?;
    let output = generate_schema_dir(root).map_err(|e| match e {
        ProjectError::Catalog(d) => {
            anyhow::anyhow!("{} problem(s) in {}", d.0.len(), root.display())
        }
        other => anyhow::Error::new(other),
    })?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let changes = sync(&output.dir, &output.files, check, &cwd)?;
    let stale = !changes.is_empty();
    for c in changes {
        match c {
            Change::Written { path } => println!("wrote {}", path.display()),
            Change::Removed { path } => println!("removed {}", path.display()),
            Change::Differs { diff, .. } => print!("{diff}"),
            Change::Stale { path } => {
                println!(
                    "stale file {} (no schema generates it any more)",
                    path.display()
                )
            }
            other => println!("{other:?}"),
        }
    }
    if !check {
        if !stale {
            println!("generated code in {} is up to date", output.dir.display());
        }
        return Ok(Outcome::Ok);
    }
    if stale {
        eprintln!("\ngenerated code is stale: run `evc codegen` and commit the result");
        Ok(Outcome::Failed)
    } else {
        println!("generated code in {} is up to date", output.dir.display());
        Ok(Outcome::Ok)
    }
}
