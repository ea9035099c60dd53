//! Every subject's version history under its compatibility mode: each version against the
//! versions before it that the mode covers, every incompatibility reported.

use std::str::FromStr;

use evc_catalog::{Catalog, Code, Diagnostic, Severity};
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

/// Checks the history of every event; results go to `out`. Returns the exceptions used.
pub fn history(catalog: &Catalog, out: &mut Vec<Diagnostic>) -> Vec<(String, u32)> {
    let mut used = Vec::new();
    // Subjects are independent: check them in parallel.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(catalog.events.len().max(1));
    let chunk = catalog.events.len().div_ceil(threads).max(1);
    let results: Vec<EventResult> = std::thread::scope(|sc| {
        let handles: Vec<_> = catalog
            .events
            .chunks(chunk)
            .map(|part| {
                sc.spawn(move || {
                    part.iter()
                        .map(|ev| event_history(catalog, ev))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("history thread"))
            .collect()
    });
    for (diags, exceptions) in results {
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
    used
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
fn event_history(catalog: &Catalog, ev: &evc_catalog::Event) -> EventResult {
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
