//! The gate in a temporary git repository: a legal evolution passes; every kind of break, an
//! edited, deleted or renumbered published version, lint findings and stale generated code fail
//! with the right code, file and line.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use evc_catalog::Severity;
use evc_gate::{check, Options};

const CONFIG: &str = r#"[topics.orders]
compatibility = "FULL_TRANSITIVE"
subject_name_strategy = "TopicRecordNameStrategy"
partition_key = "order_id"
events = ["shop.OrderPlaced"]
"#;

/// A v1 with the envelope, docs, and some types to break.
const V1: &str = r#"{
  "type": "record", "name": "OrderPlaced", "namespace": "shop", "doc": "An order was placed.",
  "fields": [
    {"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}, "doc": "Id."},
    {"name": "order_id", "type": "string", "doc": "Order."},
    {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "When."},
    {"name": "quantity", "type": "int", "doc": "How many."},
    {"name": "status", "type": {"type": "enum", "name": "Status", "doc": "S.", "symbols": ["NEW", "PAID"]}, "doc": "Status."},
    {"name": "digest", "type": {"type": "fixed", "name": "Digest", "doc": "D.", "size": 16}, "doc": "Digest."},
    {"name": "note", "type": ["null", "string"], "default": null, "doc": "A note."}
  ]
}
"#;

/// (severity, code, file relative to schemas/, line, location)
type Finding = (String, String, String, Option<usize>, Option<String>);

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let r = Repo { dir };
        r.git(&["init", "-q", "-b", "main"]);
        r.git(&["config", "user.email", "t@example.invalid"]);
        r.git(&["config", "user.name", "t"]);
        r.write("schemas/evc.toml", CONFIG);
        r.write("schemas/shop/OrderPlaced/v1.avsc", V1);
        r.commit("v1");
        r
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("schemas")
    }
    fn git(&self, args: &[&str]) {
        let s = Command::new("git")
            .arg("-C")
            .arg(self.dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            s.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&s.stderr)
        );
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.dir.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fn commit(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
    }
    /// (severity, code, file relative to schemas/, line, location)
    fn gate(&self, against: Option<&str>) -> Vec<Finding> {
        let root = self.root();
        let report = check(&Options {
            root: root.clone(),
            against: against.map(str::to_string),
            check_generated: true,
            incremental: false,
        })
        .unwrap();
        report
            .diagnostics
            .iter()
            .map(|d| {
                (
                    match d.severity {
                        Severity::Error => "error".to_string(),
                        Severity::Warning => "warning".to_string(),
                    },
                    d.code.as_str().to_string(),
                    d.file
                        .strip_prefix(&root)
                        .unwrap_or(&d.file)
                        .display()
                        .to_string(),
                    d.position.map(|p| p.line),
                    d.location.clone(),
                )
            })
            .collect()
    }
}

fn v2_with(find: &str, replace: &str) -> String {
    assert!(V1.contains(find), "{find}");
    V1.replacen(find, replace, 1)
}

const V2_FILE: &str = "shop/OrderPlaced/v2.avsc";

