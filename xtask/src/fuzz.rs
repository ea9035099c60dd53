//! `cargo xtask fuzz [--secs N] [TARGET...]`: builds the coverage-guided fuzz targets of
//! `fuzz/` and runs each for N seconds (default 60), then prints executions and coverage per
//! target. Exit 1 when a target found a crash (the input is saved under
//! `fuzz/artifacts/<target>/`), 2 when it could not build or run.
//!
//! The fuzzer is libFuzzer, linked by the `libfuzzer-sys` crate (built from its bundled C++
//! source with the machine's C++ compiler), and the instrumentation is rustc's own SanitizerCoverage
//! pass switched on with stable codegen flags (`-C passes=sancov-module` and `-C llvm-args`).
//! So it runs on the stable toolchain: no nightly, no `RUSTC_BOOTSTRAP`, no `cargo fuzz`
//! (which asks for `-Z` flags). What it needs beyond cargo is a C++ compiler; on a machine
//! without one it installs Debian's `g++`.
//!
//! Each run starts from the checked-in seeds (`fuzz/corpus/<target>/`) plus what earlier runs
//! on this machine found (`fuzz/target/corpus/<target>/`, not checked in).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// Every target in `fuzz/Cargo.toml`, in the order they run, with libFuzzer's `-max_len`.
const TARGETS: &[(&str, usize)] = &[
    ("schema_canonical", 8192),
    ("order_decode", 1024),
    ("avro_resolve", 1024),
    ("wire_frame", 1024),
    ("catalog_config", 4096),
    ("registry_bodies", 4096),
    ("produce_line", 2048),
];

/// The SanitizerCoverage options libFuzzer wants (what `cargo fuzz` passes, minus `-Z`).
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg=fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

struct Outcome {
    target: &'static str,
    execs: Option<u64>,
    coverage: Option<u64>,
    corpus: usize,
    crash: Option<PathBuf>,
    secs: f64,
}

pub fn run(root: &Path, args: &[String]) -> ExitCode {
    let mut secs = 60u64;
    let mut wanted: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--secs" => match it.next().and_then(|s| s.parse().ok()) {
                Some(n) => secs = n,
                None => return usage("--secs needs a number of seconds"),
            },
            name => match TARGETS.iter().find(|(t, _)| *t == name) {
                Some((t, _)) => wanted.push(t),
                None => return usage(&format!("unknown target `{name}`")),
            },
        }
    }
    let targets: Vec<(&'static str, usize)> = TARGETS
        .iter()
        .filter(|(t, _)| wanted.is_empty() || wanted.contains(t))
        .copied()
        .collect();
    let fuzz = root.join("fuzz");
    if let Err(e) = prepare() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let triple = match host_triple() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("xtask: building the fuzz targets (fuzz/, libFuzzer with SanitizerCoverage)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(&cargo);
    // `--target` keeps the flags off build scripts and proc macros (they run on the host and
    // must not need libFuzzer's symbols).
    build
        .current_dir(&fuzz)
        .args(["build", "--release", "--bins", "--target", &triple])
        .env("RUSTFLAGS", RUSTFLAGS.join(" "))
        .env("CARGO_TARGET_DIR", fuzz.join("target"))
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    match build.status() {
        Ok(s) if s.success() => {}
        Ok(_) => {
            eprintln!("error: the fuzz targets did not build");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            return ExitCode::from(2);
        }
    }
    let bins = fuzz.join("target").join(&triple).join("release");
    let mut outcomes = Vec::new();
    for (target, max_len) in targets {
        match run_target(&fuzz, &bins, target, max_len, secs) {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                eprintln!("error: {target}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    println!();
    println!(
        "{:<18} {:>12} {:>10} {:>8} {:>8}  result",
        "target", "executions", "exec/s", "cov", "corpus"
    );
    let mut crashed = false;
    for o in &outcomes {
        let rate = o.execs.map(|e| e as f64 / o.secs.max(0.001));
        println!(
            "{:<18} {:>12} {:>10} {:>8} {:>8}  {}",
            o.target,
            o.execs.map_or("?".into(), |e| e.to_string()),
            rate.map_or("?".into(), |r| format!("{r:.0}")),
            o.coverage.map_or("?".into(), |c| c.to_string()),
            o.corpus,
            match &o.crash {
                Some(p) => format!("CRASH: {}", p.display()),
                None => "ok".into(),
            }
        );
        crashed |= o.crash.is_some();
    }
    if crashed {
        eprintln!("a target crashed: rerun it on the saved input with `fuzz/target/{triple}/release/<target> <file>`, then add the input as a regression test of the crate that owns the code");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage(why: &str) -> ExitCode {
    let names: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
    eprintln!(
        "error: {why}\nusage: cargo xtask fuzz [--secs N] [TARGET...]\ntargets: {}",
        names.join(" ")
    );
    ExitCode::from(2)
}

/// libFuzzer is C++: make sure a C++ compiler is there (Debian's g++ otherwise).
fn prepare() -> Result<(), String> {
    let has = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has("c++") || has("g++") || has("clang++") {
        return Ok(());
    }
    println!("xtask: installing a C++ compiler for libFuzzer (apt-get install g++)");
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-q", "g++"])
        .status()
        .is_ok_and(|s| s.success());
    if ok && has("g++") {
        Ok(())
    } else {
        Err("libFuzzer needs a C++ compiler: install g++ (or clang++)".into())
    }
}

fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV printed no host triple".into())
}

fn run_target(
    fuzz: &Path,
    bins: &Path,
    target: &'static str,
    max_len: usize,
    secs: u64,
) -> Result<Outcome, String> {
    let seeds = fuzz.join("corpus").join(target);
    let work = fuzz.join("target/corpus").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    for d in [&work, &artifacts] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let before: Vec<PathBuf> = list(&artifacts);
    println!("xtask: fuzzing {target} for {secs} s");
    let started = Instant::now();
    let out = Command::new(bins.join(target))
        .arg(format!("-max_total_time={secs}"))
        .arg(format!("-max_len={max_len}"))
        .arg("-timeout=10")
        .arg("-rss_limit_mb=4096")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(&work)
        .arg(&seeds)
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bins.join(target).display()))?;
    let elapsed = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&out.stderr);
    let stat = |name: &str| {
        log.lines().find_map(|l| {
            l.strip_prefix(&format!("stat::{name}:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
    };
    let coverage = log.lines().rev().find_map(|l| {
        l.split("cov: ")
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    });
    let new_artifacts: Vec<PathBuf> = list(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    let crash = if out.status.success() {
        None
    } else {
        // Show what libFuzzer said about the crash (its last lines).
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        for l in tail.iter().rev() {
            eprintln!("  {l}");
        }
        Some(
            new_artifacts
                .first()
                .cloned()
                .unwrap_or_else(|| artifacts.clone()),
        )
    };
    Ok(Outcome {
        target,
        execs: stat("number_of_executed_units"),
        coverage,
        corpus: list(&work).len(),
        crash,
        secs: elapsed,
    })
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}
