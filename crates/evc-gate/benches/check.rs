//! `evc check` on a synthetic tree: 1,000 subjects with 20 versions each under FULL_TRANSITIVE
//! (each version adds an optional field), so every version is checked both ways against every
//! earlier one: 1,000 × 190 pairs × 2 directions.
//!
//! Run: `cargo bench -p evc-gate --bench check`.

use std::fmt::Write;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};

const SUBJECTS: usize = 1_000;
const VERSIONS: usize = 20;

fn version(name: &str, v: usize) -> String {
    let mut fields = String::from(
        r#"{"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}, "doc": "id"},
    {"name": "order_id", "type": "string", "doc": "key"},
    {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "when"},
    {"name": "status", "type": {"type": "enum", "name": "Status", "doc": "s", "symbols": ["A", "B", "C"], "default": "A"}, "doc": "status"},
    {"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": "Line", "doc": "l", "fields": [{"name": "sku", "type": "string", "doc": "sku"}, {"name": "qty", "type": "int", "doc": "qty"}]}}, "doc": "lines"}"#,
    );
    for i in 2..=v {
        let _ = write!(fields, ",\n    {{\"name\": \"extra_{i}\", \"type\": [\"null\", \"string\"], \"default\": null, \"doc\": \"added in v{i}\"}}");
    }
    format!("{{\"type\": \"record\", \"name\": \"{name}\", \"namespace\": \"bench\", \"doc\": \"d\", \"fields\": [\n    {fields}\n]}}\n")
}

fn tree(root: &Path) {
    let mut names = Vec::new();
    for s in 0..SUBJECTS {
        let name = format!("Event{s}");
        let dir = root.join("bench").join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        for v in 1..=VERSIONS {
            std::fs::write(dir.join(format!("v{v}.avsc")), version(&name, v)).unwrap();
        }
        names.push(format!("\"bench.{name}\""));
    }
    let config = format!(
        "[topics.bench]\ncompatibility = \"FULL_TRANSITIVE\"\nsubject_name_strategy = \"TopicRecordNameStrategy\"\npartition_key = \"order_id\"\nevents = [{}]\n",
        names.join(", ")
    );
    std::fs::write(root.join("evc.toml"), config).unwrap();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let opts = evc_gate::Options {
        root: dir.path().to_path_buf(),
        against: None,
        check_generated: false,
    };
    let report = evc_gate::check(&opts).unwrap();
    assert!(
        report.ok(),
        "the synthetic tree is a legal evolution: {:?}",
        report.diagnostics.first()
    );
    assert_eq!(
        (report.subjects, report.versions),
        (SUBJECTS, SUBJECTS * VERSIONS)
    );
    let mut g = c.benchmark_group("evc_check");
    g.sample_size(10);
    g.bench_function("1000_subjects_x_20_versions_full_transitive", |b| {
        b.iter(|| evc_gate::check(&opts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