#[test]
fn a_legal_evolution_passes() {
    let r = Repo::new();
    r.write(
        "schemas/shop/OrderPlaced/v2.avsc",
        &v2_with(
            r#"{"name": "note""#,
            r#"{"name": "channel", "type": ["null", "string"], "default": null, "doc": "Channel."},
    {"name": "note""#,
        ),
    );
    assert_eq!(r.gate(Some("main")), []);
}

#[test]
fn each_kind_of_break_fails_with_file_and_line() {
    let cases: &[(&str, &str, &str, usize, &str)] = &[
        // a new required field: v2 cannot read v1 data
        (
            r#"{"name": "note""#,
            r#"{"name": "channel", "type": "string", "doc": "Channel."},
    {"name": "note""#,
            "READER_FIELD_MISSING_DEFAULT_VALUE",
            10,
            "/fields/6",
        ),
        (
            r#""name": "quantity", "type": "int""#,
            r#""name": "quantity", "type": "string""#,
            "TYPE_MISMATCH",
            7,
            "/fields/3/type",
        ),
        (
            r#""symbols": ["NEW", "PAID"]"#,
            r#""symbols": ["NEW"]"#,
            "MISSING_ENUM_SYMBOLS",
            8,
            "/fields/4/type/symbols",
        ),
        (
            r#""name": "Digest", "doc": "D.", "size": 16"#,
            r#""name": "Digest", "doc": "D.", "size": 32"#,
            "FIXED_SIZE_MISMATCH",
            9,
            "/fields/5/type/size",
        ),
        (
            r#""name": "Digest""#,
            r#""name": "Hash""#,
            "NAME_MISMATCH",
            9,
            "/fields/5/type/name",
        ),
        (
            r#"["null", "string"], "default": null"#,
            r#""string", "default": "x""#,
            "TYPE_MISMATCH",
            10,
            "/fields/6/type/0",
        ),
    ];
    for (find, replace, kind, line, location) in cases {
        let r = Repo::new();
        r.write(&format!("schemas/{V2_FILE}"), &v2_with(find, replace));
        let found = r.gate(None);
        let hit = found
            .iter()
            .find(|f| f.1 == *kind)
            .unwrap_or_else(|| panic!("{kind} not in {found:?}"));
        assert_eq!(hit.0, "error");
        // the location points into whichever version was the reader; both are checked (FULL)
        assert!(hit.2.ends_with(".avsc"), "{hit:?}");
        assert!(
            found
                .iter()
                .any(|f| f.1 == *kind && f.3 == Some(*line) && f.4.as_deref() == Some(*location)),
            "{kind}: {found:?}"
        );
    }
}

#[test]
fn union_branch_removed_is_missing_union_branch() {
    let r = Repo::new();
    r.write(
        "schemas/shop/OrderPlaced/v2.avsc",
        &v2_with(
            r#"["null", "string"], "default": null"#,
            r#"["null", "long"], "default": null"#,
        ),
    );
    let found = r.gate(None);
    let kinds: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
    assert!(kinds.contains(&"MISSING_UNION_BRANCH"), "{found:?}");
}

#[test]
fn transitive_modes_check_every_earlier_version() {
    let r = Repo::new();
    // v2 drops `quantity` (it had no default: v1 readers now miss it) ...
    let v2 = v2_with(
        r#"{"name": "quantity", "type": "int", "doc": "How many."},"#,
        "",
    );
    r.write("schemas/shop/OrderPlaced/v2.avsc", &v2);
    // ... and v3 puts it back as a string: against v2 that is a new field without default
    // (error), against v1 a type change (error)
    let v3 = v2.replacen(
        r#"{"name": "note""#,
        r#"{"name": "quantity", "type": "string", "doc": "How many."},
    {"name": "note""#,
        1,
    );
    r.write("schemas/shop/OrderPlaced/v3.avsc", &v3);
    let found = r.gate(None);
    assert!(
        found
            .iter()
            .any(|f| f.1 == "TYPE_MISMATCH" && f.2.contains("v3.avsc")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|f| f.1 == "READER_FIELD_MISSING_DEFAULT_VALUE" && f.2.contains("v1.avsc")),
        "{found:?}"
    );
}

#[test]
fn a_reviewed_exception_turns_the_break_into_a_warning() {
    let r = Repo::new();
    r.write(
        &format!("schemas/{V2_FILE}"),
        &v2_with(
            r#""name": "quantity", "type": "int""#,
            r#""name": "quantity", "type": "string""#,
        ),
    );
    r.write(
        "schemas/evc.toml",
        &format!("{CONFIG}\n[[exceptions]]\nsubject = \"orders-shop.OrderPlaced\"\nversion = 2\nreason = \"no consumer reads quantity yet (ticket 42)\"\n"),
    );
    let found = r.gate(None);
    assert!(!found.is_empty());
    assert!(found.iter().all(|f| f.0 == "warning"), "{found:?}");
    // an exception that matches nothing is reported too
    r.write(&format!("schemas/{V2_FILE}"), V1);
    let found = r.gate(None);
    assert_eq!(
        found.iter().map(|f| f.1.as_str()).collect::<Vec<_>>(),
        ["UNUSED_EXCEPTION"]
    );
}

#[test]
fn published_versions_are_append_only() {
    let r = Repo::new();
    r.write(&format!("schemas/{V2_FILE}"), &v2_with(r#"{"name": "note""#, r#"{"name": "x", "type": ["null", "int"], "default": null, "doc": "X."}, {"name": "note""#));
    r.commit("v2");
    // edited
    r.write(
        "schemas/shop/OrderPlaced/v1.avsc",
        &V1.replace("An order was placed.", "An order was placed!"),
    );
    let found = r.gate(Some("main"));
    assert!(
        found.contains(&(
            "error".into(),
            "VERSION_EDITED".into(),
            "shop/OrderPlaced/v1.avsc".into(),
            Some(2),
            None
        )),
        "{found:?}"
    );
    // deleted (the last version, so the tree itself is still valid)
    r.git(&["checkout", "-q", "--", "."]);
    fs::remove_file(r.root().join(V2_FILE)).unwrap();
    let found = r.gate(Some("main"));
    assert!(
        found
            .iter()
            .any(|f| f.1 == "VERSION_DELETED" && f.2 == V2_FILE),
        "{found:?}"
    );
    // renumbered: v2's text moved to v3 and a new v2 inserted
    r.git(&["checkout", "-q", "--", "."]);
    let v2_text = fs::read_to_string(r.root().join(V2_FILE)).unwrap();
    fs::write(r.root().join("shop/OrderPlaced/v3.avsc"), &v2_text).unwrap();
    fs::write(r.root().join(V2_FILE), V1).unwrap();
    let found = r.gate(Some("main"));
    assert!(
        found
            .iter()
            .any(|f| f.1 == "VERSION_RENUMBERED" && f.2 == V2_FILE),
        "{found:?}"
    );
    // an unknown base is bad input, not a pass
    let e = check(&Options {
        root: r.root(),
        against: Some("no-such-branch".into()),
        check_generated: false,
        incremental: false,
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("`no-such-branch` is not a commit"),
        "{e}"
    );
}

#[test]
fn lint_rules_fire_and_can_be_switched_off() {
    let r = Repo::new();
    let bad = r#"{"type": "record", "name": "OrderPlaced", "namespace": "shop",
  "fields": [
    {"name": "event_id", "type": "string", "doc": "Id."},
    {"name": "order_id", "type": "string", "doc": "Order."},
    {"name": "totalPrice", "type": "double"},
    {"name": "kind", "type": {"type": "enum", "name": "kind_of", "namespace": "elsewhere", "symbols": ["a"]}, "doc": "K."},
    {"name": "rate", "type": {"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 4}, "doc": "R."}
  ]}
"#;
    r.write("schemas/shop/OrderPlaced/v1.avsc", bad);
    let mut codes: Vec<String> = r.gate(None).into_iter().map(|f| f.1).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(
        codes,
        [
            "ENUM_SYMBOL_CASE",
            "ENVELOPE",
            "FIELD_DOC",
            "FIELD_NAME_CASE",
            "IGNORED_LOGICAL_TYPE",
            "NESTED_NAMESPACE",
            "NO_FLOAT_MONEY",
            "RECORD_DOC",
            "RECORD_NAME_CASE"
        ]
    );
    let all = "\"ENUM_SYMBOL_CASE\", \"ENVELOPE\", \"FIELD_DOC\", \"FIELD_NAME_CASE\", \"IGNORED_LOGICAL_TYPE\", \"NESTED_NAMESPACE\", \"NO_FLOAT_MONEY\", \"RECORD_DOC\", \"RECORD_NAME_CASE\"";
    r.write(
        "schemas/evc.toml",
        &format!("{CONFIG}\n[lint]\ndisable = [{all}]\n"),
    );
    assert_eq!(r.gate(None), []);
    // the spelling from before the codes had one scheme still works, with a warning each
    let legacy = all.to_lowercase().replace('_', "-");
    r.write(
        "schemas/evc.toml",
        &format!("{CONFIG}\n[lint]\ndisable = [{legacy}]\n"),
    );
    let found = r.gate(None);
    assert_eq!(found.len(), 9, "{found:?}");
    assert!(found.iter().all(|f| f.0 == "warning"
        && f.1 == "CONFIG_DEPRECATED"
        && f.2 == "evc.toml"
        && f.3 == Some(8)));
}

#[test]
fn an_unknown_lint_rule_is_an_error_with_where_and_the_list() {
    let r = Repo::new();
    r.write(
        "schemas/evc.toml",
        &format!("{CONFIG}\n[lint]\ndisable = [\n  \"FIELD_DOC\",\n  \"FIELD_DOCS\",\n  \"TYPE_MISMATCH\",\n]\n"),
    );
    let err = check(&Options {
        root: r.root(),
        against: None,
        check_generated: false,
        incremental: false,
    })
    .unwrap_err();
    let evc_gate::GateError::Catalog(d) = err else {
        panic!("{err}")
    };
    let found: Vec<(String, String, String)> =
        d.0.iter()
            .map(|d| {
                (
                    d.code.as_str().to_string(),
                    d.position.map(|p| p.to_string()).unwrap_or_default(),
                    format!(
                        "{} (help: {})",
                        d.message,
                        d.help.clone().unwrap_or_default()
                    ),
                )
            })
            .collect();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "CONFIG_UNKNOWN_LINT_RULE");
    assert_eq!(found[0].1, "10:3");
    assert_eq!(found[0].2, "[lint] disable names `FIELD_DOCS`, which is not a lint rule (help: the lint rules are RECORD_NAME_CASE, FIELD_NAME_CASE, ENUM_SYMBOL_CASE, RECORD_DOC, FIELD_DOC, ENVELOPE, DEFAULT_AFTER_V1, NO_FLOAT_MONEY, NESTED_NAMESPACE, IGNORED_LOGICAL_TYPE)");
    assert_eq!(found[1].0, "CONFIG_UNKNOWN_LINT_RULE");
    assert_eq!(found[1].1, "11:3");
    assert!(
        found[1]
            .2
            .starts_with("`TYPE_MISMATCH` is a compatibility code, not a lint rule")
            && found[1].2.contains("[[exceptions]]"),
        "{}",
        found[1].2
    );
}

#[test]
fn a_field_added_later_needs_a_default() {
    let r = Repo::new();
    r.write(
        "schemas/evc.toml",
        &CONFIG.replace("FULL_TRANSITIVE", "FORWARD"),
    );
    r.write(
        &format!("schemas/{V2_FILE}"),
        &v2_with(
            r#"{"name": "note""#,
            r#"{"name": "extra", "type": "int", "doc": "E."}, {"name": "note""#,
        ),
    );
    let found = r.gate(None);
    // FORWARD accepts it (old readers ignore the field), the lint does not
    assert_eq!(
        found.iter().map(|f| f.1.as_str()).collect::<Vec<_>>(),
        ["DEFAULT_AFTER_V1"]
    );
    assert_eq!(found[0].3, Some(10));
}

#[test]
fn stale_generated_code_is_reported() {
    let r = Repo::new();
    r.write(
        "schemas/evc.toml",
        &format!("[codegen]\noutput = \"../gen\"\n\n{CONFIG}"),
    );
    let found = r.gate(None);
    assert!(
        found.iter().all(|f| f.1 == "GENERATED_STALE") && !found.is_empty(),
        "{found:?}"
    );
    let gen = r.dir.path().join("gen");
    let catalog = evc_catalog::Catalog::load(r.root()).unwrap();
    for f in
        evc_codegen::generate_catalog(&evc_codegen::Templates::new(), &catalog, "schemas").unwrap()
    {
        let p = gen.join(&f.path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, f.contents).unwrap();
    }
    assert_eq!(r.gate(None), []);
    fs::write(gen.join("orphan.rs"), "// old").unwrap();
    assert_eq!(r.gate(None).len(), 1);
    let _ = Path::new("");
}
