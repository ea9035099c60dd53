//! The base of a comparison (`--against REF`), read from git in a fixed number of processes
//! whatever the size of the tree: which files the base has (one `git ls-tree -r`), which of them
//! may differ in the working tree (one `git diff-index`, which uses the index's stat data instead
//! of reading files), and the base texts of just those (one `git cat-file --batch`).
//!
//! Published versions are append-only: [`published`] reports edited, deleted and renumbered
//! ones.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use evc_catalog::{Code, Diagnostic};
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

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(dir).args(args);
    c
}

fn failed(args: &[&str], stderr: &[u8]) -> GitError {
    GitError::Failed {
        args: args.join(" "),
        stderr: String::from_utf8_lossy(stderr).trim().to_string(),
    }
}

/// `\0`-separated fields of `-z` output.
fn fields(out: &[u8]) -> impl Iterator<Item = &str> {
    out.split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| std::str::from_utf8(f).unwrap_or(""))
}

/// The base tree of the schema directory.
#[derive(Debug)]
pub struct Base {
    /// The ref as given (for messages and `git checkout` hints).
    pub reference: String,
    /// The repository's top directory.
    top: PathBuf,
    /// The schema directory relative to `top`, `/`-separated, empty for the top itself.
    prefix: String,
    /// Files under the schema directory in the base: path relative to it → blob id.
    pub files: BTreeMap<String, String>,
    /// Paths relative to the schema directory whose working-tree content may differ from the
    /// base (changed, added to or deleted from the index or the working tree). Every other base
    /// file is proven unchanged: git compared blob ids, and stat data for the working tree.
    pub touched: BTreeSet<String>,
}

