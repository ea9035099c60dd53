//! `evc init [DIR]`: scaffolds a contracts repository that passes `evc check`,
//! `evc codegen --check` and `cargo build` straight away.
//!
//! It writes `schemas/evc.toml`, one example event `schemas/<namespace>/<Event>/v1.avsc` with
//! the envelope (event id, partition key, time), a generated-events crate (`events/`, with its
//! code generated), a workspace `Cargo.toml`, a GitHub workflow running the gate on pull
//! requests and `schemas/README.md` on how to change a schema. It never overwrites: when any
//! of those files exists, it names them and writes nothing (exit 2).

use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context};

use crate::Outcome;

/// What `evc init` was asked for.
pub struct InitOptions {
    pub dir: PathBuf,
    pub topic: String,
    pub key: String,
    pub namespace: Option<String>,
    pub event: String,
    /// A folder holding evc's crates (a checkout's `crates/`), for path dependencies.
    pub evc_path: Option<PathBuf>,
}

fn avro_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_names(o: &InitOptions) -> anyhow::Result<String> {
    let topic_ok = !o.topic.is_empty()
        && o.topic.len() <= 249
        && o.topic != "."
        && o.topic != ".."
        && o.topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !topic_ok {
        bail!(
            "invalid --topic `{}`: a Kafka topic name is 1 to 249 of [a-zA-Z0-9._-]",
            o.topic
        );
    }
    if !avro_name(&o.key) {
        bail!(
            "invalid --key `{}`: an Avro field name starts with a letter or `_` and holds letters, digits and `_`",
            o.key
        );
    }
    if !avro_name(&o.event) || !o.event.starts_with(|c: char| c.is_ascii_uppercase()) {
        bail!(
            "invalid --event `{}`: an Avro record name in UpperCamelCase, e.g. PaymentAuthorized",
            o.event
        );
    }
    let namespace = o.namespace.clone().unwrap_or_else(|| {
        let t: String = o
            .topic
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let t = if t.starts_with(|c: char| c.is_ascii_digit()) {
            format!("_{t}")
        } else {
            t
        };
        format!("com.example.{t}")
    });
    if !namespace.split('.').all(avro_name) {
        bail!(
            "invalid --namespace `{namespace}`: dot-separated Avro names, e.g. com.acme.payments"
        );
    }
    if ["event_id", "occurred_at"].contains(&o.key.as_str()) {
        bail!(
            "--key `{}` is an envelope field; name the entity, e.g. payment_id",
            o.key
        );
    }
    Ok(namespace)
}

/// `payments` → `Payments`, `order-lines` → `OrderLines`.
fn camel(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

pub fn run(o: InitOptions) -> anyhow::Result<Outcome> {
    let namespace = check_names(&o)?;
    let crate_name = format!(
        "{}-events",
        o.topic
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            })
            .collect::<String>()
    );
    let rust_enum = format!("{}Event", camel(&o.topic));
    let evc_avro = match &o.evc_path {
        Some(p) => {
            let p = fs::canonicalize(p).with_context(|| format!("--evc-path {}", p.display()))?;
            if !p.join("evc-avro/Cargo.toml").exists() {
                bail!(
                    "--evc-path {}: no evc-avro crate there (give the `crates` folder of an evc checkout)",
                    p.display()
                );
            }
            format!(
                "{{ path = {:?} }}",
                p.join("evc-avro").display().to_string()
            )
        }
        None => "\"0.1\"".to_string(),
    };
    let files = scaffold(&o, &namespace, &crate_name, &rust_enum, &evc_avro);

    let existing: Vec<String> = files
        .iter()
        .map(|(rel, _)| o.dir.join(rel))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    let generated = o.dir.join("events/src/generated");
    if !existing.is_empty() || generated.exists() {
        let mut all = existing;
        if generated.exists() {
            all.push(generated.display().to_string());
        }
        bail!(
            "evc init writes nothing over existing files; these exist already:\n  {}",
            all.join("\n  ")
        );
    }
    let mut written: Vec<PathBuf> = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for (rel, contents) in &files {
            let path = o.dir.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
        let output = evc_codegen::generate_schema_dir(&o.dir.join("schemas"))?;
        evc_codegen::sync(&output.dir, &output.files, false, &o.dir)?;
        Ok(())
    })();
    if let Err(e) = result {
        // nothing half-written: take back what this run wrote
        for p in &written {
            let _ = fs::remove_file(p);
        }
        let _ = fs::remove_dir_all(&generated);
        return Err(e);
    }
    for (rel, _) in &files {
        println!("created {}", o.dir.join(rel).display());
    }
    println!("created {} (generated)", generated.display());
    println!(
        "\nnext: edit {}, then `evc codegen --root {}` and `evc check --root {}`",
        o.dir.join(&files[1].0).display(),
        o.dir.join("schemas").display(),
        o.dir.join("schemas").display()
    );
    Ok(Outcome::Ok)
}

