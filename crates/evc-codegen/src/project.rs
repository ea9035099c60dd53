//! A whole schema directory → generated Rust, as every entry point runs it: the `evc codegen`
//! command, `cargo xtask codegen` and the `evc-build` build-script API.
//!
//! [`generate_schema_dir`] loads `evc.toml` and every `vN.avsc` and generates the modules;
//! [`sync`] makes a folder hold exactly those files (or, with `check`, reports how it differs,
//! with a unified diff per file, changing nothing); [`inline_modules`] turns the module tree
//! into one file, for `include!` from `OUT_DIR`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use evc_catalog::{Catalog, Diagnostics};

use crate::{generate_catalog, output_dir, CodegenError, GeneratedFile, Templates};

/// Why a schema directory could not be generated or its output written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectError {
    /// The schema directory has problems (each with file, line and column).
    #[error("{0}")]
    Catalog(Diagnostics),
    /// `evc.toml` has no `[codegen] output` folder.
    #[error("{}: no [codegen] output folder: add `[codegen]` with `output = \"PATH\"` (relative to the schema directory)", .config.display())]
    NoOutput { config: PathBuf },
    #[error(transparent)]
    Codegen(#[from] CodegenError),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A module declaration the inliner cannot resolve to a generated file.
    #[error("module `{module}` declared in {file} has no generated file")]
    MissingModule { file: String, module: String },
}

/// The generated files of a schema directory and where they belong.
#[derive(Debug, Clone)]
pub struct Output {
    /// `[codegen] output` of `evc.toml`, resolved against the schema directory.
    pub dir: PathBuf,
    pub files: Vec<GeneratedFile>,
}

/// Loads the schema directory at `schema_dir` and generates its modules (one file per event
/// version, `mod.rs` with the latest re-exports and one enum per topic).
pub fn generate_schema_dir(schema_dir: &Path) -> Result<Output, ProjectError> {
    let catalog = Catalog::load(schema_dir).map_err(ProjectError::Catalog)?;
    let dir = output_dir(&catalog).ok_or_else(|| ProjectError::NoOutput {
        config: schema_dir.join("evc.toml"),
    })?;
    let prefix = schema_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "schemas".into());
    let files = generate_catalog(&Templates::new(), &catalog, &prefix)?;
    Ok(Output { dir, files })
}

/// One difference between a folder and what should be in it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The file was (re)written.
    Written { path: PathBuf },
    /// The file was removed: no schema generates it any more.
    Removed { path: PathBuf },
    /// (check) The file differs or is missing; `diff` is a unified diff from it to what
    /// should be there.
    Differs { path: PathBuf, diff: String },
    /// (check) The file should not be there.
    Stale { path: PathBuf },
}

/// Makes `dir` hold exactly `files` (only `.rs` files are considered), or with `check`
/// changes nothing and reports the differences. Files are written through a temporary file
/// and a rename, so an interrupted run leaves no half-written file. `shown` is the base that
/// paths in diffs are shown relative to.
pub fn sync(
    dir: &Path,
    files: &[GeneratedFile],
    check: bool,
    shown: &Path,
) -> Result<Vec<Change>, ProjectError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ProjectError::Io { path, source }
    };
    let display = |p: &Path| p.strip_prefix(shown).unwrap_or(p).to_path_buf();
    let existing = crate::existing_files(dir);
    let wanted: BTreeMap<&str, &str> = files
        .iter()
        .map(|f| (f.path.as_str(), f.contents.as_str()))
        .collect();
    let mut changes = Vec::new();
    for (rel, contents) in &wanted {
        let path = dir.join(rel);
        let old = fs::read_to_string(&path).ok();
        if old.as_deref() == Some(*contents) {
            continue;
        }
        if check {
            let old = old.unwrap_or_default();
            let name = display(&path).display().to_string();
            let diff = similar::TextDiff::from_lines(old.as_str(), *contents)
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string();
            changes.push(Change::Differs {
                path: display(&path),
                diff,
            });
        } else {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            let tmp = path.with_extension("rs.tmp");
            fs::write(&tmp, contents).map_err(io(&tmp))?;
            fs::rename(&tmp, &path).map_err(io(&path))?;
            changes.push(Change::Written {
                path: display(&path),
            });
        }
    }
    for (rel, path) in existing {
        if wanted.contains_key(rel.as_str()) {
            continue;
        }
        if check {
            changes.push(Change::Stale {
                path: display(&path),
            });
        } else {
            fs::remove_file(&path).map_err(io(&path))?;
            changes.push(Change::Removed {
                path: display(&path),
            });
        }
    }
    Ok(changes)
}

