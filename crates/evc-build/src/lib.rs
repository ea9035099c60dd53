//! Generate typed Rust events from an Avro schema directory in a build script, in the manner
//! of `prost-build` and `tonic-build`.
//!
//! **Owns:** the build-script entry point ([`Config`]): running evc's codegen (the same engine
//! and layout as `evc codegen`) on a schema directory, writing the result into `OUT_DIR` as one
//! file for `include!`, or into a checked-in folder, and telling cargo to rerun when a schema
//! changes. **Does not own:** the generator itself (`evc-codegen`), loading and validating the
//! schema directory (`evc-catalog`), the gate (`evc check`).
//!
//! # Two styles, and when to choose each
//!
//! **Generated at build time into `OUT_DIR`** — nothing generated is committed; the schemas are
//! the only source. Choose it for a service that consumes a contracts repository (a git
//! submodule or a path dependency) and wants its types to follow it at every build.
//!
//! ```no_run
//! // build.rs: fn main() { ... }
//! evc_build::Config::new().compile("schemas").expect("evc codegen");
//! ```
//! ```text
//! // src/lib.rs
//! include!(concat!(env!("OUT_DIR"), "/evc_events.rs"));
//! ```
//!
//! **Checked in** — the generated code is committed next to the schemas, reviewed in pull
//! requests and kept fresh by `evc codegen --check` in CI (this is how evc's own
//! `order-events` crate works, in the spirit of rust-analyzer's checked-in generated code).
//! Choose it for the contracts repository itself: reviewers see what a schema change does to
//! the Rust API, and consumers need no build script. Use the `evc codegen` command, or from a
//! build script [`Config::out_folder`] (which writes only when the content changed).
//!
//! Either way the crate depends on `evc-avro` (the traits and codecs the generated code
//! implements).

use std::fmt;
use std::path::{Path, PathBuf};

use evc_codegen::{generate_schema_dir, inline_modules, sync, ProjectError};

/// What can go wrong in a build script.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Codegen failed: the schema directory has problems, or a schema cannot be generated.
    #[error("{0}")]
    Codegen(#[from] ProjectError),
    /// `OUT_DIR` is not set: not running under cargo (give [`Config::out_dir`]).
    #[error("OUT_DIR is not set: run from a build script, or set Config::out_dir")]
    NoOutDir,
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where the generated code goes.
#[derive(Debug, Clone)]
enum Target {
    /// One file, `<dir>/<file_name>`, for `include!`.
    OutDir { dir: Option<PathBuf> },
    /// A module tree in a folder (`mod.rs` and one file per event version).
    Folder(PathBuf),
}

/// The build-script configuration.
#[derive(Clone)]
pub struct Config {
    target: Target,
    file_name: String,
    emit_rerun: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("target", &self.target)
            .field("file_name", &self.file_name)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// Generates into `$OUT_DIR/evc_events.rs`.
    pub fn new() -> Config {
        Config {
            target: Target::OutDir { dir: None },
            file_name: "evc_events.rs".into(),
            emit_rerun: true,
        }
    }

    /// Generates into `dir` instead of `$OUT_DIR` (one file, for `include!`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.target = Target::OutDir {
            dir: Some(dir.into()),
        };
        self
    }

    /// The generated file's name in the output folder (default `evc_events.rs`).
    pub fn file_name(mut self, name: impl Into<String>) -> Config {
        self.file_name = name.into();
        self
    }

    /// Generates a module tree into a checked-in folder (`mod.rs` plus one file per event
    /// version), writing only files whose content changed and removing stale ones.
    pub fn out_folder(mut self, dir: impl Into<PathBuf>) -> Config {
        self.target = Target::Folder(dir.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines for the schema directory (default on).
    pub fn emit_rerun_if_changed(mut self, on: bool) -> Config {
        self.emit_rerun = on;
        self
    }

    /// Generates the events of the schema directory `schemas` (the folder holding `evc.toml`).
    /// The `[codegen] output` setting of `evc.toml` is not used here: the output is what this
    /// configuration says. Answers the written file or folder.
    pub fn compile(&self, schemas: impl AsRef<Path>) -> Result<PathBuf, BuildError> {
        let schemas = schemas.as_ref();
        if self.emit_rerun {
            rerun_if_changed(schemas);
        }
        let output = generate_schema_dir_any(schemas)?;
        match &self.target {
            Target::OutDir { dir } => {
                let dir = match dir {
                    Some(d) => d.clone(),
                    None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BuildError::NoOutDir)?),
                };
                let path = dir.join(&self.file_name);
                // `include!` refuses inner attributes at its top level, so the tree goes into a
                // private module (where the generated `#![allow(..)]` may stand) re-exported
                // whole.
                let code = format!(
                    "// @generated by evc-build from {}. Do not edit.\n\nmod evc_generated {{\n{}}}\n\npub use evc_generated::*;\n",
                    schemas.display(),
                    inline_modules(&output)?
                );
                write_if_changed(&path, &code)?;
                Ok(path)
            }
            Target::Folder(dir) => {
                sync(dir, &output, false, dir)?;
                Ok(dir.clone())
            }
        }
    }
}

