//! Proof by a second domain: a payments contracts repository made with `evc init`, `evc codegen`
//! and `evc check` only, outside this workspace, and a small service that depends on the
//! generated crate and evc's runtime crates by path. The service appends to the event store,
//! relays through the outbox to librdkafka's mock cluster and consumes idempotently into a read
//! model, with a v2 of one event added midway (old and new versions both consumed).

use std::fs;
mod scaffold;

use std::path::Path;

use scaffold::{cargo_in_scaffold, evc, text, workspace};

fn ok(o: std::process::Output) -> std::process::Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn fixture(name: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/second_domain")
            .join(name),
    )
    .unwrap()
}

#[test]
fn a_payments_domain_from_the_public_surface_only() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("payments");
    let crates = workspace().join("crates");
    ok(evc(
        &[
            "init",
            repo.to_str().unwrap(),
            "--topic",
            "payments",
            "--key",
            "payment_id",
            "--namespace",
            "com.acme.payments",
            "--event",
            "PaymentAuthorized",
            "--evc-path",
            crates.to_str().unwrap(),
        ],
        tmp.path(),
    ));
    // the team's own events, before anything is published
    let events = repo.join("schemas/com.acme.payments");
    fs::write(
        events.join("PaymentAuthorized/v1.avsc"),
        fixture("PaymentAuthorized.v1.avsc"),
    )
    .unwrap();
    for e in ["PaymentCaptured", "PaymentRefunded"] {
        fs::create_dir_all(events.join(e)).unwrap();
        fs::write(
            events.join(e).join("v1.avsc"),
            fixture(&format!("{e}.v1.avsc")),
        )
        .unwrap();
    }
    let toml_path = repo.join("schemas/evc.toml");
    let toml = fs::read_to_string(&toml_path).unwrap();
    let toml = toml
        .replace(
            "subject_name_strategy = \"TopicRecordNameStrategy\"",
            "subject_name_strategy = \"RecordNameStrategy\"",
        )
        .replace(
            "  \"com.acme.payments.PaymentAuthorized\",\n",
            "  \"com.acme.payments.PaymentAuthorized\",\n  \"com.acme.payments.PaymentCaptured\",\n  \"com.acme.payments.PaymentRefunded\",\n",
        );
    assert!(toml.contains("PaymentRefunded") && toml.contains("RecordNameStrategy\""));
    fs::write(&toml_path, toml).unwrap();
    ok(evc(&["codegen", "--root", "schemas"], &repo));
    ok(evc(&["check", "--root", "schemas"], &repo));
    let listed = String::from_utf8_lossy(&ok(evc(&["schemas", "--root", "schemas"], &repo)).stdout)
        .to_string();
    // RecordNameStrategy: the subject is the record's full name
    assert!(
        listed.contains("subject com.acme.payments.PaymentCaptured"),
        "{listed}"
    );

    // midway, v2 of PaymentAuthorized: stale until generated, and compatible
    fs::write(
        events.join("PaymentAuthorized/v2.avsc"),
        fixture("PaymentAuthorized.v2.avsc"),
    )
    .unwrap();
    let stale = evc(&["codegen", "--root", "schemas", "--check"], &repo);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    ok(evc(&["codegen", "--root", "schemas"], &repo));
    ok(evc(&["codegen", "--root", "schemas", "--check"], &repo));
    ok(evc(&["check", "--root", "schemas"], &repo));

    // the service: evc's runtime crates by path, the generated crate, nothing else of evc
    let dep = |name: &str| {
        format!(
            "{name} = {{ path = {:?} }}",
            crates.join(name).display().to_string()
        )
    };
    let service = repo.join("service");
    fs::create_dir_all(service.join("src")).unwrap();
    fs::write(
        service.join("Cargo.toml"),
        format!(
            "[package]\nname = \"payments-service\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\npayments-events = {{ path = \"../events\" }}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\nevc-registry-client = {{ path = {:?}, features = [\"mock\"] }}\ntokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\", \"time\"] }}\nanyhow = \"1\"\nsqlx = {{ version = \"0.8\", default-features = false, features = [\"runtime-tokio\", \"sqlite\"] }}\nrdkafka = {{ version = \"0.39\", default-features = false, features = [\"tokio\", \"libz\"] }}\n",
            dep("evc-avro"),
            dep("evc-wire"),
            dep("evc-storage"),
            dep("evc-eventstore"),
            dep("evc-outbox"),
            dep("evc-producer"),
            dep("evc-consumer"),
            dep("evc-projection"),
            crates.join("evc-registry-client").display().to_string(),
        ),
    )
    .unwrap();
    fs::write(service.join("src/main.rs"), fixture("service.rs.in")).unwrap();
    fs::write(service.join("src/produce.rs"), fixture("produce.rs.in")).unwrap();
    fs::write(service.join("src/consume.rs"), fixture("consume.rs.in")).unwrap();
    let root_toml = fs::read_to_string(repo.join("Cargo.toml")).unwrap();
    fs::write(
        repo.join("Cargo.toml"),
        root_toml.replace(
            "members = [\"events\"]",
            "members = [\"events\", \"service\"]",
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let data_arg = data.to_str().unwrap();
    let run = cargo_in_scaffold(
        &repo,
        &[
            "run",
            "--quiet",
            "--offline",
            "-p",
            "payments-service",
            "--",
            data_arg,
        ],
    );
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("read model equals its rebuild"),
        "{}",
        text(&run)
    );
}

/// The README's "Use evc in your own repository" snippets are the files the payments service
/// above compiles and runs, word for word.
#[test]
fn the_readme_shows_the_code_the_second_domain_runs() {
    let readme = fs::read_to_string(workspace().join("README.md")).unwrap();
    for f in ["produce.rs.in", "consume.rs.in"] {
        let code = fixture(f);
        assert!(
            readme.contains(&format!("```rust\n{code}```")),
            "README.md does not show tests/second_domain/{f} as it is"
        );
        assert!(
            code.lines().filter(|l| !l.trim().is_empty()).count() <= 30,
            "{f} is short"
        );
    }
}
