//! `evc check`: the pull-request gate.

use std::path::PathBuf;

use evc_catalog::Severity;
use evc_gate::{GateError, Options};
use serde_json::json;

use crate::render::{self, Sources};
use crate::{Format, Outcome};

pub fn run(
    root: PathBuf,
    against: Option<String>,
    incremental: bool,
    format: Format,
    no_generated: bool,
) -> anyhow::Result<Outcome> {
    let opts = Options {
        root,
        against,
        check_generated: !no_generated,
        incremental,
    };
    let report = match evc_gate::check(&opts) {
        Ok(r) => r,
        Err(GateError::Catalog(d)) => {
            print_all(&d.0, format, None);
            anyhow::bail!("{} problem(s) in {}", d.0.len(), opts.root.display());
        }
        Err(e) => return Err(e.into()),
    };
    print_all(&report.diagnostics, format, Some(&report));
    Ok(if report.ok() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

fn print_all(diags: &[evc_catalog::Diagnostic], format: Format, report: Option<&evc_gate::Report>) {
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    match format {
        Format::Json => {
            let items: Vec<_> = diags
                .iter()
                .map(|d| {
                    json!({
                        "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                        "code": d.code.as_str(),
                        "family": d.code.family().as_str(),
                        "message": d.message,
                        "file": d.file.display().to_string(),
                        "line": d.position.map(|p| p.line),
                        "column": d.position.map(|p| p.column),
                        "location": d.location,
                        "subject": d.subject,
                        "version": d.version,
                        "help": d.help,
                    })
                })
                .collect();
            println!(
                "{}",
                json!({
                    "ok": errors == 0 && report.is_some(),
                    "subjects": report.map(|r| r.subjects),
                    "versions": report.map(|r| r.versions),
                    "checked": report.map(|r| r.checked),
                    "errors": errors,
                    "warnings": warnings,
                    "diagnostics": items,
                })
            );
        }
        Format::Github => {
            for d in diags {
                println!("{}", render::github(d, &d.file));
            }
            summary(errors, warnings, report);
        }
        Format::Text => {
            let mut sources = Sources::default();
            for d in diags {
                eprint!("{}", render::render(d, &d.file, &mut sources));
                if let Some(loc) = &d.location {
                    eprintln!("  = at {loc}");
                }
                eprintln!();
            }
            summary(errors, warnings, report);
        }
    }
}

fn summary(errors: usize, warnings: usize, report: Option<&evc_gate::Report>) {
    if let Some(r) = report {
        let unchanged = if r.checked < r.subjects {
            format!(
                " ({} checked, {} unchanged since the base)",
                r.checked,
                r.subjects - r.checked
            )
        } else {
            String::new()
        };
        println!(
            "evc check: {} subject(s), {} version(s){unchanged}: {errors} error(s), {warnings} warning(s)",
            r.subjects, r.versions
        );
    }
}
