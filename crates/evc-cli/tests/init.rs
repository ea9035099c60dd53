//! `evc init`, `evc codegen` and `evc check` in an empty folder outside this workspace: the
//! scaffold passes the gate, its generated code is fresh, and its events crate builds.

use std::fs;
mod scaffold;

use scaffold::{cargo_in_scaffold, evc, text, workspace};

#[test]
fn init_scaffolds_a_repository_that_passes_the_gate_and_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("payments-contracts");
    let crates = workspace().join("crates");
    let o = evc(
        &[
            "init",
            repo.to_str().unwrap(),
            "--topic",
            "payments",
            "--key",
            "payment_id",
            "--event",
            "PaymentAuthorized",
            "--evc-path",
            crates.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let avsc = repo.join("schemas/com.example.payments/PaymentAuthorized/v1.avsc");
    assert!(avsc.exists());
    let toml = fs::read_to_string(repo.join("schemas/evc.toml")).unwrap();
    assert!(toml.contains("partition_key = \"payment_id\""), "{toml}");
    assert!(toml.contains("rust_enum = \"PaymentsEvent\""), "{toml}");

    // the gate and the freshness check pass straight away
    let o = evc(&["check", "--root", "schemas"], &repo);
    assert!(o.status.success(), "{}", text(&o));
    let o = evc(&["codegen", "--root", "schemas", "--check"], &repo);
    assert!(o.status.success(), "{}", text(&o));

    // a second version: codegen --check sees it stale (exit 1, with a diff), codegen writes it
    let v1 = fs::read_to_string(&avsc).unwrap();
    let v2 = v1.replace(
        r#"{"name": "description", "type": "string", "doc": "What happened, in words."}"#,
        r#"{"name": "description", "type": "string", "doc": "What happened, in words."},
    {"name": "channel", "type": "string", "default": "web", "doc": "Where it happened."}"#,
    );
    assert_ne!(v1, v2);
    fs::write(avsc.with_file_name("v2.avsc"), v2).unwrap();
    let o = evc(&["codegen", "--root", "schemas", "--check"], &repo);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("+pub mod v2"),
        "{}",
        text(&o)
    );
    let o = evc(&["codegen", "--root", "schemas"], &repo);
    assert!(o.status.success(), "{}", text(&o));
    assert!(repo
        .join("events/src/generated/payment_authorized/v2.rs")
        .exists());
    let o = evc(&["check", "--root", "schemas"], &repo);
    assert!(o.status.success(), "{}", text(&o));

    // a second topic with another subject name strategy: its own enum, its own subjects
    let audit = repo.join("schemas/com.example.audit/AccessLogged");
    fs::create_dir_all(&audit).unwrap();
    fs::write(
        audit.join("v1.avsc"),
        r#"{"type": "record", "name": "AccessLogged", "namespace": "com.example.audit",
  "doc": "Somebody looked at a payment.",
  "fields": [
    {"name": "event_id", "type": {"type": "string", "logicalType": "uuid"}, "doc": "Unique id of this event."},
    {"name": "payment_id", "type": "string", "doc": "The payment looked at; the partition key."},
    {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "When (UTC)."},
    {"name": "who", "type": "string", "doc": "The user."}
  ]}
"#,
    )
    .unwrap();
    let toml_path = repo.join("schemas/evc.toml");
    let mut toml = fs::read_to_string(&toml_path).unwrap();
    toml.push_str(
        "\n[topics.audit]\ncompatibility = \"BACKWARD\"\nsubject_name_strategy = \"TopicNameStrategy\"\npartition_key = \"payment_id\"\nrust_enum = \"AuditEvent\"\nevents = [\"com.example.audit.AccessLogged\"]\n",
    );
    fs::write(&toml_path, toml).unwrap();
    let o = evc(&["codegen", "--root", "schemas"], &repo);
    assert!(o.status.success(), "{}", text(&o));
    let o = evc(&["check", "--root", "schemas"], &repo);
    assert!(o.status.success(), "{}", text(&o));
    let o = evc(&["schemas", "--root", "schemas"], &repo);
    let listed = String::from_utf8_lossy(&o.stdout);
    assert!(listed.contains("subject audit-value"), "{listed}");
    assert!(
        listed.contains("subject payments-com.example.payments.PaymentAuthorized"),
        "{listed}"
    );
    let generated = fs::read_to_string(repo.join("events/src/generated/mod.rs")).unwrap();
    assert!(generated.contains("pub enum PaymentsEvent"), "{generated}");
    assert!(generated.contains("pub enum AuditEvent"), "{generated}");

    // the events crate compiles against evc's runtime (this workspace's lock file keeps the
    // dependency versions the ones CI has already fetched)
    let o = cargo_in_scaffold(&repo, &["build", "--quiet", "--offline"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn init_refuses_to_overwrite_and_bad_names() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("schemas")).unwrap();
    fs::write(tmp.path().join("schemas/evc.toml"), "# mine\n").unwrap();
    let o = evc(&["init", "."], tmp.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("writes nothing over existing files"), "{err}");
    assert!(err.contains("schemas/evc.toml"), "{err}");
    // nothing was written, and the file is untouched
    assert!(!tmp.path().join("Cargo.toml").exists());
    assert!(!tmp.path().join("events").exists());
    assert_eq!(
        fs::read_to_string(tmp.path().join("schemas/evc.toml")).unwrap(),
        "# mine\n"
    );

    for (args, says) in [
        (
            &["init", "x", "--topic", "bad topic"][..],
            "invalid --topic `bad topic`",
        ),
        (&["init", "x", "--key", "1id"][..], "invalid --key `1id`"),
        (
            &["init", "x", "--event", "lowercase"][..],
            "invalid --event `lowercase`",
        ),
        (
            &["init", "x", "--namespace", "com..x"][..],
            "invalid --namespace `com..x`",
        ),
        (
            &["init", "x", "--key", "event_id"][..],
            "is an envelope field",
        ),
    ] {
        let o = evc(args, tmp.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o)
        );
        assert!(!tmp.path().join("x").exists(), "{args:?} wrote files");
    }
}