impl Base {
    /// Reads the base at `git_ref` for the schema directory `root`: three git processes (the
    /// tree listing and the working-tree comparison run at the same time).
    pub fn read(root: &Path, git_ref: &str) -> Result<Base, GitError> {
        let abs = root.canonicalize().map_err(|source| GitError::Path {
            path: root.to_path_buf(),
            source,
        })?;
        if git_ref.starts_with('-') || git_ref.is_empty() {
            return Err(GitError::UnknownRef(git_ref.to_string()));
        }
        let commit_arg = format!("{git_ref}^{{commit}}");
        let args = [
            "rev-parse",
            "--show-toplevel",
            "--show-prefix",
            commit_arg.as_str(),
        ];
        let out = command(&abs, &args).output().map_err(GitError::Spawn)?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("unknown revision") || stderr.contains("bad revision") {
                return Err(GitError::UnknownRef(git_ref.to_string()));
            }
            return Err(failed(&args, &out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let (Some(top), Some(prefix), Some(commit)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(GitError::Protocol {
                args: args.join(" "),
                detail: format!("expected three lines, got {text:?}"),
            });
        };
        let top = PathBuf::from(top);
        if !abs.starts_with(&top) {
            return Err(GitError::OutsideWorkTree {
                root: root.to_path_buf(),
                top,
            });
        }
        let prefix = prefix.trim_end_matches('/').to_string();
        let spec = if prefix.is_empty() {
            ":/".to_string()
        } else {
            format!(":/{prefix}")
        };
        let ls_args = ["ls-tree", "-r", "-z", "--full-tree", commit, "--", &spec];
        let diff_args = [
            "diff-index",
            "-z",
            "--name-only",
            "--no-renames",
            "--ignore-submodules",
            commit,
            "--",
            &spec,
        ];
        // Both at once: the listing reads objects, the comparison stats the working tree.
        let ls = command(&top, &ls_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(GitError::Spawn)?;
        let diff = command(&top, &diff_args)
            .output()
            .map_err(GitError::Spawn)?;
        let ls = ls.wait_with_output().map_err(GitError::Spawn)?;
        if !ls.status.success() {
            return Err(failed(&ls_args, &ls.stderr));
        }
        if !diff.status.success() {
            return Err(failed(&diff_args, &diff.stderr));
        }
        let rel = |path: &str| -> Option<String> {
            if prefix.is_empty() {
                Some(path.to_string())
            } else {
                path.strip_prefix(&prefix)?
                    .strip_prefix('/')
                    .map(str::to_string)
            }
        };
        let mut files = BTreeMap::new();
        for entry in fields(&ls.stdout) {
            // <mode> SP <type> SP <object> TAB <path>
            let (meta, path) = entry.split_once('\t').ok_or_else(|| GitError::Protocol {
                args: ls_args.join(" "),
                detail: format!("no tab in {entry:?}"),
            })?;
            let mut meta = meta.split(' ');
            let (_mode, kind, id) = (meta.next(), meta.next(), meta.next());
            if kind != Some("blob") {
                continue;
            }
            if let (Some(id), Some(rel)) = (id, rel(path)) {
                files.insert(rel, id.to_string());
            }
        }
        let touched = fields(&diff.stdout).filter_map(rel).collect();
        Ok(Base {
            reference: git_ref.to_string(),
            top,
            prefix,
            files,
            touched,
        })
    }

    /// The path of `rel` as git names it (from the top of the repository).
    pub fn repo_path(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// The base texts of `rels` (paths relative to the schema directory that the base has), in
    /// one `git cat-file --batch`.
    pub fn texts<'a>(
        &self,
        rels: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, String>, GitError> {
        let wanted: Vec<(&str, &str)> = rels
            .into_iter()
            .filter_map(|r| self.files.get(r).map(|id| (r, id.as_str())))
            .collect();
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        let args = ["cat-file", "--batch"];
        let mut child = command(&self.top, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(GitError::Spawn)?;
        let mut request = String::new();
        for (_, id) in &wanted {
            request.push_str(id);
            request.push('\n');
        }
        let mut stdin = child.stdin.take().expect("piped stdin");
        // Write from another thread: git answers while it reads, and a large answer would fill
        // the pipe while a large request is still being written.
        let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
        let mut out = Vec::new();
        child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_end(&mut out)
            .map_err(GitError::Spawn)?;
        let _ = writer.join();
        let status = child.wait_with_output().map_err(GitError::Spawn)?;
        if !status.status.success() {
            return Err(failed(&args, &status.stderr));
        }
        let protocol = |detail: String| GitError::Protocol {
            args: args.join(" "),
            detail,
        };
        let mut texts = HashMap::new();
        let mut rest = out.as_slice();
        for (rel, id) in wanted {
            // <object> SP <type> SP <size> LF <contents> LF
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| protocol(format!("no header for {id}")))?;
            let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
            let size: usize = header
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .filter(|_| header.starts_with(id) && header.contains(" blob "))
                .ok_or_else(|| protocol(format!("header {header:?} for {id}")))?;
            let body = rest
                .get(nl + 1..nl + 1 + size)
                .ok_or_else(|| protocol(format!("{id} is cut short")))?;
            texts.insert(rel.to_string(), String::from_utf8_lossy(body).into_owned());
            rest = rest.get(nl + 2 + size..).unwrap_or_default();
        }
        Ok(texts)
    }
}

pub(crate) fn is_version_file(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    parts.len() == 3 && parts[2].starts_with('v') && parts[2].ends_with(".avsc")
}

/// Reports edited, deleted and renumbered published versions: base version files that the
/// working tree changed or lost. Only [`Base::touched`] files can be either; their base texts
/// are read in one batch.
pub fn published(root: &Path, base: &Base, out: &mut Vec<Diagnostic>) -> Result<(), GitError> {
    let candidates: Vec<&str> = base
        .touched
        .iter()
        .map(String::as_str)
        .filter(|r| is_version_file(r) && base.files.contains_key(*r))
        .collect();
    let texts = base.texts(candidates.iter().copied())?;
    let git_ref = &base.reference;
    for rel in candidates {
        let Some(base_text) = texts.get(rel) else {
            continue;
        };
        let path = base.repo_path(rel);
        let shown = root.join(rel);
        match std::fs::read_to_string(&shown) {
            Ok(now) if now == *base_text => {}
            Ok(now) => {
                let (line_start, line_no) = first_difference(base_text, &now);
                let d = match find_same_text(root, rel, base_text) {
                    Some(other) => Diagnostic::error(
                        Code::VersionRenumbered,
                        &shown,
                        format!("published version {rel} was renumbered: its text is now in {other}"),
                    )
                    .with_help("version numbers are fixed once published; add new versions after the last one"),
                    None => Diagnostic::error(
                        Code::VersionEdited,
                        &shown,
                        format!("published version {rel} was edited (it differs from {git_ref} from line {line_no}); versions are append-only"),
                    )
                    .with_help(format!("restore it with `git checkout {git_ref} -- {path}` and put the change in a new version file")),
                };
                out.push(d.at(&now, Span::new(line_start, line_start)));
            }
            Err(_) => {
                let d = match find_same_text(root, rel, base_text) {
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
