//! `evc registry push` and `evc registry diff`: schemas as code. The schema directory is the
//! source of truth; a registry is made to match it (push) or compared with it (diff).

use std::path::Path;

use anyhow::Context;
use evc_catalog::{Catalog, Event};
use evc_registry_client::{RegistryClient, RegistryError, Version as RegVersion};
use evc_schema::Schema;

use crate::Outcome;

/// What one subject looks like in the registry, next to git.
struct Subject<'a> {
    event: &'a Event,
    /// Live versions in the registry, oldest first: (version, id, schema text).
    registry: Vec<(u32, u32, String)>,
    level: Option<String>,
}

/// The same schema, as a registry would decide it: every attribute of the model, compared as
/// evc writes it (white space and attribute order do not matter).
fn same_schema(a: &str, b: &str) -> bool {
    match (Schema::parse(a), Schema::parse(b)) {
        (Ok(x), Ok(y)) => x.to_json() == y.to_json(),
        _ => a == b,
    }
}

async fn fetch<'a>(
    client: &RegistryClient,
    event: &'a Event,
) -> Result<Subject<'a>, RegistryError> {
    let mut registry = Vec::new();
    for v in client.versions(&event.subject).await? {
        let sv = client
            .subject_version(&event.subject, RegVersion::Number(v))
            .await?;
        registry.push((sv.version, sv.id, sv.schema));
    }
    let level = client.compatibility_level(&event.subject).await?;
    Ok(Subject {
        event,
        registry,
        level,
    })
}

/// Differences between git and the registry for one subject, as lines; and whether the
/// registry's history diverges (a version that is not git's at the same position).
fn compare(s: &Subject<'_>) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut diverged = false;
    let ev = s.event;
    for (i, (v, id, text)) in s.registry.iter().enumerate() {
        match ev.versions.get(i) {
            Some(g) if same_schema(text, &g.text) && *v == g.number => {}
            Some(g) => {
                diverged = true;
                out.push(format!(
                    "{}: registry version {v} (id {id}) is not {} ({})",
                    ev.subject,
                    g.rel_path,
                    if same_schema(text, &g.text) {
                        "same schema, other number"
                    } else {
                        "different schema"
                    }
                ));
            }
            None => {
                diverged = true;
                out.push(format!(
                    "{}: registry version {v} (id {id}) is not in git",
                    ev.subject
                ));
            }
        }
    }
    for g in ev.versions.iter().skip(s.registry.len()) {
        out.push(format!(
            "{}: v{} ({}) is not in the registry",
            ev.subject, g.number, g.rel_path
        ));
    }
    match &s.level {
        Some(l) if *l == ev.compatibility => {}
        Some(l) => out.push(format!(
            "{}: compatibility is {l} in the registry, {} in git",
            ev.subject, ev.compatibility
        )),
        None => out.push(format!(
            "{}: no subject-level compatibility in the registry (git says {})",
            ev.subject, ev.compatibility
        )),
    }
    (out, diverged)
}

fn client(url: &str) -> anyhow::Result<RegistryClient> {
    RegistryClient::new(url).with_context(|| format!("--url {url}"))
}

pub fn push(root: &Path, url: &str, dry_run: bool) -> anyhow::Result<Outcome> {
    let catalog: Catalog = crate::load_catalog(root)?;
    let client = client(url)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let mut changed = 0;
        let mut blocked = 0;
        for ev in &catalog.events {
            let s = fetch(&client, ev).await.with_context(|| format!("reading {} from {url}", ev.subject))?;
            let (_, diverged) = compare(&s);
            if diverged {
                blocked += 1;
                eprintln!(
                    "error: {}: the registry's history differs from git; run `evc registry diff` and fix it by hand",
                    ev.subject
                );
                continue;
            }
            if s.level.as_deref() != Some(ev.compatibility.as_str()) {
                changed += 1;
                if dry_run {
                    println!("{}: would set compatibility {}", ev.subject, ev.compatibility);
                } else {
                    client
                        .set_compatibility_level(&ev.subject, &ev.compatibility)
                        .await
                        .with_context(|| format!("setting the compatibility of {}", ev.subject))?;
                    println!("{}: set compatibility {}", ev.subject, ev.compatibility);
                }
            }
            for g in ev.versions.iter().skip(s.registry.len()) {
                changed += 1;
                if dry_run {
                    println!("{}: would register v{} ({})", ev.subject, g.number, g.rel_path);
                    continue;
                }
                let r = client
                    .register(&ev.subject, &g.text)
                    .await
                    .with_context(|| format!("registering {} as {}", g.rel_path, ev.subject))?;
                let got = r.version.map(|v| v.to_string()).unwrap_or_else(|| "?".into());
                if r.version.is_some_and(|v| v != g.number) {
                    anyhow::bail!("{}: {} was registered as version {got}, not {}", ev.subject, g.rel_path, g.number);
                }
                println!("{}: registered v{} ({}) as id {}", ev.subject, g.number, g.rel_path, r.id);
            }
        }
        if blocked > 0 {
            println!("evc registry push: {blocked} subject(s) diverge from git; nothing was registered for them");
            return Ok(Outcome::Failed);
        }
        match (changed, dry_run) {
            (0, _) => println!("evc registry push: the registry matches the schema directory"),
            (n, true) => println!("evc registry push --dry-run: {n} change(s) to make"),
            (n, false) => println!("evc registry push: {n} change(s) made"),
        }
        Ok(Outcome::Ok)
    })
}

pub fn diff(root: &Path, url: &str) -> anyhow::Result<Outcome> {
    let catalog: Catalog = crate::load_catalog(root)?;
    let client = client(url)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let mut drift = 0;
        for ev in &catalog.events {
            let s = fetch(&client, ev)
                .await
                .with_context(|| format!("reading {} from {url}", ev.subject))?;
            for line in compare(&s).0 {
                drift += 1;
                println!("{line}");
            }
        }
        if drift == 0 {
            println!("no drift: the registry matches the schema directory");
            Ok(Outcome::Ok)
        } else {
            println!("{drift} difference(s) between the registry and the schema directory");
            Ok(Outcome::Failed)
        }
    })
}
