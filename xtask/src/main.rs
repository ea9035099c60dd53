//! Project automation, run as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! - `cargo xtask codegen` regenerates the checked-in Rust from `schemas/` (into the events
//!   crate) and from `tests/codegen-corpus/` (into the corpus test crate).
//! - `cargo xtask codegen --check` changes nothing: it exits 1 and prints a diff when the
//!   checked-in code is not what the schemas generate (CI runs this).
//!
//! - `cargo xtask layers` checks the dependency rules written in ARCHITECTURE.md (layers,
//!   forbidden transitive dependencies, the order domain kept out of the generic crates).
//!
//! - `cargo xtask test` installs or starts what the test suites need on a fresh machine, then
//!   runs every test of the workspace. It is the README's test command and what CI runs.
//!
//! - `cargo xtask bench [FILTER]` builds every bench of the workspace, runs each with short
//!   settings (after preparing tansu, PostgreSQL and RabbitMQ as `test` does; the interop
//!   peers are not needed) and prints one table: figure, baseline
//!   from the same run, ratio, target, met (see `bench.rs`, which documents the `evc-bench`
//!   line each bench prints). Exit 1 when a bench failed or printed no figure. Full runs:
//!   `cargo bench -p <crate> --bench <name>`.
//! - `cargo xtask fuzz [--secs N] [TARGET...]` builds the coverage-guided fuzz targets of `fuzz/`
//!   (libFuzzer on the stable toolchain) and runs each for N seconds (default 60), reporting
//!   executions per target; exit 1 when one crashed. Not part of `cargo xtask test`.
//!
//! Exit codes: 0 up to date / written / passed, 1 stale (with `--check`) or tests failed,
//! 2 bad input or failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench;
mod corpus;
mod fuzz;
mod layers;

use std::collections::BTreeMap;

use evc_codegen::Templates;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("codegen") => {
            let check = match &args[1..] {
                [] => false,
                [flag] if flag == "--check" => true,
                other => {
                    eprintln!("error: unexpected arguments {other:?}\nusage: cargo xtask codegen [--check]");
                    return ExitCode::from(2);
                }
            };
            match codegen(check) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Some("test") => test(&args[1..]),
        Some("bench") => {
            let root = workspace_root();
            // the benches need the brokers and databases, not the interop peers
            if let Err(e) = prepare(&root, false) {
                eprintln!("error: preparing the machine: {e}");
                return ExitCode::from(2);
            }
            bench::run(&root, args.get(1).map(String::as_str))
        }
        Some("fuzz") => fuzz::run(&workspace_root(), &args[1..]),
        Some("layers") => match layers::check(&workspace_root()) {
            Ok(problems) if problems.is_empty() => {
                println!("dependencies follow the layers of ARCHITECTURE.md");
                ExitCode::SUCCESS
            }
            Ok(problems) => {
                for p in &problems {
                    eprintln!("error: {p}");
                }
                eprintln!("{} layer violation(s)", problems.len());
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask codegen [--check] | cargo xtask layers | cargo xtask test [-- <cargo test args>] | cargo xtask bench [FILTER] | cargo xtask fuzz [--secs N] [TARGET...]"
            );
            ExitCode::from(2)
        }
    }
}

/// Prepares the machine, then runs `cargo test --workspace` (extra arguments are passed on).
fn test(extra: &[String]) -> ExitCode {
    let root = workspace_root();
    if let Err(e) = prepare(&root, true) {
        eprintln!("error: preparing the test machine: {e}");
        return ExitCode::from(2);
    }
    let mut cmd =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root).args(["test", "--workspace"]);
    let extra: Vec<&String> = extra.iter().skip_while(|a| *a == "--").collect();
    cmd.args(extra);
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            ExitCode::from(2)
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_path_buf()
}

/// Generated outputs: folder → (relative path → contents).
pub(crate) type Outputs = BTreeMap<PathBuf, BTreeMap<String, String>>;

fn codegen(check: bool) -> Result<bool, String> {
    let root = workspace_root();
    let templates = Templates::new();
    let mut outputs: Outputs = BTreeMap::new();

    // The schema directory → the events crate: the same function as `evc codegen`.
    let schemas = evc_codegen::generate_schema_dir(&root.join("schemas")).map_err(|e| match e {
        evc_codegen::ProjectError::Catalog(d) => {
            let mut s = String::from("the schema directory has problems:\n");
            for x in &d.0 {
                s.push_str(&format!("  {}\n", show(&root, x)));
            }
            s
        }
        other => other.to_string(),
    })?;
    outputs.insert(
        schemas.dir,
        schemas
            .files
            .into_iter()
            .map(|f| (f.path, f.contents))
            .collect(),
    );

    // The codegen test corpus (hand-written and generated schemas) → the corpus test crate.
    corpus::codegen(&root, &templates, &mut outputs)?;

    let mut fresh = true;
    for (dir, files) in &outputs {
        fresh &= sync(&root, dir, files, check)?;
    }
    if check {
        if fresh {
            println!("generated code is up to date");
        } else {
            eprintln!("\ngenerated code is stale: run `cargo xtask codegen` and commit the result");
        }
    }
    Ok(fresh)
}

fn show(root: &Path, d: &evc_catalog::Diagnostic) -> String {
    let mut d = d.clone();
    if let Ok(rel) = d.file.strip_prefix(root) {
        d.file = rel.to_path_buf();
    }
    d.to_string()
}

