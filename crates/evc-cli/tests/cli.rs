//! The `evc` binary's contracts: exit codes, JSON shapes, output formats, bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::serve;

fn evc(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evc"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_string()
}

const V1: &str = r#"{"type": "record", "name": "User", "fields": [
  {"name": "id", "type": "long"}
]}"#;
const V2_OK: &str = r#"{"type": "record", "name": "User", "fields": [
  {"name": "id", "type": "long"},
  {"name": "email", "type": ["null", "string"], "default": null}
]}"#;
const V3_BAD: &str = r#"{"type": "record", "name": "User", "fields": [
  {"name": "id", "type": "long"},
  {"name": "email", "type": ["null", "string"], "default": null},
  {"name": "age", "type": "int"}
]}"#;

#[test]
fn compat_writer_reader_exit_codes_and_json() {
    let d = tempfile::tempdir().unwrap();
    let (v1, v2, v3) = (
        write(d.path(), "v1.avsc", V1),
        write(d.path(), "v2.avsc", V2_OK),
        write(d.path(), "v3.avsc", V3_BAD),
    );
    let o = evc(&["compat", "--writer", &v1, "--reader", &v2], d.path());
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "compatible");

    let o = evc(
        &[
            "compat", "--writer", &v2, "--reader", &v3, "--format", "json",
        ],
        d.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        j,
        serde_json::json!({"compatible": false, "incompatibilities": [{
            "kind": "READER_FIELD_MISSING_DEFAULT_VALUE",
            "location": "/fields/2",
            "message": j["incompatibilities"][0]["message"],
            "file": "v3.avsc",
            "line": 4,
            "column": 3,
            "writer_version": null
        }]})
    );
    assert!(j["incompatibilities"][0]["message"]
        .as_str()
        .unwrap()
        .contains("`age`"));

    // text: rustc style, with the snippet and the hint
    let o = evc(&["compat", "--writer", &v2, "--reader", &v3], d.path());
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("error[READER_FIELD_MISSING_DEFAULT_VALUE]"),
        "{out}"
    );
    assert!(out.contains("--> v3.avsc:4:3"), "{out}");
    assert!(
        out.contains("= help: add a default to field `age`"),
        "{out}"
    );
    assert!(out.ends_with("incompatible: 1 problem(s)\n"), "{out}");
}

