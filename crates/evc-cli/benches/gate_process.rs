//! `evc check` as a whole process (start-up, git, loading, checking, output) on the gate
//! benchmark's tree: 1,000 subjects × 20 versions under FULL_TRANSITIVE, in a git repository
//! where one subject gained a legal v21 that is not committed yet (a pull request touching one
//! subject). Each case runs `EVC_BENCH_RUNS` times (default 7); best and median are printed,
//! with the load average before and after, since other work on the machine skews wall time.
//!
//! Set `EVC_BASELINE` to another `evc` binary (e.g. one built from main) to measure it on the
//! same tree in the same run.
//!
//! Run: `cargo bench -p evc-cli --bench gate_process`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../../evc-gate/benches/support/tree.rs"]
mod tree;

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs `evc args` in `dir` `runs` times; returns the wall times and the last summary line.
fn time(evc: &str, dir: &Path, args: &[&str], runs: usize) -> (Vec<Duration>, String) {
    let mut times = Vec::new();
    let mut summary = String::new();
    for _ in 0..runs {
        let start = Instant::now();
        let o = Command::new(evc)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run evc");
        times.push(start.elapsed());
        assert_eq!(
            o.status.code(),
            Some(0),
            "{evc} {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        summary = String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap_or("")
            .to_string();
    }
    times.sort();
    (times, summary)
}

fn main() {
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`) passes nothing else
    // useful: run one round so that it stays quick.
    let quick = std::env::args().all(|a| a != "--bench");
    let xtask = std::env::var_os("EVC_BENCH_QUICK").is_some();
    let runs: usize = std::env::var("EVC_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick {
            1
        } else if xtask {
            3
        } else {
            7
        });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("schemas");
    std::fs::create_dir_all(&root).unwrap();
    tree::tree(&root);
    tree::commit(dir.path());
    tree::add_version(&root, 7);

    let ours = env!("CARGO_BIN_EXE_evc").to_string();
    let mut cases: Vec<(String, String, Vec<&str>)> = vec![
        (
            "full check".into(),
            ours.clone(),
            vec!["check", "--no-generated"],
        ),
        (
            "--against HEAD (incremental)".into(),
            ours.clone(),
            vec!["check", "--no-generated", "--against", "HEAD"],
        ),
        (
            "--against HEAD --full".into(),
            ours.clone(),
            vec!["check", "--no-generated", "--against", "HEAD", "--full"],
        ),
    ];
    if let Ok(base) = std::env::var("EVC_BASELINE") {
        cases.push((
            "baseline: full check".into(),
            base.clone(),
            vec!["check", "--no-generated"],
        ));
        cases.push((
            "baseline: --against HEAD".into(),
            base,
            vec!["check", "--no-generated", "--against", "HEAD"],
        ));
    }
    println!(
        "evc check, whole process, {} subjects x {} versions (+1), {runs} run(s) each",
        tree::SUBJECTS,
        tree::VERSIONS
    );
    println!("load average before: {}", loadavg());
    println!("{:<34} {:>10} {:>10}  summary", "case", "best", "median");
    let mut best = Vec::new();
    for (name, bin, args) in &cases {
        let (times, summary) = time(bin, dir.path(), args, runs);
        println!(
            "{name:<34} {:>8.1}ms {:>8.1}ms  {summary}",
            times[0].as_secs_f64() * 1e3,
            times[times.len() / 2].as_secs_f64() * 1e3
        );
        best.push(times[0].as_secs_f64() * 1e3);
    }
    println!("load average after: {}", loadavg());
    // the rows of `cargo xtask bench`: targets are absolute (whole process on this machine)
    let baseline = |i: usize| best.get(i).map_or("-".to_string(), |b| format!("{b:.1}"));
    println!(
        "evc-bench\tgate: full check, 1000x20 FULL_TRANSITIVE, whole process\t{:.1}\t{}\tms\t<1000",
        best[0],
        baseline(3)
    );
    println!(
        "evc-bench\tgate: --against HEAD, one subject changed, whole process\t{:.1}\t{}\tms\t<100",
        best[1],
        baseline(4)
    );
}
