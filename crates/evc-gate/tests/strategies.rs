//! The gate on several topics with all three subject name strategies
//! (`evc-catalog/tests/fixtures/multi_topic`): each subject's history is checked under its own
//! mode, findings name the subject the strategy gives, and exceptions are keyed by it.

use std::fs;
use std::path::{Path, PathBuf};

use evc_catalog::Severity;
use evc_gate::{check, Options};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../evc-catalog/tests/fixtures/multi_topic")
}

fn copy(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Version `n` of an event: the fixture's latest version with `find` replaced.
fn next(root: &Path, event: &str, n: u32, find: &str, replace: &str) {
    let dir = root.join(event);
    let latest = fs::read_to_string(dir.join(format!("v{}.avsc", n - 1))).unwrap();
    assert!(latest.contains(find), "{event}: {find}");
    fs::write(
        dir.join(format!("v{n}.avsc")),
        latest.replacen(find, replace, 1),
    )
    .unwrap();
}

/// (severity, code, subject, version, file relative to the root)
type Finding = (&'static str, String, String, u32, String);

fn findings(root: &Path) -> Vec<Finding> {
    let report = check(&Options {
        root: root.to_path_buf(),
        against: None,
        check_generated: false,
        incremental: false,
    })
    .unwrap();
    let mut out: Vec<Finding> = report
        .diagnostics
        .iter()
        .map(|d| {
            (
                match d.severity {
                    Severity::Error => "error",
                    _ => "warning",
                },
                d.code.as_str().to_string(),
                d.subject.clone().unwrap_or_default(),
                d.version.unwrap_or(0),
                d.file.strip_prefix(root).unwrap().display().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_fixture_passes() {
    let report = check(&Options {
        root: fixture(),
        against: None,
        check_generated: false,
        incremental: false,
    })
    .unwrap();
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    assert_eq!((report.subjects, report.versions), (5, 8));
}

#[test]
fn each_subject_is_checked_under_its_own_mode_and_named_by_its_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy(&fixture(), root);
    let int_field = "\"name\": \"quantity\",\n      \"type\": \"int\"";
    // orders-shop.OrderPlaced, FULL_TRANSITIVE: int -> long fails forward against v1 and v2
    next(
        root,
        "shop/OrderPlaced",
        3,
        int_field,
        "\"name\": \"quantity\",\n      \"type\": \"long\"",
    );
    // users-value, BACKWARD: a new field without a default fails backward against v2
    next(
        root,
        "iam/UserRegistered",
        3,
        "\"fields\": [",
        "\"fields\": [\n    {\"name\": \"age\", \"type\": \"int\", \"doc\": \"Age.\"},",
    );
    // ops.LoginFailed, FORWARD_TRANSITIVE: dropping `reason` (no default in v1, v2) fails
    // forward against both; adding a field without a default is fine forward
    let failed = fs::read_to_string(root.join("ops/LoginFailed/v2.avsc")).unwrap();
    let start = failed.find("    {\n      \"name\": \"reason\"").unwrap();
    let end = start + failed[start..].find("},\n").unwrap() + 3;
    fs::write(
        root.join("ops/LoginFailed/v3.avsc"),
        format!("{}{}", &failed[..start], &failed[end..]),
    )
    .unwrap();
    // shop.OrderPaid (RecordNameStrategy by override, BACKWARD_TRANSITIVE): a type change,
    // accepted by a reviewed exception keyed by that subject
    next(
        root,
        "shop/OrderPaid",
        2,
        "\"name\": \"amount_cents\",\n      \"type\": \"long\"",
        "\"name\": \"amount_cents\",\n      \"type\": \"string\"",
    );
    let config = fs::read_to_string(root.join("evc.toml")).unwrap();
    fs::write(
        root.join("evc.toml"),
        format!("{config}\n[[exceptions]]\nsubject = \"shop.OrderPaid\"\nversion = 2\nreason = \"amounts become decimal strings; every consumer was migrated\"\n"),
    )
    .unwrap();
    let s = |x: &str| x.to_string();
    assert_eq!(
        findings(root),
        [
            (
                "error",
                s("DEFAULT_AFTER_V1"),
                s("users-value"),
                3,
                s("iam/UserRegistered/v3.avsc")
            ),
            (
                "error",
                s("READER_FIELD_MISSING_DEFAULT_VALUE"),
                s("ops.LoginFailed"),
                3,
                s("ops/LoginFailed/v1.avsc")
            ),
            (
                "error",
                s("READER_FIELD_MISSING_DEFAULT_VALUE"),
                s("ops.LoginFailed"),
                3,
                s("ops/LoginFailed/v2.avsc")
            ),
            (
                "error",
                s("READER_FIELD_MISSING_DEFAULT_VALUE"),
                s("users-value"),
                3,
                s("iam/UserRegistered/v3.avsc")
            ),
            (
                "error",
                s("TYPE_MISMATCH"),
                s("orders-shop.OrderPlaced"),
                3,
                s("shop/OrderPlaced/v1.avsc")
            ),
            (
                "error",
                s("TYPE_MISMATCH"),
                s("orders-shop.OrderPlaced"),
                3,
                s("shop/OrderPlaced/v2.avsc")
            ),
            (
                "warning",
                s("TYPE_MISMATCH"),
                s("shop.OrderPaid"),
                2,
                s("shop/OrderPaid/v2.avsc")
            ),
        ]
    );
}
