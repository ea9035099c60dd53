//! Every subject's version history under its compatibility mode: each version against the
//! versions before it that the mode covers, every incompatibility reported.

use std::str::FromStr;

use std::sync::atomic::{AtomicUsize, Ordering};

use evc_catalog::{Catalog, Code, Diagnostic, Event, Severity, Unread};
use evc_compat::{
    check_mode_all, Detail, Direction, IncompatibilityKind, Mode, ModeIncompatibility,
};

/// The diagnostic code of an incompatibility kind: the same name (Avro Java's).
///
/// An exhaustive match, so that a kind added to `evc-compat` cannot compile without its code.
pub fn incompatibility_code(kind: IncompatibilityKind) -> Code {
    match kind {
        IncompatibilityKind::NameMismatch => Code::NameMismatch,
        IncompatibilityKind::FixedSizeMismatch => Code::FixedSizeMismatch,
        IncompatibilityKind::MissingEnumSymbols => Code::MissingEnumSymbols,
        IncompatibilityKind::ReaderFieldMissingDefaultValue => Code::ReaderFieldMissingDefaultValue,
        IncompatibilityKind::TypeMismatch => Code::TypeMismatch,
        IncompatibilityKind::MissingUnionBranch => Code::MissingUnionBranch,
    }
}

/// The usual fix for an incompatibility.
pub fn hint(detail: &Detail) -> String {
    match detail {
        Detail::ReaderFieldMissingDefaultValue { field, .. } => format!("add a default to field `{field}`"),
        Detail::MissingEnumSymbols { missing, reader_enum, .. } => format!(
            "keep the symbol(s) {} in `{reader_enum}`, or give the enum a \"default\" symbol that readers fall back to",
            missing.join(", ")
        ),
        Detail::TypeMismatch { reader, writer, .. } => format!(
            "a field cannot change from {writer} to {reader}; add a new field (with a default) and deprecate the old one"
        ),
        Detail::NameMismatch { writer_name, .. } => {
            format!("keep the name, or add \"{writer_name}\" to the type's \"aliases\"")
        }
        Detail::FixedSizeMismatch { writer_size, .. } => {
            format!("a fixed size cannot change (was {writer_size}); add a new field instead")
        }
        Detail::MissingUnionBranch { writer, .. } => format!("keep {writer} as a branch of the union"),
    }
}

/// One subject to check: an event already loaded, or one to read first (and drop after).
pub enum Item<'a> {
    Loaded(&'a Event),
    Unread(&'a Unread),
}

/// Lints and checks the history of each item (in parallel: subjects are independent), then
/// reports the `[[exceptions]]` that matched no incompatibility. Findings go to `out`; problems
/// reading an unread event (what [`Catalog::load`] would have reported) are returned.
///
/// `items` must include every event whose subject has an exception, or those exceptions are
/// reported unused.
pub fn check_events(
    catalog: &Catalog,
    items: &[Item<'_>],
    out: &mut Vec<Diagnostic>,
) -> Vec<Diagnostic> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    // Work stealing one subject at a time: histories differ a lot in length. An unread event
    // is read, checked and dropped by the thread that takes it, so memory holds only the
    // events being checked.
    let results: Vec<(usize, EventResult, Vec<Diagnostic>)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let check = |ev: &Event| {
                            let (mut diags, used) = event_history(catalog, ev);
                            crate::lint::lint_event(catalog, ev, &mut diags);
                            (diags, used)
                        };
                        match item {
                            Item::Loaded(ev) => mine.push((i, check(ev), Vec::new())),
                            Item::Unread(u) => match catalog.read_event(u) {
                                Ok(ev) => mine.push((i, check(&ev), Vec::new())),
                                Err(problems) => mine.push((i, (Vec::new(), Vec::new()), problems)),
                            },
                        }
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("check thread"))
            .collect()
    });
    let mut unreadable = Vec::new();
    let mut results = results;
    results.sort_by_key(|(i, _, _)| *i);
    let mut used: Vec<(String, u32)> = Vec::new();
    for (_, (diags, exceptions), problems) in results {
        unreadable.extend(problems);
        out.extend(diags);
        for x in exceptions {
            if !used.contains(&x) {
                used.push(x);
            }
        }
    }
    for x in &catalog.config.exceptions {
        if !used.contains(&(x.subject.clone(), x.version)) {
            out.push(
                Diagnostic::warning(
                    Code::UnusedException,
                    catalog.root.join(evc_catalog::CONFIG_FILE),
                    format!(
                        "the exception for `{}` v{} matches no incompatibility; remove it",
                        x.subject, x.version
                    ),
                )
                .for_version(&x.subject, x.version),
            );
        }
    }
    unreadable
}

fn diagnostic(
    mode: Mode,
    new: &evc_catalog::Version,
    old: &evc_catalog::Version,
    mi: &ModeIncompatibility,
) -> Diagnostic {
    let inc = &mi.incompatibility;
    let (file, why) = match mi.direction {
        Direction::Backward => (
            new,
            format!(
                "v{} cannot read data written with v{}",
                new.number, old.number
            ),
        ),
        Direction::Forward => (
            old,
            format!(
                "v{} cannot read data written with v{}",
                old.number, new.number
            ),
        ),
    };
    let mut d = Diagnostic::error(
        incompatibility_code(inc.kind),
        &file.path,
        format!("{why} ({mode}): {}", inc.message),
    )
    .with_location(&inc.location)
    .with_help(hint(&inc.detail));
    if !inc.span_in_reference {
        d = d.at(&file.text, inc.span);
    }
    d
}

/// A subject's diagnostics and the exceptions (subject, version) that applied.
type EventResult = (Vec<Diagnostic>, Vec<(String, u32)>);

/// One subject's history.
fn event_history(catalog: &Catalog, ev: &Event) -> EventResult {
    let mut out = Vec::new();
    let mut used: Vec<(String, u32)> = Vec::new();
    let Ok(mode) = Mode::from_str(&ev.compatibility) else {
        return (out, used);
    };
    for i in 1..ev.versions.len() {
        let new = &ev.versions[i];
        let exception = catalog
            .config
            .exceptions
            .iter()
            .find(|x| x.subject == ev.subject && x.version == new.number);
        let earlier: Vec<&evc_schema::Schema> =
            ev.versions[..i].iter().map(|v| &v.schema).collect();
        let found = match check_mode_all(mode, &new.schema, &earlier) {
            Ok(f) => f,
            Err(e) => {
                out.push(
                    Diagnostic::error(
                        Code::AmbiguousField,
                        &new.path,
                        format!(
                            "v{} against v{}: {}",
                            new.number,
                            e.existing_index + 1,
                            e.source
                        ),
                    )
                    .for_version(&ev.subject, new.number),
                );
                continue;
            }
        };
        for mi in found {
            let old = &ev.versions[mi.existing_index];
            let mut d = diagnostic(mode, new, old, &mi).for_version(&ev.subject, new.number);
            if let Some(x) = exception {
                d.severity = Severity::Warning;
                d.message = format!(
                    "{} (allowed by a reviewed exception: {})",
                    d.message, x.reason
                );
                if !used.contains(&(x.subject.clone(), x.version)) {
                    used.push((x.subject.clone(), x.version));
                }
            }
            out.push(d);
        }
    }
    (out, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_incompatibility_kind_has_the_code_of_its_java_name() {
        for kind in IncompatibilityKind::ALL {
            let code = incompatibility_code(kind);
            assert_eq!(code.as_str(), kind.as_str());
            assert_eq!(code.family(), evc_catalog::Family::Compatibility);
        }
    }
}