fn scaffold(
    o: &InitOptions,
    namespace: &str,
    crate_name: &str,
    rust_enum: &str,
    evc_avro: &str,
) -> Vec<(String, String)> {
    let topic = &o.topic;
    let key = &o.key;
    let event = &o.event;
    let fullname = format!("{namespace}.{event}");
    vec![
        (
            "schemas/evc.toml".into(),
            format!(
                r#"# Event contracts: every event type, the topic it travels on, and the rules it follows.
# Layout: <namespace>/<RecordName>/v<N>.avsc, versions 1, 2, 3, ... without gaps.
# Published versions are append-only: never edit or delete a vN.avsc once merged.

[codegen]
# Where `evc codegen` writes the typed Rust events (relative to this folder).
output = "../events/src/generated"

[envelope]
# Every event carries these fields (checked by `evc check`).
event_id = "event_id"
occurred_at = "occurred_at"

[topics.{topic_key}]
# Events are kept and replayed, and producers and consumers deploy in any order:
# every version must read and be read by every other.
compatibility = "FULL_TRANSITIVE"
# Several event types may share the topic, each with its own subject and history.
subject_name_strategy = "TopicRecordNameStrategy"
# The broker key: all events of one {key} land on one partition, in order.
partition_key = "{key}"
rust_enum = "{rust_enum}"
events = [
  "{fullname}",
]
"#,
                topic_key = toml_key(topic)
            ),
        ),
        (
            format!("schemas/{namespace}/{event}/v1.avsc"),
            format!(
                r#"{{
  "type": "record",
  "name": "{event}",
  "namespace": "{namespace}",
  "doc": "An example event: replace it with your first real one.",
  "fields": [
    {{"name": "event_id", "type": {{"type": "string", "logicalType": "uuid"}}, "doc": "Unique id of this event, for deduplication."}},
    {{"name": "{key}", "type": "string", "doc": "The entity this event is about; also the partition key."}},
    {{"name": "occurred_at", "type": {{"type": "long", "logicalType": "timestamp-millis"}}, "doc": "When it happened (UTC)."}},
    {{"name": "description", "type": "string", "doc": "What happened, in words."}}
  ]
}}
"#
            ),
        ),
        (
            "Cargo.toml".into(),
            "[workspace]\nresolver = \"2\"\nmembers = [\"events\"]\n".into(),
        ),
        (
            "events/Cargo.toml".into(),
            format!(
                r#"[package]
name = "{crate_name}"
description = "Typed Rust events of the `{topic}` topic, generated from ../schemas by `evc codegen`"
version = "0.1.0"
edition = "2021"

[lib]
# schema docs become rustdoc; they are prose, not code to test
doctest = false

[dependencies]
# evc's runtime traits and codecs that the generated code implements
evc-avro = {evc_avro}
"#
            ),
        ),
        (
            "events/src/lib.rs".into(),
            format!(
                "//! Typed events of the `{topic}` topic, generated from `schemas/` by `evc codegen`.\n//! Nothing in `generated/` is written by hand: change the schemas and run `evc codegen`.\n\n#![forbid(unsafe_code)]\n\nmod generated;\n\npub use generated::*;\n"
            ),
        ),
        (
            ".github/workflows/schema-gate.yml".into(),
            r#"# The schema gate: every pull request that touches the event contracts is checked.
name: schema gate
on:
  pull_request:
    paths: ["schemas/**", "events/**"]
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0 # the base branch, for --against
      - uses: dtolnay/rust-toolchain@stable
        with:
          components: rustfmt
      - run: cargo install evc-cli --locked
      - name: lint and compatibility, with every break shown inline
        run: evc check --root schemas --against "origin/${{ github.base_ref }}" --format github
      - name: generated code is fresh
        run: evc codegen --root schemas --check
      - run: cargo build --workspace
"#
            .into(),
        ),
        (
            "schemas/README.md".into(),
            format!(
                r#"# Event contracts

The events of the `{topic}` topic, as Avro schemas. `evc` turns them into typed Rust
(`events/`), and blocks every change that would break a producer or a consumer.

## Changing a schema

1. Never edit a published `vN.avsc`. Copy the latest to `v(N+1).avsc` and change the copy
   (add a field **with a default**, add an optional field, ...).
2. `evc codegen --root schemas` writes the new version's Rust into `events/src/generated/`.
3. `evc check --root schemas --against origin/main` checks every subject's history under its
   compatibility mode (`FULL_TRANSITIVE` here) and explains each break with file and line.
4. Commit the schema and the generated code together. The workflow in
   `.github/workflows/schema-gate.yml` runs the same checks on every pull request.

A new event type: add `schemas/<namespace>/<Name>/v1.avsc` with the envelope fields
(`event_id`, `{key}`, `occurred_at`) and list its full name under the topic in `evc.toml`.
"#
            ),
        ),
    ]
}

/// A TOML key: bare when it can be, quoted otherwise.
fn toml_key(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}
