//! Real clients nobody here wrote, against a live evc registry server process:
//! Python `confluent-kafka` (SchemaRegistryClient, AvroSerializer/AvroDeserializer with
//! auto-registration on and off) and npm `@kafkajs/confluent-schema-registry`.
//!
//! `cargo xtask test` installs both (tests/interop/requirements.txt and package.json); without
//! them these tests fail and say so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server(storage: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_evc-registryd"))
        .args(["--storage", storage])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start evc-registryd");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("EVC_REGISTRY_LISTENING ")
        .unwrap_or_else(|| panic!("unexpected: {line}"))
        .to_string();
    Server(child, format!("http://{addr}"))
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

fn python() -> PathBuf {
    let p = std::env::var_os("EVC_INTEROP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/interop/venv/bin/python")
        });
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test`, which installs the Python interop clients",
        p.display()
    );
    p
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run the peer client");
    assert!(
        out.status.success(),
        "peer client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_confluent_kafka_client_and_avro_serde() {
    let s = server("memory");
    run(Command::new(python())
        .arg(interop_dir().join("registry_python.py"))
        .arg(&s.1));
}

#[test]
fn python_client_on_sqlite_storage() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(&format!("sqlite://{}", dir.path().join("r.db").display()));
    run(Command::new(python())
        .arg(interop_dir().join("registry_python.py"))
        .arg(&s.1));
}

#[test]
fn npm_kafkajs_confluent_schema_registry() {
    let modules = interop_dir().join("node_modules/@kafkajs/confluent-schema-registry");
    assert!(
        modules.exists(),
        "{} is missing: run `cargo xtask test`, which installs the npm interop client",
        modules.display()
    );
    let s = server("memory");
    run(Command::new("node")
        .arg(interop_dir().join("registry_node.js"))
        .arg(&s.1));
}

/// `/metrics` parsed by the Prometheus project's Python parser (`prometheus_client`).
#[test]
fn metrics_parse_with_the_prometheus_parser() {
    let s = server("memory");
    run(Command::new(python())
        .arg(interop_dir().join("metrics_python.py"))
        .arg(&s.1));
}