#[test]
fn compat_modes_against_history() {
    let d = tempfile::tempdir().unwrap();
    let (v1, v2, v3) = (
        write(d.path(), "v1.avsc", V1),
        write(d.path(), "v2.avsc", V2_OK),
        write(d.path(), "v3.avsc", V3_BAD),
    );
    let code = |args: &[&str]| evc(args, d.path()).status.code();
    assert_eq!(
        code(&["compat", "--mode", "BACKWARD", "--new", &v2, &v1]),
        Some(0)
    );
    assert_eq!(
        code(&["compat", "--mode", "FORWARD", "--new", &v3, &v1, &v2]),
        Some(0)
    );
    assert_eq!(
        code(&["compat", "--mode", "BACKWARD", "--new", &v3, &v1, &v2]),
        Some(1)
    );
    assert_eq!(
        code(&["compat", "--mode", "NONE", "--new", &v3, &v1, &v2]),
        Some(0)
    );
    assert_eq!(
        code(&[
            "compat",
            "--mode",
            "full_transitive",
            "--new",
            &v3,
            &v1,
            &v2
        ]),
        Some(1)
    );
    let o = evc(
        &[
            "compat",
            "--mode",
            "BACKWARD_TRANSITIVE",
            "--new",
            &v3,
            &v1,
            &v2,
            "--format",
            "json",
        ],
        d.path(),
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let versions: Vec<_> = j["incompatibilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["writer_version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        versions,
        [2, 1],
        "every existing version is checked, newest first"
    );
    // with no existing version there is nothing to break
    assert_eq!(code(&["compat", "--mode", "FULL", "--new", &v3]), Some(0));
}

#[test]
fn compat_bad_input_is_exit_2_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    let v1 = write(d.path(), "v1.avsc", V1);
    let bad = write(d.path(), "bad.avsc", "{\"type\": \"record\",\n \"name\": \"X\", \"fields\": [{\"name\": \"a\", \"type\": \"nope\"}]}");
    for (args, needle) in [
        (
            vec![
                "compat",
                "--writer",
                "missing.avsc",
                "--reader",
                v1.as_str(),
            ],
            "cannot read missing.avsc",
        ),
        (
            vec!["compat", "--writer", bad.as_str(), "--reader", v1.as_str()],
            "bad.avsc:2:48: invalid schema: unknown type `nope`",
        ),
        (
            vec!["compat", "--mode", "SIDEWAYS", "--new", v1.as_str()],
            "SIDEWAYS",
        ),
        (vec!["compat", "--writer", v1.as_str()], "--reader"),
        (vec!["compat"], "use either"),
        (
            vec![
                "compat",
                "--writer",
                v1.as_str(),
                "--reader",
                v1.as_str(),
                "--format",
                "xml",
            ],
            "xml",
        ),
    ] {
        let o = evc(&args, d.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn check_on_the_repository_passes() {
    let o = evc(&["check", "--format", "json"], &repo());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["ok"], true);
    assert_eq!(j["subjects"], 6);
}

#[test]
fn check_formats_on_a_broken_tree() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("schemas/shop/User");
    std::fs::create_dir_all(&s).unwrap();
    std::fs::write(
        d.path().join("schemas/evc.toml"),
        "[topics.t]\ncompatibility = \"BACKWARD\"\nsubject_name_strategy = \"TopicNameStrategy\"\npartition_key = \"id\"\nevents = [\"shop.User\"]\n[lint]\ndisable = [\"RECORD_DOC\", \"FIELD_DOC\", \"ENVELOPE\"]\n",
    )
    .unwrap();
    std::fs::write(
        s.join("v1.avsc"),
        V1.replace("\"User\"", "\"User\", \"namespace\": \"shop\""),
    )
    .unwrap();
    std::fs::write(
        s.join("v2.avsc"),
        V3_BAD.replace("\"User\"", "\"User\", \"namespace\": \"shop\""),
    )
    .unwrap();
    let o = evc(&["check", "--format", "github"], d.path());
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("::error file=schemas/shop/User/v2.avsc,line=4,col=3,title=evc READER_FIELD_MISSING_DEFAULT_VALUE::v2 cannot read data written with v1 (BACKWARD)"),
        "{out}"
    );
    assert!(
        out.contains(
            "::error file=schemas/shop/User/v2.avsc,line=4,col=12,title=evc DEFAULT_AFTER_V1::"
        ),
        "{out}"
    );
    let o = evc(&["check"], d.path());
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("  --> schemas/shop/User/v2.avsc:4:3"), "{err}");
    assert!(err.contains("^"), "{err}");
    // a tree that does not load is bad input
    std::fs::write(s.join("v2.avsc"), "{").unwrap();
    let o = evc(&["check", "--format", "json"], d.path());
    assert_eq!(o.status.code(), Some(2));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["diagnostics"][0]["code"], "INVALID_JSON");
}

