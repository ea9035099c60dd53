//! `evc compat`: compatibility of schema files, with an exact contract other tools rely on.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, bail, Context};
use evc_catalog::Diagnostic;
use evc_compat::{Incompatibility, Mode};
use evc_schema::Schema;
use serde_json::json;

use crate::render::{self, Sources};
use crate::{Format, Outcome};

struct Loaded {
    path: PathBuf,
    text: String,
    schema: Schema,
}

fn load(path: &Path) -> anyhow::Result<Loaded> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let schema = Schema::parse(&text).map_err(|e| {
        let p = evc_schema::json::line_col(&text, e.span.start);
        anyhow!(
            "{}:{}:{}: invalid schema: {}",
            path.display(),
            p.line,
            p.column,
            e.message
        )
    })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        text,
        schema,
    })
}

/// One finding, tied to the file its location points into.
struct Found<'a> {
    inc: Incompatibility,
    file: &'a Loaded,
    writer_version: Option<usize>,
    context: String,
}

pub fn run(
    writer: Option<PathBuf>,
    reader: Option<PathBuf>,
    mode: Option<String>,
    new: Option<PathBuf>,
    existing: Vec<PathBuf>,
    format: Format,
) -> anyhow::Result<Outcome> {
    if matches!(format, Format::Github) {
        bail!("--format github is for `evc check`; use text or json");
    }
    let mut files = Vec::new();
    let found: Vec<Found> = match (writer, reader, mode, new) {
        (Some(w), Some(r), None, None) => {
            if !existing.is_empty() {
                bail!("unexpected arguments {:?}: existing versions go with --mode and --new", existing);
            }
            let w = load(&w)?;
            let r = load(&r)?;
            files.push(w);
            files.push(r);
            let (w, r) = (&files[0], &files[1]);
            match evc_compat::check(&r.schema, &w.schema) {
                Ok(list) => list
                    .into_iter()
                    .map(|inc| Found { inc, file: r, writer_version: None, context: "the reader cannot read data written with the writer".into() })
                    .collect(),
                Err(e) => return ambiguous(&e.to_string(), &r.path, format),
            }
        }
        (None, None, Some(mode), Some(new)) => {
            let mode = Mode::from_str(&mode).map_err(|e| anyhow!("{e}"))?;
            files.push(load(&new)?);
            for p in &existing {
                files.push(load(p)?);
            }
            let (new, old) = files.split_first().expect("new is loaded");
            let schemas: Vec<&Schema> = old.iter().map(|l| &l.schema).collect();
            match evc_compat::check_mode_all(mode, &new.schema, &schemas) {
                Ok(list) => list
                    .into_iter()
                    .map(|m| {
                        let n = m.existing_index + 1;
                        let (file, context) = if m.in_new_schema() {
                            (new, format!("the new schema cannot read data written with existing version {n} ({mode})"))
                        } else {
                            (&old[m.existing_index], format!("existing version {n} cannot read data written with the new schema ({mode})"))
                        };
                        Found { inc: m.incompatibility, file, writer_version: Some(n), context }
                    })
                    .collect(),
                Err(e) => return ambiguous(&e.to_string(), &new.path, format),
            }
        }
        _ => bail!(
            "use either `evc compat --writer W.avsc --reader R.avsc` or `evc compat --mode MODE --new NEW.avsc [EXISTING.avsc ...]`"
        ),
    };
    match format {
        Format::Json => {
            let items: Vec<_> = found
                .iter()
                .map(|f| {
                    let p = (!f.inc.span_in_reference)
                        .then(|| evc_schema::json::line_col(&f.file.text, f.inc.span.start));
                    json!({
                        "kind": f.inc.kind.as_str(),
                        "location": f.inc.location,
                        "message": f.inc.message,
                        "file": f.file.path.display().to_string(),
                        "line": p.map(|p| p.line),
                        "column": p.map(|p| p.column),
                        "writer_version": f.writer_version,
                    })
                })
                .collect();
            println!(
                "{}",
                json!({"compatible": found.is_empty(), "incompatibilities": items})
            );
        }
        _ => {
            let mut sources = Sources::default();
            for f in &found {
                sources.insert(&f.file.path, f.file.text.clone());
                let mut d = Diagnostic::error(
                    evc_gate::incompatibility_code(f.inc.kind),
                    &f.file.path,
                    format!("{}: {}", f.context, f.inc.message),
                )
                .with_location(&f.inc.location)
                .with_help(evc_gate::hint(&f.inc.detail));
                if !f.inc.span_in_reference {
                    d = d.at(&f.file.text, f.inc.span);
                }
                print!("{}", render::render(&d, &f.file.path, &mut sources));
                println!("  = at {}", f.inc.location);
            }
            if found.is_empty() {
                println!("compatible");
            } else {
                println!("incompatible: {} problem(s)", found.len());
            }
        }
    }
    Ok(if found.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

/// Avro Java refuses to decide when a reader field matches two writer fields by name and
/// aliases; Confluent treats that as incompatible, and so does evc.
fn ambiguous(message: &str, file: &Path, format: Format) -> anyhow::Result<Outcome> {
    let code = evc_gate::Code::AmbiguousField.as_str();
    match format {
        Format::Json => println!(
            "{}",
            json!({"compatible": false, "incompatibilities": [{
                "kind": code, "location": null, "message": message,
                "file": file.display().to_string(), "line": null, "column": null, "writer_version": null
            }]})
        ),
        _ => println!(
            "error[{code}]: {message}\n  --> {}\nincompatible: 1 problem(s)",
            file.display()
        ),
    }
    Ok(Outcome::Failed)
}
