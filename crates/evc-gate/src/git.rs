//! Published versions are append-only: compares the schema directory with a base git ref.

use std::path::{Path, PathBuf};
use std::process::Command;

use evc_catalog::{Catalog, Code, Diagnostic};
use evc_schema::json::Span;

/// Comparing with a base git ref failed before any comparison was made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The `git` program could not be started.
    #[error("cannot run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// A git command exited with an error.
    #[error("`git {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
    /// The schema directory cannot be resolved to an absolute path.
    #[error("{}: {source}", .path.display())]
    Path {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The schema directory is not inside the repository's work tree.
    #[error("{} is not inside the git work tree {}", .root.display(), .top.display())]
    OutsideWorkTree { root: PathBuf, top: PathBuf },
    /// The ref names no commit.
    #[error(
        "`{0}` is not a commit in this repository (fetch it first, e.g. `git fetch origin {0}`)"
    )]
    UnknownRef(String),
    /// Git's output was not what was asked for.
    #[error("unexpected output from `git {args}`: {detail}")]
    Protocol { args: String, detail: String },
}

fn git(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_version_file(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    parts.len() == 3 && parts[2].starts_with('v') && parts[2].ends_with(".avsc")
}

/// Reports edited, deleted and renumbered published versions.
pub fn against(
    catalog: &Catalog,
    git_ref: &str,
    out: &mut Vec<Diagnostic>,
) -> Result<(), GitError> {
    let root = &catalog.root;
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?.trim());
    let abs_root = root.canonicalize().map_err(|source| GitError::Path {
        path: root.clone(),
        source,
    })?;
    let prefix = abs_root
        .strip_prefix(&top)
        .map_err(|_| GitError::OutsideWorkTree {
            root: root.clone(),
            top: top.clone(),
        })?
        .to_string_lossy()
        .replace('\\', "/");
    git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{git_ref}^{{commit}}"),
        ],
    )
    .map_err(|_| GitError::UnknownRef(git_ref.to_string()))?;
    let spec = if prefix.is_empty() {
        ".".to_string()
    } else {
        prefix.clone()
    };
    let listed = git(
        &top,
        &["ls-tree", "-r", "--name-only", git_ref, "--", &spec],
    )?;
    for path in listed.lines() {
        let rel = if prefix.is_empty() {
            path
        } else {
            path.strip_prefix(&format!("{prefix}/")).unwrap_or(path)
        };
        if !is_version_file(rel) {
            continue;
        }
        let base = git(&top, &["show", &format!("{git_ref}:{path}")])?;
        let current_path = root.join(rel);
        let shown = current_path.clone();
        match std::fs::read_to_string(&current_path) {
            Ok(now) if now == base => {}
            Ok(now) => {
                let (line_start, line_no) = first_difference(&base, &now);
                let renumbered = find_same_text(root, rel, &base);
                let mut d = Diagnostic::error(
                    Code::VersionEdited,
                    &shown,
                    format!("published version {rel} was edited (it differs from {git_ref} from line {line_no}); versions are append-only"),
                )
                .at(&now, Span::new(line_start, line_start))
                .with_help(format!("restore it with `git checkout {git_ref} -- {path}` and put the change in a new version file"));
                if let Some(other) = renumbered {
                    d = Diagnostic::error(
                        Code::VersionRenumbered,
                        &shown,
                        format!("published version {rel} was renumbered: its text is now in {other}"),
                    )
                    .at(&now, Span::new(line_start, line_start))
                    .with_help("version numbers are fixed once published; add new versions after the last one");
                }
                out.push(d);
            }
            Err(_) => {
                let d = match find_same_text(root, rel, &base) {
                    Some(other) => Diagnostic::error(
                        Code::VersionRenumbered,
                        &shown,
                        format!("published version {rel} was renumbered: its text is now in {other}"),
                    ),
                    None => Diagnostic::error(
                        Code::VersionDeleted,
                        &shown,
                        format!("published version {rel} was deleted; versions are append-only (consumers may still meet data written with it)"),
                    ),
                };
                out.push(d.with_help(format!(
                    "restore it with `git checkout {git_ref} -- {path}`"
                )));
            }
        }
    }
    Ok(())
}

/// Another version file of the same event whose text is `text`.
fn find_same_text(root: &Path, rel: &str, text: &str) -> Option<String> {
    let dir = Path::new(rel).parent()?;
    let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    entries.into_iter().find_map(|p| {
        let name = p.file_name()?.to_string_lossy().to_string();
        let other = format!("{}/{name}", dir.to_string_lossy().replace('\\', "/"));
        (other != rel && std::fs::read_to_string(&p).ok()? == text).then_some(other)
    })
}

/// Byte offset and 1-based number of the first line where `b` differs from `a`.
fn first_difference(a: &str, b: &str) -> (usize, usize) {
    let mut offset = 0;
    let mut bl = b.split_inclusive('\n');
    for (i, la) in a.split_inclusive('\n').enumerate() {
        match bl.next() {
            Some(lb) if lb == la => offset += lb.len(),
            _ => return (offset, i + 1),
        }
    }
    (offset, a.split_inclusive('\n').count() + 1)
}