/// Generates a schema directory whether or not its `evc.toml` has a `[codegen]` section.
fn generate_schema_dir_any(schemas: &Path) -> Result<Vec<evc_codegen::GeneratedFile>, BuildError> {
    match generate_schema_dir(schemas) {
        Ok(o) => Ok(o.files),
        Err(ProjectError::NoOutput { .. }) => {
            let catalog = evc_catalog::Catalog::load(schemas).map_err(ProjectError::Catalog)?;
            let prefix = schemas
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "schemas".into());
            Ok(
                evc_codegen::generate_catalog(&evc_codegen::Templates::new(), &catalog, &prefix)
                    .map_err(ProjectError::from)?,
            )
        }
        Err(e) => Err(e.into()),
    }
}

fn write_if_changed(path: &Path, code: &str) -> Result<(), BuildError> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == code) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| BuildError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, code).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `cargo:rerun-if-changed` for the folder and every file below it (a new version file is a
/// change of its folder).
fn rerun_if_changed(dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                rerun_if_changed(&p);
            } else {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .and_then(Path::parent)
            .unwrap()
            .to_path_buf()
    }

    #[test]
    fn one_file_for_include_holds_every_module_inline() {
        let out = tempfile::tempdir().unwrap();
        let path = Config::new()
            .out_dir(out.path())
            .emit_rerun_if_changed(false)
            .compile(workspace().join("schemas"))
            .unwrap();
        let code = std::fs::read_to_string(&path).unwrap();
        assert!(code.contains("pub mod order_created {"), "inline modules");
        assert!(code.contains("pub mod v2 {"));
        assert!(
            !code.contains("pub mod v1;"),
            "no file-module declarations left"
        );
        assert!(code.contains("pub enum OrderEvent"));
        // the same content as the checked-in tree, module by module
        let checked_in = std::fs::read_to_string(
            workspace().join("crates/order-events/src/generated/order_paid/v2.rs"),
        )
        .unwrap();
        assert!(code.contains(checked_in.trim_end()));
    }

    #[test]
    fn a_folder_target_writes_the_checked_in_layout() {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("generated");
        Config::new()
            .out_folder(&dir)
            .emit_rerun_if_changed(false)
            .compile(workspace().join("schemas"))
            .unwrap();
        for f in ["mod.rs", "order_created/v1.rs", "order_created/v2.rs"] {
            assert_eq!(
                std::fs::read_to_string(dir.join(f)).unwrap(),
                std::fs::read_to_string(
                    workspace()
                        .join("crates/order-events/src/generated")
                        .join(f)
                )
                .unwrap(),
                "{f}"
            );
        }
    }

    #[test]
    fn problems_in_the_schema_directory_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("evc.toml"), "[topics.x]\nbogus = 1\n").unwrap();
        let e = Config::new()
            .out_dir(dir.path())
            .emit_rerun_if_changed(false)
            .compile(dir.path())
            .unwrap_err();
        assert!(
            matches!(e, BuildError::Codegen(ProjectError::Catalog(_))),
            "{e}"
        );
        assert!(e.to_string().contains("evc.toml"), "{e}");
    }
}
