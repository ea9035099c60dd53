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
//! With a base ref, the check is **incremental** unless asked otherwise: only subjects whose
//! files or settings changed since the base are linted and checked (see [`Options::incremental`]);
//! the base is read in a fixed number of git processes whatever the size of the tree.
//!
//! ```no_run
//! let report = evc_gate::check(&evc_gate::Options {
//!     root: "schemas".into(),
//!     against: Some("origin/main".into()),
//!     check_generated: true,
//!     incremental: true,
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
mod incremental;
pub mod lint;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use evc_catalog::{Catalog, Diagnostic, Diagnostics, LoadOptions, Severity};
use history::Item;

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
    /// With `against`: lint and check only the subjects whose files or settings changed since
    /// the base (plus those with reviewed exceptions), trusting the base as checked when it was
    /// merged; the rest are proven unchanged by git's blob ids and not even read (unless
    /// `check_generated` needs every schema). Published versions are compared in both modes.
    /// `false` checks every subject. Ignored without `against`.
    pub incremental: bool,
}

/// The gate's findings.
#[derive(Debug, Clone)]
pub struct Report {
    /// Errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    pub subjects: usize,
    pub versions: usize,
    /// Subjects linted and checked: all of them, or in an incremental check those that changed.
    pub checked: usize,
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
    std::thread::scope(|scope| {
        // The base is read from git (other processes) while the tree is listed: the listing's
        // `read` filter waits for it only once every folder is listed.
        let reading = opts
            .against
            .as_ref()
            .map(|r| scope.spawn(move || git::Base::read(&opts.root, r)));
        let reading = Mutex::new(reading);
        // what went wrong reading the base (then there is no base and no plan)
        let failure: Mutex<Option<GitError>> = Mutex::new(None);
        let fail = |e: GitError| *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        let base_cell: OnceLock<Option<git::Base>> = OnceLock::new();
        let base = || {
            base_cell
                .get_or_init(|| {
                    let handle = reading.lock().unwrap_or_else(|p| p.into_inner()).take();
                    match handle?.join() {
                        Ok(Ok(b)) => Some(b),
                        Ok(Err(e)) => {
                            fail(e);
                            None
                        }
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                })
                .as_ref()
        };
        let plan_cell: OnceLock<Option<incremental::Plan<'_>>> = OnceLock::new();
        let plan = || {
            plan_cell
                .get_or_init(|| match base() {
                    Some(b) if opts.incremental => {
                        incremental::Plan::new(&opts.root, b).map_err(fail).ok()
                    }
                    _ => None,
                })
                .as_ref()
        };
        // Event folders are listed, not read: a full check reads each event when it checks it
        // (so a large tree is never in memory at once), an incremental one reads only what
        // changed.
        let read =
            |fullname: &str, files: &[String]| plan().is_some_and(|p| p.read(fullname, files));
        let listed = Catalog::load_with(&opts.root, &LoadOptions { read: Some(&read) });
        let (base, plan) = (base(), plan());
        if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e.into());
        }
        finish(opts, base, plan, listed)
    })
}

/// The gate once the tree is listed and the base (if any) read.
fn finish(
    opts: &Options,
    base: Option<&git::Base>,
    plan: Option<&incremental::Plan<'_>>,
    listed: Result<Catalog, Diagnostics>,
) -> Result<Report, GateError> {
    let mut catalog = match listed {
        Ok(c) => c,
        // Report every problem of the tree, as a full load finds them.
        Err(listing) => return Err(Catalog::load(&opts.root).err().unwrap_or(listing).into()),
    };
    if opts.check_generated && catalog.config.codegen.is_some() {
        catalog = Catalog::load(&opts.root)?; // generating code needs every schema
    }
    let mut diagnostics = catalog.warnings.clone();
    if let Some(b) = base {
        git::published(&catalog.root, b, &mut diagnostics)?;
    }
    let mut items: Vec<Item<'_>> = catalog
        .events
        .iter()
        .filter(|e| plan.is_none_or(|p| p.selects(e)))
        .map(Item::Loaded)
        .collect();
    if plan.is_none() {
        items.extend(catalog.unread.iter().map(Item::Unread));
    }
    let unreadable = history::check_events(&catalog, &items, &mut diagnostics);
    if !unreadable.is_empty() {
        let mut problems = unreadable;
        problems.sort_by(|a, b| (&a.file, a.position).cmp(&(&b.file, b.position)));
        return Err(Diagnostics(problems).into());
    }
    if opts.check_generated {
        generated::generated(&catalog, &mut diagnostics);
    }
    diagnostics.sort_by(|a, b| {
        (&a.file, a.position, a.code, a.version, &a.message)
            .cmp(&(&b.file, b.position, b.code, b.version, &b.message))
    });
    Ok(Report {
        diagnostics,
        subjects: catalog.events.len() + catalog.unread.len(),
        versions: catalog
            .events
            .iter()
            .map(|e| e.versions.len())
            .sum::<usize>()
            + catalog.unread.iter().map(|u| u.versions).sum::<usize>(),
        checked: items.len(),
    })
}
