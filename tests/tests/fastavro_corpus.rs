//! The codegen corpus against fastavro, both ways (`tests/interop/corpus_roundtrip.py`):
//! fastavro writes random values of every schema; evc's generated decoder reads each datum and
//! its generated encoder writes it back byte-identical; fastavro reads evc's bytes back as the
//! values it wrote. And evc writes random values of its own; fastavro reads every datum to the
//! last byte as the value evc wrote (compared through `evc_tests::roundtrip::expected_json`). apache-avro, where it can take the schema, reads
//! fastavro's datums as the same values too.
//!
//! Needs the Python interop venv (`cargo xtask test` installs it): without it the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use evc_tests::roundtrip::{corpus, Apache};

fn python() -> PathBuf {
    let p = std::env::var_os("EVC_INTEROP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/interop/venv/bin/python")
        });
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test`, which installs the Python interop clients (fastavro)",
        p.display()
    );
    p
}

fn run_peer(mode: &str, dir: &Path) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/corpus_roundtrip.py");
    let out = Command::new(python())
        .arg(script)
        .arg(mode)
        .arg(dir)
        .output()
        .expect("run the fastavro peer");
    assert!(
        out.status.success(),
        "fastavro `{mode}` failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn read_datums(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut rest = &data[..];
    while !rest.is_empty() {
        let n = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        out.push(rest[4..4 + n].to_vec());
        rest = &rest[4 + n..];
    }
    out
}

fn write_datums(path: &Path, datums: &[Vec<u8>]) {
    let mut data = Vec::new();
    for d in datums {
        data.extend_from_slice(&(d.len() as u32).to_le_bytes());
        data.extend_from_slice(d);
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn the_corpus_round_trips_with_fastavro_both_ways() {
    let types = corpus();
    assert!(
        types.len() >= 100,
        "the corpus has only {} schemas",
        types.len()
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fastavro_corpus");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let manifest: Vec<serde_json::Value> = types
        .iter()
        .map(|t| serde_json::json!({"name": t.module, "schema": t.schema_json}))
        .collect();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string(&manifest).unwrap(),
    )
    .unwrap();

    let written: serde_json::Value = serde_json::from_str(&run_peer("write", &dir)).unwrap();
    let mut failures = Vec::new();
    let (mut datums, mut apache_schemas, mut without_values) = (0, 0, Vec::new());
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for t in &types {
        let originals = read_datums(&dir.join(format!("{}.py.bin", t.module)));
        if originals.is_empty() {
            without_values.push(t.module);
        }
        let mut again = Vec::new();
        let mut apache_ok = false;
        for (i, b) in originals.iter().enumerate() {
            match (t.reencode)(b) {
                Ok(x) if x == *b => {}
                Ok(x) => failures.push(format!(
                    "{}[{i}]: fastavro wrote {}, evc wrote back {}",
                    t.module,
                    hex(b),
                    hex(&x)
                )),
                Err(e) => failures.push(format!("{}[{i}] ({}): {e}", t.module, hex(b))),
            }
            again.push((t.reencode)(b).unwrap_or_default());
            match (t.apache)(b) {
                Ok(Apache::Agrees) => apache_ok = true,
                Ok(Apache::CannotLoad(_)) => {}
                Err(e) => failures.push(format!("{}[{i}] apache-avro: {e}", t.module)),
            }
            datums += 1;
        }
        apache_schemas += usize::from(apache_ok);
        write_datums(&dir.join(format!("{}.evc.bin", t.module)), &again);
        match t.random(&mut runner, 10) {
            Ok(r) => {
                let (bytes, values): (Vec<_>, Vec<_>) = r.into_iter().unzip();
                write_datums(&dir.join(format!("{}.evc-random.bin", t.module)), &bytes);
                std::fs::write(
                    dir.join(format!("{}.evc-random.json", t.module)),
                    serde_json::to_string(&values).unwrap(),
                )
                .unwrap();
            }
            Err(e) => failures.push(format!("{}: random values: {e}", t.module)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let checked: serde_json::Value = serde_json::from_str(&run_peer("check", &dir)).unwrap();
    assert_eq!(checked["schemas"], types.len());
    assert_eq!(written["fastavro_values"], datums);
    assert_eq!(checked["fastavro_values"], datums);
    assert_eq!(checked["evc_values"], 10 * types.len());
    assert!(
        without_values.is_empty(),
        "no values for {without_values:?}"
    );
    eprintln!(
        "{} schemas: {datums} fastavro datums re-encoded byte-identical and read back by fastavro, {} evc datums read by fastavro as the values evc wrote; apache-avro agreed on {apache_schemas} schemas",
        types.len(),
        checked["evc_values"]
    );
    // every schema apache-avro can take was checked against it
    assert_eq!(
        apache_schemas,
        types.len() - 4,
        "apache-avro takes all but the four schemas listed in corpus_roundtrip.rs"
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