/// Makes `dir` hold exactly `files` (or, with `check`, reports how it differs). True if it did.
fn sync(
    root: &Path,
    dir: &Path,
    files: &BTreeMap<String, String>,
    check: bool,
) -> Result<bool, String> {
    let mut existing = evc_codegen::existing_files(dir);
    // the generated corpus schemas
    if let Ok(rd) = fs::read_dir(dir) {
        for p in rd.flatten().map(|e| e.path()) {
            if p.extension().is_some_and(|x| x == "avsc") {
                let rel = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                existing.insert(rel, p);
            }
        }
    }
    let shown = |rel: &str| {
        let p = dir.join(rel);
        p.strip_prefix(root).unwrap_or(&p).display().to_string()
    };
    let mut fresh = true;
    for (rel, contents) in files {
        let path = dir.join(rel);
        let old = fs::read_to_string(&path).ok();
        if old.as_deref() == Some(contents.as_str()) {
            continue;
        }
        fresh = false;
        if check {
            let old = old.unwrap_or_default();
            let diff = similar::TextDiff::from_lines(&old, contents);
            print!(
                "{}",
                diff.unified_diff()
                    .context_radius(3)
                    .header(&format!("a/{}", shown(rel)), &format!("b/{}", shown(rel)))
            );
        } else {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            // write to a temporary file and rename, so an interrupted run leaves no half file
            let tmp = path.with_extension("rs.tmp");
            fs::write(&tmp, contents).map_err(|e| format!("{}: {e}", tmp.display()))?;
            fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("wrote {}", shown(rel));
        }
    }
    for (rel, path) in existing {
        if files.contains_key(&rel) {
            continue;
        }
        fresh = false;
        if check {
            println!(
                "stale file {} (no schema generates it any more)",
                shown(&rel)
            );
        } else {
            fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("removed {}", shown(&rel));
        }
    }
    Ok(fresh)
}

fn run(cmd: &mut std::process::Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn succeeds(cmd: &mut std::process::Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs what the suites need and is not on a fresh machine (with `interop`, the Python and
/// npm peers of the interoperability tests too). Idempotent and quick when done.
fn prepare(root: &Path, interop_peers: bool) -> Result<(), String> {
    if interop_peers {
        prepare_interop(root)?;
    }
    prepare_services()
}

/// The Python and npm clients the interoperability tests run against.
fn prepare_interop(root: &Path) -> Result<(), String> {
    use std::process::Command;
    let interop = root.join("tests/interop");
    // Python peers (confluent-kafka, fastavro, prometheus-client), in a virtualenv under
    // target/. Installed again whenever requirements.txt changes (a stamp of its contents is
    // kept in the venv), so a machine that had an older venv gets the new peers too.
    let venv = root.join("target/interop/venv");
    let py = venv.join("bin/python");
    let requirements = interop.join("requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let stamp = venv.join("evc-requirements.txt");
    let current = fs::read_to_string(&stamp).ok();
    if current.as_deref() != Some(wanted.as_str())
        || !succeeds(Command::new(&py).args(["-c", "import confluent_kafka, fastavro"]))
    {
        println!(
            "xtask: installing the Python interop clients into {}",
            venv.display()
        );
        if !py.exists() {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements))?;
        fs::write(&stamp, &wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    }
    // npm peer: @kafkajs/confluent-schema-registry, from the committed lock file.
    if !interop
        .join("node_modules/@kafkajs/confluent-schema-registry")
        .exists()
    {
        println!(
            "xtask: installing the npm interop client into {}",
            interop.display()
        );
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&interop))?;
    }
    Ok(())
}

/// The tansu broker, PostgreSQL and RabbitMQ's consistent-hash exchange.
fn prepare_services() -> Result<(), String> {
    use std::process::Command;
    // The tansu Kafka-protocol broker, for the end-to-end and fault suites and the bench:
    // `dynostore` for its in-memory storage, `libsql` for the SQLite storage the broker-restart
    // suite needs (it survives SIGKILL). An install without `libsql` (cargo records features in
    // .crates2.json) is replaced.
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let tansu_installed = home.as_ref().is_some_and(|h| {
        h.join("bin/tansu").exists() && tansu_has_libsql(&h.join(".crates2.json"))
    });
    if !tansu_installed {
        println!("xtask: installing the tansu broker (cargo install tansu --locked --features dynostore,libsql); this takes a while once");
        run(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
                "install",
                "tansu",
                "--locked",
                "--features",
                "dynostore,libsql",
            ]),
        )?;
    }
    // PostgreSQL: this kind of machine starts it before the session; if it is down, try once.
    if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
        println!("xtask: PostgreSQL is not answering on 127.0.0.1:5432; trying to start it");
        let _ = Command::new("sh")
            .args([
                "-c",
                "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
            ])
            .status();
    }
    // RabbitMQ: evc-transport's RabbitMQ transport routes keys over a group's queues with the
    // consistent-hash exchange, a plugin RabbitMQ bundles but does not enable by default.
    // Enabling it is online (no broker restart) and idempotent.
    let plugin = "rabbitmq_consistent_hash_exchange";
    let listed = Command::new("rabbitmq-plugins")
        .args(["list", "--enabled", "--minimal"])
        .output();
    match listed {
        Ok(out) if out.status.success() => {
            if !String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == plugin)
            {
                println!("xtask: enabling the RabbitMQ plugin {plugin}");
                run(Command::new("rabbitmq-plugins").args(["enable", plugin]))?;
            }
        }
        _ => println!(
            "xtask: `rabbitmq-plugins` is not available here; the RabbitMQ transport tests need \
             the {plugin} plugin enabled on the broker at 127.0.0.1:5672"
        ),
    }
    Ok(())
}

/// Whether cargo's install record (`.crates2.json`) has tansu with its `libsql` feature.
fn tansu_has_libsql(record: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(record) else {
        return false;
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    json["installs"].as_object().is_some_and(|installs| {
        installs.iter().any(|(id, info)| {
            id.starts_with("tansu ")
                && info["features"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "libsql"))
        })
    })
}
