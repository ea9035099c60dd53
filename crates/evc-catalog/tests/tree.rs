//! Loading schema directories, good and bad: every problem with its code, file and line.

use std::fs;
use std::path::Path;

use evc_catalog::{Catalog, SubjectNameStrategy};

const CONFIG: &str = r#"
[topics.orders]
compatibility = "FULL_TRANSITIVE"
subject_name_strategy = "TopicRecordNameStrategy"
partition_key = "order_id"
events = ["shop.OrderCreated"]
"#;

fn record(name: &str, ns: &str, extra: &str) -> String {
    format!(
        "{{\"type\": \"record\", \"name\": \"{name}\", \"namespace\": \"{ns}\",\n \"fields\": [\n  {{\"name\": \"order_id\", \"type\": \"string\"}}{extra}\n ]}}\n"
    )
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    dir
}

/// (code, file relative to the tree, line:col or "-", message)
fn problems(dir: &Path) -> Vec<(String, String, String, String)> {
    let d = Catalog::load(dir).expect_err("the tree is invalid");
    d.0.iter()
        .map(|d| {
            (
                d.code.as_str().to_string(),
                d.file.strip_prefix(dir).unwrap().display().to_string(),
                d.position
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                d.message.clone(),
            )
        })
        .collect()
}

#[test]
fn a_good_tree_loads() {
    let v1 = record("OrderCreated", "shop", "");
    let v2 = record(
        "OrderCreated",
        "shop",
        ",\n  {\"name\": \"note\", \"type\": [\"null\", \"string\"], \"default\": null}",
    );
    let dir = tree(&[
        ("evc.toml", CONFIG),
        ("shop/OrderCreated/v1.avsc", &v1),
        ("shop/OrderCreated/v2.avsc", &v2),
        ("shop/README.md", "notes are allowed"),
    ]);
    let c = Catalog::load(dir.path()).unwrap();
    assert_eq!(c.events.len(), 1);
    let e = &c.events[0];
    assert_eq!(e.fullname, "shop.OrderCreated");
    assert_eq!(e.subject, "orders-shop.OrderCreated");
    assert_eq!(e.compatibility, "FULL_TRANSITIVE");
    assert_eq!(e.strategy, SubjectNameStrategy::TopicRecordNameStrategy);
    assert_eq!(
        e.versions.iter().map(|v| v.number).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(e.latest().rel_path, "shop/OrderCreated/v2.avsc");
}

#[test]
fn subject_name_strategies() {
    use SubjectNameStrategy::*;
    assert_eq!(TopicNameStrategy.subject("t", "a.B"), "t-value");
    assert_eq!(RecordNameStrategy.subject("t", "a.B"), "a.B");
    assert_eq!(TopicRecordNameStrategy.subject("t", "a.B"), "t-a.B");
}

#[test]
fn bad_json_and_bad_avro_point_at_the_line() {
    let dir = tree(&[
        ("evc.toml", CONFIG),
        (
            "shop/OrderCreated/v1.avsc",
            "{\"type\": \"record\",\n \"name\": \"OrderCreated\",\n \"fields\": [,]}",
        ),
    ]);
    assert_eq!(
        problems(dir.path()),
        [(
            "INVALID_JSON".into(),
            "shop/OrderCreated/v1.avsc".into(),
            "3:13".into(),
            "invalid JSON: unexpected character `,`, expected a JSON value".into()
        )]
    );
    let dir = tree(&[
        ("evc.toml", CONFIG),
        (
            "shop/OrderCreated/v1.avsc",
            &record(
                "OrderCreated",
                "shop",
                ",\n  {\"name\": \"total\", \"type\": \"money\"}",
            ),
        ),
    ]);
    assert_eq!(
        problems(dir.path()),
        [(
            "INVALID_SCHEMA".into(),
            "shop/OrderCreated/v1.avsc".into(),
            "4:29".into(),
            "unknown type `money` (looked for `shop.money` and `money`); named types must be defined before they are used".into()
        )]
    );
}

#[test]
fn names_must_match_paths() {
    let dir = tree(&[
        ("evc.toml", CONFIG),
        (
            "shop/OrderCreated/v1.avsc",
            &record("OrderMade", "shop", ""),
        ),
    ]);
    assert_eq!(
        problems(dir.path()),
        [(
            "RECORD_PATH_MISMATCH".into(),
            "shop/OrderCreated/v1.avsc".into(),
            "1:28".into(),
            "the record is named `shop.OrderMade` but its path says `shop.OrderCreated`".into()
        )]
    );
    let dir = tree(&[
        ("evc.toml", CONFIG),
        (
            "shop/OrderCreated/v1.avsc",
            &record("OrderCreated", "store", ""),
        ),
    ]);
    assert_eq!(problems(dir.path())[0].0, "RECORD_PATH_MISMATCH");
}

#[test]
fn version_gaps_and_bad_file_names() {
    let v = record("OrderCreated", "shop", "");
    let dir = tree(&[
        ("evc.toml", CONFIG),
        ("shop/OrderCreated/v1.avsc", &v),
        ("shop/OrderCreated/v3.avsc", &v),
    ]);
    assert_eq!(
        problems(dir.path()),
        [(
            "VERSION_GAP".into(),
            "shop/OrderCreated/v3.avsc".into(),
            "-".into(),
            "`shop.OrderCreated` has v3 but no v2: versions must run 1, 2, 3, ... without gaps"
                .into()
        )]
    );
    let dir = tree(&[
        ("evc.toml", CONFIG),
        ("shop/OrderCreated/v1.avsc", &v),
        ("shop/OrderCreated/v02.avsc", &v),
    ]);
    assert_eq!(
        problems(dir.path())[0].3,
        "`v02.avsc` is not a version file"
    );
    let dir = tree(&[("evc.toml", CONFIG), ("shop/OrderCreated/v2.avsc", &v)]);
    assert_eq!(problems(dir.path())[0].0, "VERSION_GAP");
}

#[test]
fn config_errors() {
    let v = record("OrderCreated", "shop", "");
    // an unknown key, with its line
    let dir = tree(&[
        ("evc.toml", &format!("{CONFIG}colour = \"blue\"\n")),
        ("shop/OrderCreated/v1.avsc", &v),
    ]);
    let p = problems(dir.path());
    assert_eq!(
        (p[0].0.as_str(), p[0].2.as_str()),
        ("CONFIG_INVALID", "7:1")
    );
    assert!(p[0].3.contains("unknown field `colour`"), "{}", p[0].3);
    // a bad compatibility level
    let dir = tree(&[
        ("evc.toml", &CONFIG.replace("FULL_TRANSITIVE", "FULLY")),
        ("shop/OrderCreated/v1.avsc", &v),
    ]);
    let p = problems(dir.path());
    assert_eq!(
        (p[0].0.as_str(), p[0].2.as_str()),
        ("CONFIG_INVALID", "3:17")
    );
    // an event on disk the config does not list, and a listed one missing on disk
    let dir = tree(&[
        (
            "evc.toml",
            &CONFIG.replace("shop.OrderCreated", "shop.Missing"),
        ),
        ("shop/OrderCreated/v1.avsc", &v),
    ]);
    let codes: Vec<String> = problems(dir.path()).into_iter().map(|p| p.0).collect();
    assert_eq!(codes, ["CONFIG_UNKNOWN_EVENT", "EVENT_NOT_CONFIGURED"]);
    // no config at all
    let dir = tree(&[("shop/OrderCreated/v1.avsc", &v)]);
    assert_eq!(problems(dir.path())[0].0, "CONFIG_UNREADABLE");
    // TopicNameStrategy with two event types on one topic
    let two = CONFIG
        .replace("TopicRecordNameStrategy", "TopicNameStrategy")
        .replace(
            "[\"shop.OrderCreated\"]",
            "[\"shop.OrderCreated\", \"shop.OrderPaid\"]",
        );
    let dir = tree(&[
        ("evc.toml", &two),
        ("shop/OrderCreated/v1.avsc", &v),
        ("shop/OrderPaid/v1.avsc", &record("OrderPaid", "shop", "")),
    ]);
    assert_eq!(problems(dir.path())[0].0, "SUBJECT_CONFLICT");
}

#[test]
fn partition_key_must_exist_in_every_version() {
    let bad = "{\"type\": \"record\", \"name\": \"OrderCreated\", \"namespace\": \"shop\", \"fields\": [{\"name\": \"id\", \"type\": \"string\"}]}";
    let dir = tree(&[("evc.toml", CONFIG), ("shop/OrderCreated/v1.avsc", bad)]);
    let p = problems(dir.path());
    assert_eq!(p[0].0, "PARTITION_KEY_MISSING");
    assert_eq!(
        p[0].3,
        "`shop.OrderCreated` v1 has no field `order_id`, its partition key"
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let v = record("OrderCreated", "shop", "");
    let dir = tree(&[
        (
            "evc.toml",
            &CONFIG.replace(
                "[\"shop.OrderCreated\"]",
                "[\"shop.OrderCreated\", \"shop.Other\"]",
            ),
        ),
        ("shop/OrderCreated/v1.avsc", &v),
        ("shop/OrderCreated/v2.avsc", "not json"),
        ("shop/Other/v1.avsc", &record("Wrong", "shop", "")),
        ("stray.txt", "?"),
    ]);
    let codes: Vec<String> = problems(dir.path()).into_iter().map(|p| p.0).collect();
    // shop.Other is listed and on disk but broken: its file error is reported, not a second one
    assert_eq!(codes.len(), 3, "{codes:?}");
    for c in ["INVALID_JSON", "RECORD_PATH_MISMATCH", "STRAY_FILE"] {
        assert!(codes.contains(&c.to_string()), "{c} missing from {codes:?}");
    }
}

#[test]
fn the_repository_schema_directory_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let c = Catalog::load(&root).unwrap_or_else(|d| panic!("{:#?}", d.0));
    let names: Vec<&str> = c.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "OrderCreated",
            "ItemAdded",
            "OrderPlaced",
            "OrderPaid",
            "OrderShipped",
            "OrderCancelled"
        ]
    );
    assert!(c
        .events
        .iter()
        .all(|e| e.compatibility == "FULL_TRANSITIVE" && e.topic == "orders"));
    assert!(c.events.iter().filter(|e| e.versions.len() >= 2).count() >= 2);
}
