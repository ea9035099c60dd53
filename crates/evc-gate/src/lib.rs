//! The pull-request gate behind `evc check`.
//!
//! **Owns:** what makes a change to the schema directory acceptable: the lint rules
//! (the [`Code`]s of [`Family::Lint`](evc_catalog::Family::Lint), each switchable in `evc.toml`), every subject's version history under its
//! compatibility mode (each version against the ones before it, every incompatibility with its
//! kind, JSON pointer, file and line, and a hint), reviewed exceptions (reported as warnings,
//! never silent), append-only published versions against a base git ref, and fresh generated
//! code.
//!
//! **Does not own:** the compatibility rules themselves (`evc-compat`), loading the tree
//! (`evc-catalog`), or how findings are printed (the `evc` CLI).
//!
//! ```no_run
//! let report = evc_gate::check(&evc_gate::Options {
//!     root: "schemas".into(),
//!     against: Some("origin/main".into()),
//!     check_generated: true,
//! })
//! .expect("the schema directory loads");
//! for d in &report.diagnostics {
//!     println!("{d}");
//! }
//! std::process::exit(if report.ok() { 0 } else { 1 });
//! ```

mod generated;
mod git;
mod history;
pub mod lint;

use std::path::PathBuf;

use evc_catalog::{Catalog, Diagnostic, Diagnostics, Severity};

pub use evc_catalog::Code;
pub use git::GitError;
pub use history::{hint, incompatibility_code};

/// What to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The schema directory (holding `evc.toml`).
    pub root: PathBuf,
    /// A git ref to compare published versions with (the pull request's base).
    pub against: Option<String>,
    /// Also check that generated code is fresh (needs rustfmt).
    pub check_generated: bool,
}

/// The gate's findings.
#[derive(Debug, Clone)]
pub struct Report {
    /// Errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    pub subjects: usize,
    pub versions: usize,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
    pub fn warnings(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }
    /// True when nothing blocks the change.
    pub fn ok(&self) -> bool {
        self.errors() == 0
    }
}

/// The gate could not run: bad input rather than a failed check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// The schema directory does not load.
    #[error(transparent)]
    Catalog(#[from] Diagnostics),
    /// `--against` could not be resolved or read.
    #[error(transparent)]
    Git(#[from] GitError),
}

/// Runs the whole gate.
pub fn check(opts: &Options) -> Result<Report, GateError> {
    let catalog = Catalog::load(&opts.root)?;
    let mut diagnostics = catalog.warnings.clone();
    if let Some(r) = &opts.against {
        git::against(&catalog, r, &mut diagnostics)?;
    }
    lint::lint(&catalog, &mut diagnostics);
    history::history(&catalog, &mut diagnostics);
    if opts.check_generated {
        generated::generated(&catalog, &mut diagnostics);
    }
    diagnostics.sort_by(|a, b| (&a.file, a.position, &a.code).cmp(&(&b.file, b.position, &b.code)));
    Ok(Report {
        diagnostics,
        subjects: catalog.events.len(),
        versions: catalog.events.iter().map(|e| e.versions.len()).sum(),
    })
}
