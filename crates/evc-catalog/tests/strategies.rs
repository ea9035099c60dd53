//! Several topics and all three subject name strategies in one `evc.toml`
//! (`tests/fixtures/multi_topic`), and the one combination that cannot work: several events on
//! one subject.

use std::fs;
use std::path::{Path, PathBuf};

use evc_catalog::{Catalog, SubjectNameStrategy};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/multi_topic")
}

/// A copy of the fixture with `evc.toml` edited.
fn with_config(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture(), dir.path());
    let config = fs::read_to_string(dir.path().join("evc.toml")).unwrap();
    fs::write(dir.path().join("evc.toml"), edit(&config)).unwrap();
    dir
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

#[test]
fn every_event_gets_the_subject_of_its_strategy() {
    use SubjectNameStrategy::*;
    let c = Catalog::load(fixture()).unwrap();
    let got: Vec<(&str, &str, SubjectNameStrategy, &str, &str, usize)> = c
        .events
        .iter()
        .map(|e| {
            (
                e.topic.as_str(),
                e.fullname.as_str(),
                e.strategy,
                e.subject.as_str(),
                e.compatibility.as_str(),
                e.versions.len(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "audit",
                "ops.LoginSucceeded",
                RecordNameStrategy,
                "ops.LoginSucceeded",
                "FORWARD_TRANSITIVE",
                1
            ),
            (
                "audit",
                "ops.LoginFailed",
                RecordNameStrategy,
                "ops.LoginFailed",
                "FORWARD_TRANSITIVE",
                2
            ),
            (
                "orders",
                "shop.OrderPlaced",
                TopicRecordNameStrategy,
                "orders-shop.OrderPlaced",
                "FULL_TRANSITIVE",
                2
            ),
            (
                "orders",
                "shop.OrderPaid",
                RecordNameStrategy,
                "shop.OrderPaid",
                "BACKWARD_TRANSITIVE",
                1
            ),
            (
                "users",
                "iam.UserRegistered",
                TopicNameStrategy,
                "users-value",
                "BACKWARD",
                2
            ),
        ]
    );
    assert_eq!(c.topics().collect::<Vec<_>>(), ["audit", "orders", "users"]);
    assert_eq!(
        c.topic_events("orders")
            .map(|e| e.partition_key.as_str())
            .collect::<Vec<_>>(),
        ["order_id", "order_id"]
    );
    assert!(c.warnings.is_empty());
}

/// (code, line:col, message) of a tree that must not load.
fn refused(dir: &Path) -> Vec<(String, String, String)> {
    Catalog::load(dir)
        .expect_err("two events on one subject")
        .0
        .iter()
        .map(|d| {
            (
                d.code.as_str().to_string(),
                d.position.map(|p| p.to_string()).unwrap_or_default(),
                format!("{} (help: {})", d.message, d.help.as_deref().unwrap_or("")),
            )
        })
        .collect()
}

#[test]
fn topic_name_strategy_with_two_events_on_a_topic_is_refused() {
    // the topic's strategy
    let dir = with_config(|c| {
        c.replace(
            "subject_name_strategy = \"TopicRecordNameStrategy\"",
            "subject_name_strategy = \"TopicNameStrategy\"",
        )
        .replace(
            "[events.\"shop.OrderPaid\"]\nsubject_name_strategy = \"RecordNameStrategy\"\n",
            "[events.\"shop.OrderPaid\"]\n",
        )
    });
    assert_eq!(
        refused(dir.path()),
        [(
            "SUBJECT_CONFLICT".to_string(),
            "10:1".to_string(),
            "events `shop.OrderPlaced`, `shop.OrderPaid` all map to subject `orders-value` (TopicNameStrategy on topic `orders`), so they would share one version history (help: give a topic with several event types TopicRecordNameStrategy (subject <topic>-<record>) or RecordNameStrategy (subject <record>))".to_string()
        )]
    );
    // per-event overrides that put two events of the audit topic on `audit-value`
    let dir = with_config(|c| {
        format!("{c}\n[events.\"ops.LoginSucceeded\"]\nsubject_name_strategy = \"TopicNameStrategy\"\n\n[events.\"ops.LoginFailed\"]\nsubject_name_strategy = \"TopicNameStrategy\"\n")
    });
    let p = refused(dir.path());
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, "SUBJECT_CONFLICT");
    assert!(p[0].2.contains("`audit-value`"), "{}", p[0].2);
    // one event per topic under TopicNameStrategy is fine, whatever the other topics use
    let dir = with_config(|c| {
        format!(
            "{c}\n[events.\"ops.LoginFailed\"]\nsubject_name_strategy = \"TopicNameStrategy\"\n"
        )
    });
    let c = Catalog::load(dir.path()).unwrap();
    assert_eq!(c.event("ops.LoginFailed").unwrap().subject, "audit-value");
    assert_eq!(
        c.event("ops.LoginSucceeded").unwrap().subject,
        "ops.LoginSucceeded"
    );
}
