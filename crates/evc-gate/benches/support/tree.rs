//! The synthetic schema tree of the gate benchmarks (shared with `evc-cli`'s whole-process
//! bench): 1,000 subjects with 20 versions each under FULL_TRANSITIVE, each version adding an
//! optional field to the one before.

use std::fmt::Write;
use std::path::Path;

pub const SUBJECTS: usize = 1_000;
pub const VERSIONS: usize = 20;

pub fn version(name: &str, v: usize) -> String {
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

pub fn tree(root: &Path) {
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

/// Makes `root` a git repository with the tree committed on `main`.
#[allow(dead_code)] // not every bench uses every helper
pub fn commit(root: &Path) {
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &[
            "-c",
            "user.email=bench@example.invalid",
            "-c",
            "user.name=bench",
            "commit",
            "-q",
            "-m",
            "tree",
        ],
    ] {
        let o = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .expect("git");
        assert!(o.status.success(), "git {args:?}");
    }
}

/// Adds a legal next version to subject `s` (not committed).
#[allow(dead_code)]
pub fn add_version(root: &Path, s: usize) {
    let name = format!("Event{s}");
    std::fs::write(
        root.join("bench")
            .join(&name)
            .join(format!("v{}.avsc", VERSIONS + 1)),
        version(&name, VERSIONS + 1),
    )
    .unwrap();
}