/// The module tree of `files` (rooted at `mod.rs`) as one file: every `mod name;` is replaced
/// by `mod name { ... }` holding that module's file. For `include!` from `OUT_DIR`, where
/// `mod name;` declarations would be looked up beside the including file instead.
pub fn inline_modules(files: &[GeneratedFile]) -> Result<String, ProjectError> {
    let by_path: BTreeMap<&str, &str> = files
        .iter()
        .map(|f| (f.path.as_str(), f.contents.as_str()))
        .collect();
    inline_file("mod.rs", "", &by_path)
}

/// Inlines the file at `path` whose module folder is `dir` (`""` for the root).
fn inline_file(
    path: &str,
    dir: &str,
    files: &BTreeMap<&str, &str>,
) -> Result<String, ProjectError> {
    let text = files.get(path).ok_or_else(|| ProjectError::MissingModule {
        file: "(root)".into(),
        module: path.into(),
    })?;
    let mut out = String::with_capacity(text.len());
    // inline `mod x { ... }` blocks of this file: the folder path they stand for
    let mut stack: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if t == "}" && stack.last().is_some_and(|(i, _)| *i == indent) {
            stack.pop();
        }
        let decl = t
            .strip_prefix("pub mod ")
            .or_else(|| t.strip_prefix("mod "));
        if let Some(rest) = decl {
            if let Some(name) = rest.strip_suffix(" {") {
                stack.push((indent, name.to_string()));
            } else if let Some(name) = rest.strip_suffix(';') {
                let mut folder = dir.to_string();
                for (_, m) in &stack {
                    folder.push_str(m);
                    folder.push('/');
                }
                let flat = format!("{folder}{name}.rs");
                let nested = format!("{folder}{name}/mod.rs");
                let (file, sub) = if files.contains_key(flat.as_str()) {
                    (flat, format!("{folder}{name}/"))
                } else if files.contains_key(nested.as_str()) {
                    (nested, format!("{folder}{name}/"))
                } else {
                    return Err(ProjectError::MissingModule {
                        file: path.into(),
                        module: name.into(),
                    });
                };
                let body = inline_file(&file, &sub, files)?;
                let vis = if t.starts_with("pub ") { "pub " } else { "" };
                out.push_str(&format!("{}{vis}mod {name} {{\n", &line[..indent]));
                out.push_str(&body);
                out.push_str(&format!("{}}}\n", &line[..indent]));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, contents: &str) -> GeneratedFile {
        GeneratedFile {
            path: path.into(),
            contents: contents.into(),
        }
    }

    #[test]
    fn inlines_nested_module_files() {
        let files = [
            f(
                "mod.rs",
                "pub mod a {\n    pub mod v1;\n    pub mod v2;\n}\npub mod b;\npub use a::v2::A;\n",
            ),
            f("a/v1.rs", "pub struct A1;\n"),
            f("a/v2.rs", "#![allow(clippy::all)]\npub struct A;\n"),
            f("b.rs", "mod c;\n"),
            f("b/c.rs", "pub struct C;\n"),
        ];
        let one = inline_modules(&files).unwrap();
        assert_eq!(
            one,
            "pub mod a {\n    pub mod v1 {\npub struct A1;\n    }\n    pub mod v2 {\n#![allow(clippy::all)]\npub struct A;\n    }\n}\npub mod b {\nmod c {\npub struct C;\n}\n}\npub use a::v2::A;\n"
        );
    }

    #[test]
    fn a_missing_module_is_named() {
        let e = inline_modules(&[f("mod.rs", "pub mod gone;\n")]).unwrap_err();
        assert!(e.to_string().contains("module `gone`"), "{e}");
    }

    #[test]
    fn sync_writes_checks_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("gen");
        let files = [f("mod.rs", "pub mod x;\n"), f("x.rs", "pub struct X;\n")];
        let written = sync(&out, &files, false, dir.path()).unwrap();
        assert_eq!(written.len(), 2);
        assert!(sync(&out, &files, true, dir.path()).unwrap().is_empty());
        fs::write(out.join("x.rs"), "pub struct Y;\n").unwrap();
        fs::write(out.join("old.rs"), "").unwrap();
        let changes = sync(&out, &files, true, dir.path()).unwrap();
        assert!(matches!(&changes[0], Change::Differs { path, diff }
            if path == Path::new("gen/x.rs") && diff.contains("-pub struct Y;") && diff.contains("+pub struct X;")));
        assert_eq!(
            changes[1],
            Change::Stale {
                path: PathBuf::from("gen/old.rs")
            }
        );
        // check changed nothing; a write mends both
        assert_eq!(
            fs::read_to_string(out.join("x.rs")).unwrap(),
            "pub struct Y;\n"
        );
        sync(&out, &files, false, dir.path()).unwrap();
        assert!(!out.join("old.rs").exists());
        assert!(sync(&out, &files, true, dir.path()).unwrap().is_empty());
    }
}