#[test]
fn registry_push_and_diff() {
    let s = serve();
    let run = |args: &[&str]| {
        let o = evc(args, &repo());
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
        )
    };
    let (code, out) = run(&["registry", "diff", "--url", &s.1]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("orders-com.acme.orders.OrderPaid: v2 (com.acme.orders/OrderPaid/v2.avsc) is not in the registry"), "{out}");
    let (code, out) = run(&["registry", "push", "--url", &s.1, "--dry-run"]);
    assert_eq!(code, Some(0));
    assert!(
        out.ends_with("evc registry push --dry-run: 14 change(s) to make\n"),
        "{out}"
    );
    // a dry run changes nothing
    assert_eq!(run(&["registry", "diff", "--url", &s.1]).0, Some(1));
    let (code, out) = run(&["registry", "push", "--url", &s.1]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("orders-com.acme.orders.OrderCreated: registered v2 (com.acme.orders/OrderCreated/v2.avsc) as id 2"), "{out}");
    // idempotent
    let (code, out) = run(&["registry", "push", "--url", &s.1]);
    assert_eq!(
        (code, out.as_str()),
        (
            Some(0),
            "evc registry push: the registry matches the schema directory\n"
        )
    );
    assert_eq!(
        run(&["registry", "diff", "--url", &s.1]),
        (
            Some(0),
            "no drift: the registry matches the schema directory\n".to_string()
        )
    );
    // the registry enforces the level push set: an incompatible v3 is refused with 409
    let client = std::process::Command::new("curl")
        .args(["-s", "-X", "POST", "-H", "Content-Type: application/json", "-d"])
        .arg(r#"{"schema":"{\"type\":\"record\",\"name\":\"OrderShipped\",\"namespace\":\"com.acme.orders\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}"}"#)
        .arg(format!("{}/subjects/orders-com.acme.orders.OrderShipped/versions", s.1))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&client.stdout).contains("\"error_code\":409"),
        "{}",
        String::from_utf8_lossy(&client.stdout)
    );
    // an unreachable registry is bad input (exit 2) with the reason
    let o = evc(
        &["registry", "diff", "--url", "http://127.0.0.1:1"],
        &repo(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("unavailable"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_demo_runs_on_embedded_defaults() {
    let o = evc(&["demo"], &repo());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for needle in [
        "  broker    ",
        " (librdkafka mock cluster)",
        "== Schemas",
        "== Orders",
        "now: shipped (final)",
        "now: cancelled (final): create_shipment: rejected: injected failure",
        "compensated: refund_payment > release_inventory",
        "== Schema evolution",
        "== Read model",
        "state replay equals the read model",
    ] {
        assert!(out.contains(needle), "no `{needle}` in:\n{out}");
    }
    let o = evc(&["demo", "--database", "mysql://nope"], &repo());
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn check_refuses_an_unknown_lint_rule_with_where_and_the_rules() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("schemas/shop/User");
    std::fs::create_dir_all(&s).unwrap();
    std::fs::write(
        d.path().join("schemas/evc.toml"),
        "[topics.t]\ncompatibility = \"BACKWARD\"\nsubject_name_strategy = \"TopicNameStrategy\"\npartition_key = \"id\"\nevents = [\"shop.User\"]\n[lint]\ndisable = [\"RECORD_DOC\", \"feild-doc\"]\n",
    )
    .unwrap();
    std::fs::write(
        s.join("v1.avsc"),
        V1.replace("\"User\"", "\"User\", \"namespace\": \"shop\""),
    )
    .unwrap();
    let o = evc(&["check"], d.path());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error[CONFIG_UNKNOWN_LINT_RULE]: [lint] disable names `feild-doc`, which is not a lint rule\n  --> schemas/evc.toml:7:26"),
        "{err}"
    );
    assert!(
        err.contains("= help: the lint rules are RECORD_NAME_CASE, FIELD_NAME_CASE,"),
        "{err}"
    );
    let o = evc(&["check", "--format", "json"], d.path());
    assert_eq!(o.status.code(), Some(2));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["diagnostics"][0]["code"], "CONFIG_UNKNOWN_LINT_RULE");
    assert_eq!(j["diagnostics"][0]["family"], "load");
    assert_eq!(
        (&j["diagnostics"][0]["line"], &j["diagnostics"][0]["column"]),
        (&serde_json::json!(7), &serde_json::json!(26))
    );
}

/// `evc registry push` with several topics and all three subject name strategies: every event
/// lands in the subject its strategy names, with its topic's (or its override's) level.
#[test]
fn registry_push_uses_each_events_subject_name_strategy() {
    let s = serve();
    let root = repo().join("crates/evc-catalog/tests/fixtures/multi_topic");
    let root = root.to_str().unwrap();
    let o = evc(
        &["registry", "push", "--root", root, "--url", &s.1],
        &repo(),
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.ends_with("evc registry push: 13 change(s) made\n"),
        "{out}"
    );
    let get = |path: &str| -> serde_json::Value {
        let o = Command::new("curl")
            .args(["-sf", &format!("{}{path}", s.1)])
            .output()
            .unwrap();
        assert!(o.status.success(), "GET {path}");
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let mut subjects: Vec<String> = serde_json::from_value(get("/subjects")).unwrap();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "ops.LoginFailed",
            "ops.LoginSucceeded",
            "orders-shop.OrderPlaced",
            "shop.OrderPaid",
            "users-value"
        ]
    );
    for (subject, versions, level, record) in [
        ("ops.LoginFailed", 2, "FORWARD_TRANSITIVE", "LoginFailed"),
        (
            "ops.LoginSucceeded",
            1,
            "FORWARD_TRANSITIVE",
            "LoginSucceeded",
        ),
        (
            "orders-shop.OrderPlaced",
            2,
            "FULL_TRANSITIVE",
            "OrderPlaced",
        ),
        ("shop.OrderPaid", 1, "BACKWARD_TRANSITIVE", "OrderPaid"),
        ("users-value", 2, "BACKWARD", "UserRegistered"),
    ] {
        assert_eq!(
            get(&format!("/subjects/{subject}/versions")),
            serde_json::json!((1..=versions).collect::<Vec<u32>>()),
            "{subject}"
        );
        assert_eq!(
            get(&format!("/config/{subject}"))["compatibilityLevel"],
            level,
            "{subject}"
        );
        let latest = get(&format!("/subjects/{subject}/versions/latest"));
        let schema: serde_json::Value =
            serde_json::from_str(latest["schema"].as_str().unwrap()).unwrap();
        assert_eq!(schema["name"], record, "{subject}: {latest}");
    }
    let o = evc(
        &["registry", "diff", "--root", root, "--url", &s.1],
        &repo(),
    );
    assert_eq!(
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string()
        ),
        (
            Some(0),
            "no drift: the registry matches the schema directory\n".to_string()
        )
    );
}
