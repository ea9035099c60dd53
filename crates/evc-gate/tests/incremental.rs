//! `--against` in incremental mode gives the same verdict and the same diagnostics as a full
//! run, on a change with breaks of every kind, while checking only the subjects it can affect.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use evc_gate::{check, Options, Report};

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// An event version: the envelope, the key, and `extra` fields (JSON objects).
fn version(ns: &str, name: &str, extra: &[&str]) -> String {
    let mut fields = vec![
        r#"{"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}, "doc": "Id."}"#.to_string(),
        r#"{"name": "key", "type": "string", "doc": "Key."}"#.to_string(),
        r#"{"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "When."}"#.to_string(),
    ];
    fields.extend(extra.iter().map(|s| s.to_string()));
    format!(
        "{{\"type\": \"record\", \"name\": \"{name}\", \"namespace\": \"{ns}\", \"doc\": \"An event.\", \"fields\": [\n  {}\n]}}\n",
        fields.join(",\n  ")
    )
}

const QTY: &str = r#"{"name": "qty", "type": "int", "doc": "How many."}"#;
const QTY_STRING: &str = r#"{"name": "qty", "type": "string", "doc": "How many."}"#;
const NOTE: &str =
    r#"{"name": "note", "type": ["null", "string"], "default": null, "doc": "A note."}"#;
const AGE: &str = r#"{"name": "age", "type": "int", "doc": "Age."}"#;

const CONFIG: &str = r#"[topics.orders]
compatibility = "FULL_TRANSITIVE"
subject_name_strategy = "TopicRecordNameStrategy"
partition_key = "key"
events = ["shop.A", "shop.B", "shop.C", "shop.D", "shop.F", "shop.X"]

[topics.people]
compatibility = "NONE"
subject_name_strategy = "RecordNameStrategy"
partition_key = "key"
events = ["iam.E", "iam.G"]

[[exceptions]]
subject = "orders-shop.X"
version = 2
reason = "reviewed: qty became a string"
"#;

fn repo() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.email", "t@example.invalid"]);
    git(dir, &["config", "user.name", "t"]);
    write(dir, "schemas/evc.toml", CONFIG);
    for name in ["A", "B", "C", "D", "F"] {
        write(
            dir,
            &format!("schemas/shop/{name}/v1.avsc"),
            &version("shop", name, &[QTY]),
        );
        write(
            dir,
            &format!("schemas/shop/{name}/v2.avsc"),
            &version("shop", name, &[QTY, NOTE]),
        );
    }
    // a reviewed break, reported as a warning in every run
    write(dir, "schemas/shop/X/v1.avsc", &version("shop", "X", &[QTY]));
    write(
        dir,
        "schemas/shop/X/v2.avsc",
        &version("shop", "X", &[QTY_STRING]),
    );
    // a history that only NONE accepts
    write(dir, "schemas/iam/E/v1.avsc", &version("iam", "E", &[QTY]));
    write(
        dir,
        "schemas/iam/E/v2.avsc",
        &version("iam", "E", &[QTY_STRING]),
    );
    write(dir, "schemas/iam/G/v1.avsc", &version("iam", "G", &[]));
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    let root = dir.join("schemas");
    (t, root)
}

fn run(root: &Path, incremental: bool) -> Report {
    check(&Options {
        root: root.to_path_buf(),
        against: Some("main".into()),
        check_generated: false,
        incremental,
    })
    .unwrap()
}

/// Everything a diagnostic says, paths relative to the schema directory.
fn shown(root: &Path, r: &Report) -> Vec<String> {
    r.diagnostics
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.file = d.file.strip_prefix(root).unwrap().to_path_buf();
            format!("{d} [{:?} v{:?} at {:?}]", d.subject, d.version, d.location)
        })
        .collect()
}

#[test]
fn an_unchanged_tree_checks_only_the_subjects_with_exceptions() {
    let (_t, root) = repo();
    let full = run(&root, false);
    let inc = run(&root, true);
    assert_eq!(shown(&root, &full), shown(&root, &inc));
    assert_eq!((full.subjects, full.versions, full.checked), (8, 15, 8));
    assert_eq!((inc.subjects, inc.versions, inc.checked), (8, 15, 1));
    assert_eq!(inc.errors(), 0);
    assert_eq!(inc.warnings(), 2, "the reviewed exception, both ways");
}

#[test]
fn full_and_incremental_agree_on_a_change_with_breaks() {
    let (t, root) = repo();
    let dir = t.path();
    // committed on a branch: A gets an incompatible v3
    git(dir, &["checkout", "-q", "-b", "change"]);
    write(
        dir,
        "schemas/shop/A/v3.avsc",
        &version("shop", "A", &[QTY_STRING, NOTE]),
    );
    // people's level tightens: E's unchanged history now breaks
    write(
        dir,
        "schemas/evc.toml",
        &CONFIG.replace("compatibility = \"NONE\"", "compatibility = \"BACKWARD\""),
    );
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "change"]);
    // not committed: B's published v1 edited, D's v2 deleted, C's new v3 untracked, with a
    // field that has no default
    write(
        dir,
        "schemas/shop/B/v1.avsc",
        &version("shop", "B", &[QTY_STRING]),
    );
    fs::remove_file(root.join("shop/D/v2.avsc")).unwrap();
    write(
        dir,
        "schemas/shop/C/v3.avsc",
        &version("shop", "C", &[QTY, NOTE, AGE]),
    );

    let full = run(&root, false);
    let inc = run(&root, true);
    let (f, i) = (shown(&root, &full), shown(&root, &inc));
    assert_eq!(f, i);
    assert_eq!(full.diagnostics, inc.diagnostics);
    assert_eq!((full.subjects, full.versions), (inc.subjects, inc.versions));
    // F is unchanged and has no exception (G's files are unchanged, but its level is not)
    assert_eq!((full.checked, inc.checked), (8, 7));
    let mut codes: Vec<&str> = inc.diagnostics.iter().map(|d| d.code.as_str()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(
        codes,
        [
            "DEFAULT_AFTER_V1",
            "READER_FIELD_MISSING_DEFAULT_VALUE",
            "TYPE_MISMATCH",
            "VERSION_DELETED",
            "VERSION_EDITED"
        ],
        "{i:#?}"
    );
    for (subject, file) in [
        ("orders-shop.A", "shop/A/"),
        ("orders-shop.B", "shop/B/"),
        ("orders-shop.C", "shop/C/"),
        ("iam.E", "iam/E/"),
        ("orders-shop.X", "shop/X/"),
    ] {
        assert!(
            inc.diagnostics
                .iter()
                .any(|d| d.subject.as_deref() == Some(subject)
                    && d.file.strip_prefix(&root).unwrap().starts_with(file)),
            "nothing about {subject} in {i:#?}"
        );
    }
    assert!(
        i.iter()
            .any(|l| l.starts_with("shop/D/v2.avsc: error[VERSION_DELETED]")),
        "{i:#?}"
    );
}

#[test]
fn a_bad_ref_is_an_error() {
    let (_t, root) = repo();
    for r in ["no-such-branch", "--output=x"] {
        let e = check(&Options {
            root: root.clone(),
            against: Some(r.into()),
            check_generated: false,
            incremental: true,
        })
        .unwrap_err();
        assert!(
            matches!(e, evc_gate::GateError::Git(evc_gate::GitError::UnknownRef(ref x)) if x == r),
            "{e}"
        );
    }
}
