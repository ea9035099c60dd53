//! `cargo xtask bench [FILTER]`: every benchmark of the workspace with short settings, then one
//! table.
//!
//! 1. One build: `cargo bench --workspace --benches --no-run`, which lists every bench
//!    executable (so a bench added to any crate is run without being named here, and every
//!    crate's dependencies are built once, with the workspace's unified features).
//! 2. Each executable runs as `cargo bench` runs it (`--bench`, in its package's folder), with
//!    `EVC_BENCH_QUICK=1` and the short settings of [`QUICK`] (environment variables the bench
//!    reads; a value already set in the environment wins), one after the other.
//! 3. The table: one row per figure, `figure`, `baseline`, `ratio` (figure / baseline),
//!    `target`, `met`. A bench that printed no figure is listed under the table and the command
//!    exits 1.
//!
//! # The line a bench prints per figure
//!
//! Besides its own report, a bench prints one line per figure on stdout, six fields separated
//! by tabs (this format is what every bench of the workspace prints; keep it stable):
//!
//! ```text
//! evc-bench<TAB>name<TAB>figure<TAB>baseline<TAB>unit<TAB>target
//! ```
//!
//! - `name`: what was measured, unique in the run (e.g. `event store appends/s, 8 writers,
//!   SQLite`);
//! - `figure`: a number (`.` decimal point, no thousands separator);
//! - `baseline`: the comparison measured in the same run (a number), or `-` when there is none;
//! - `unit`: of both numbers (`ns`, `ms`, `msg/s`, ...);
//! - `target`: `>=R` or `<=R`: on the ratio figure / baseline; `<V` or `>V`: on the figure
//!   itself; `-` (or nothing) when the figure has no target. An `x` after the number is
//!   allowed (`>=5x`).
//!
//! A bench built on criterion that prints no such line still gets rows: each criterion result
//! (`name  time: [low estimate high]`) becomes a row of its estimate, without baseline or
//! target.
//!
//! Full runs stay `cargo bench -p <crate> --bench <name>`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// The short settings of one bench: environment variables it reads, arguments after `--bench`.
struct Quick {
    package: &'static str,
    bench: &'static str,
    env: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
}

const fn quick(
    package: &'static str,
    bench: &'static str,
    env: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
) -> Quick {
    Quick {
        package,
        bench,
        env,
        args,
    }
}

/// Short settings per (package, bench). Benches not listed here read `EVC_BENCH_QUICK` alone.
const QUICK: &[Quick] = &[
    // criterion: quick mode, a short warm-up
    quick(
        "evc-gate",
        "check",
        &[],
        &["--quick", "--warm-up-time", "1"],
    ),
    quick(
        "evc-consumer",
        "end_to_end",
        &[("EVC_BENCH_EVENTS", "2000"), ("EVC_BENCH_ROUNDS", "1")],
        &[],
    ),
    quick(
        "evc-transport",
        "transport",
        &[("EVC_BENCH_MESSAGES", "2000"), ("EVC_BENCH_ROUNDS", "1")],
        &[],
    ),
    // 10,000 events: at 2,000 a run lasts a fraction of a second and the figure is noise
    quick(
        "evc-tests",
        "end_to_end",
        &[("EVC_BENCH_EVENTS", "10000")],
        &[],
    ),
    quick("evc-order", "store", &[("EVC_BENCH_ORDERS", "200")], &[]),
    quick(
        "evc-order",
        "projector",
        &[("EVC_BENCH_ORDERS", "100")],
        &[],
    ),
    quick(
        "evc-registry",
        "http_load",
        &[("EVC_BENCH_SECONDS", "2"), ("EVC_BENCH_ROUNDS", "1")],
        &[],
    ),
    quick("evc-saga", "runner", &[("EVC_BENCH_SAGAS", "100")], &[]),
];

/// The order of the table (benches not named here come after, by package and name).
const ORDER: &[(&str, &str)] = &[
    ("evc-wire", "wire"),
    ("evc-cli", "gate_process"),
    ("evc-gate", "check"),
    ("evc-eventstore", "append"),
    ("evc-transport", "transport"),
    ("evc-consumer", "batch"),
    ("evc-consumer", "end_to_end"),
    ("evc-tests", "end_to_end"),
    ("evc-order", "store"),
    ("evc-order", "projector"),
    ("evc-saga", "runner"),
    ("evc-registry", "http_load"),
];

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub name: String,
    pub figure: f64,
    pub baseline: Option<f64>,
    pub unit: String,
    pub target: String,
}

impl Row {
    /// Parses an `evc-bench` line.
    pub(crate) fn parse(line: &str) -> Option<Row> {
        let mut parts = line.strip_prefix("evc-bench\t")?.split('\t');
        let name = parts.next()?.to_string();
        let figure = parts.next()?.parse().ok()?;
        let baseline = match parts.next()? {
            "-" => None,
            b => Some(b.parse().ok()?),
        };
        let unit = parts.next()?.to_string();
        let target = match parts.next().unwrap_or("") {
            "" => "-".to_string(),
            t => t.to_string(),
        };
        Some(Row {
            name,
            figure,
            baseline,
            unit,
            target,
        })
    }

    pub(crate) fn ratio(&self) -> Option<f64> {
        self.baseline.filter(|b| *b != 0.0).map(|b| self.figure / b)
    }

    /// Whether the target is met (`None` when the row has no target it can judge).
    pub(crate) fn met(&self) -> Option<bool> {
        let t = self.target.as_str();
        let (op, value) = if let Some(v) = t.strip_prefix(">=") {
            (">=", v)
        } else if let Some(v) = t.strip_prefix("<=") {
            ("<=", v)
        } else if let Some(v) = t.strip_prefix('<') {
            ("<", v)
        } else if let Some(v) = t.strip_prefix('>') {
            (">", v)
        } else {
            return None;
        };
        let value: f64 = value.trim_end_matches('x').parse().ok()?;
        // ratios when there is a baseline, the figure itself otherwise
        let x = match op {
            ">=" | "<=" => self.ratio()?,
            _ => self.figure,
        };
        Some(match op {
            ">=" => x >= value,
            "<=" => x <= value,
            "<" => x < value,
            _ => x > value,
        })
    }
}

/// Criterion's report of one benchmark: `name` on its own line or before `time:`, then
/// `time:   [1.2 ms 1.3 ms 1.4 ms]`. Fed line by line; yields a row at each `time:` line.
#[derive(Default)]
pub(crate) struct CriterionLines {
    last_name: Option<String>,
}

impl CriterionLines {
    pub(crate) fn feed(&mut self, line: &str) -> Option<Row> {
        let trimmed = line.trim();
        let Some(at) = trimmed.find("time:") else {
            if !trimmed.is_empty()
                && !line.starts_with(' ')
                && !trimmed.contains(':')
                && !trimmed.contains(' ')
            {
                self.last_name = Some(trimmed.to_string());
            }
            return None;
        };
        let before = trimmed[..at].trim();
        let name = if before.is_empty() {
            self.last_name.take()?
        } else {
            before.to_string()
        };
        let inside = trimmed[at..].split_once('[')?.1.split_once(']')?.0;
        let words: Vec<&str> = inside.split_whitespace().collect();
        // [low unit estimate unit high unit]
        let (figure, unit) = (words.get(2)?.parse().ok()?, words.get(3)?.to_string());
        Some(Row {
            name: format!("{name} (criterion)"),
            figure,
            baseline: None,
            unit,
            target: "-".into(),
        })
    }
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The table, as printed.
pub(crate) fn table(rows: &[Row]) -> String {
    let name_w = rows.iter().map(|r| r.name.len()).max().unwrap_or(10).max(9);
    let mut s = format!(
        "{:<name_w$}  {:>12}  {:>12}  {:<10}  {:>7}  {:<10}  {}\n",
        "benchmark", "figure", "baseline", "unit", "ratio", "target", "met"
    );
    for r in rows {
        s.push_str(&format!(
            "{:<name_w$}  {:>12}  {:>12}  {:<10}  {:>7}  {:<10}  {}\n",
            r.name,
            fmt_num(r.figure),
            r.baseline.map_or("-".into(), fmt_num),
            r.unit,
            r.ratio().map_or("-".into(), |x| format!("{x:.2}x")),
            r.target,
            match r.met() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            }
        ));
    }
    s
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A bench executable cargo built.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Executable {
    pub package: String,
    pub bench: String,
    pub path: PathBuf,
    /// The package's folder (where `cargo bench` runs it).
    pub dir: PathBuf,
}

/// The package name in a cargo package id: `path+file:///x/evc-wire#0.1.0` (the name is the
/// folder's), `path+file:///x/tests#evc-tests@0.1.0`, or the older `evc-wire 0.1.0 (...)`.
pub(crate) fn package_name(id: &str) -> Option<String> {
    if let Some((url, fragment)) = id.split_once('#') {
        return Some(match fragment.split_once('@') {
            Some((name, _)) => name.to_string(),
            None => url.trim_end_matches('/').rsplit('/').next()?.to_string(),
        });
    }
    id.split_whitespace().next().map(str::to_string)
}

/// The bench executables of one `--message-format=json` line, if it reports one.
pub(crate) fn executable(json_line: &str) -> Option<Executable> {
    let v: serde_json::Value = serde_json::from_str(json_line).ok()?;
    if v["reason"] != "compiler-artifact" {
        return None;
    }
    let kinds = v["target"]["kind"].as_array()?;
    if !kinds.iter().any(|k| k == "bench") {
        return None;
    }
    Some(Executable {
        package: package_name(v["package_id"].as_str()?)?,
        bench: v["target"]["name"].as_str()?.to_string(),
        path: PathBuf::from(v["executable"].as_str()?),
        dir: Path::new(v["manifest_path"].as_str()?)
            .parent()?
            .to_path_buf(),
    })
}

fn rank(e: &Executable) -> (usize, String, String) {
    let i = ORDER
        .iter()
        .position(|(p, b)| *p == e.package && *b == e.bench)
        .unwrap_or(ORDER.len());
    (i, e.package.clone(), e.bench.clone())
}

/// Builds every bench of the workspace (one cargo run) and lists the executables.
fn build(root: &Path, cargo: &str) -> Result<Vec<Executable>, String> {
    println!("xtask: cargo bench --workspace --benches --no-run");
    let started = Instant::now();
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "bench",
            "--workspace",
            "--benches",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("building the benches failed ({})", out.status));
    }
    let mut found: BTreeMap<(String, String), Executable> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(e) = executable(line) {
            found.insert((e.package.clone(), e.bench.clone()), e);
        }
    }
    let mut all: Vec<Executable> = found.into_values().collect();
    all.sort_by_key(rank);
    println!(
        "xtask: {} benches built in {:.0} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(all)
}

/// What one bench printed.
struct Ran {
    rows: Vec<Row>,
    failed: Option<String>,
}

/// Runs one bench executable with its short settings, echoing its report (indented) and
/// collecting its rows.
fn run_one(e: &Executable) -> Ran {
    let mut cmd = Command::new(&e.path);
    cmd.current_dir(&e.dir)
        .arg("--bench")
        .env("EVC_BENCH_QUICK", "1")
        .env("CARGO_MANIFEST_DIR", &e.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(q) = QUICK
        .iter()
        .find(|q| q.package == e.package && q.bench == e.bench)
    {
        for (k, v) in q.env {
            if std::env::var_os(k).is_none() {
                cmd.env(k, v);
            }
        }
        cmd.args(q.args);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(err) => {
            return Ran {
                rows: Vec::new(),
                failed: Some(format!("{}: {err}", e.path.display())),
            }
        }
    };
    let (mut rows, mut criterion_rows) = (Vec::new(), Vec::new());
    let mut criterion = CriterionLines::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            match Row::parse(&line) {
                Some(r) => rows.push(r),
                None => {
                    println!("  {line}");
                    criterion_rows.extend(criterion.feed(&line));
                }
            }
        }
    }
    let failed = match child.wait() {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("{s}")),
        Err(err) => Some(err.to_string()),
    };
    // criterion's own results stand in only for a bench that printed no `evc-bench` line
    if rows.is_empty() {
        rows = criterion_rows;
    }
    Ran { rows, failed }
}

/// Builds and runs every benchmark quickly, then prints the table. `filter` keeps benches
/// whose package or name contains it.
pub(crate) fn run(root: &Path, filter: Option<&str>) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let all = match build(root, &cargo) {
        Ok(all) => all,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut rows, mut failed, mut silent) = (Vec::new(), Vec::new(), Vec::new());
    let mut times = Vec::new();
    println!("xtask: load average before: {}", loadavg());
    let started = Instant::now();
    for e in &all {
        if filter.is_some_and(|f| !e.package.contains(f) && !e.bench.contains(f)) {
            continue;
        }
        let id = format!("{}/{}", e.package, e.bench);
        println!("xtask: {id} (quick)");
        let t = Instant::now();
        let ran = run_one(e);
        times.push(format!("{id} {:.0} s", t.elapsed().as_secs_f64()));
        if ran.rows.is_empty() {
            silent.push(id.clone());
        }
        rows.extend(ran.rows);
        if let Some(why) = ran.failed {
            failed.push(format!("{id} ({why})"));
        }
    }
    println!(
        "\nxtask: load average after: {}; ran in {:.0} s ({})\n",
        loadavg(),
        started.elapsed().as_secs_f64(),
        times.join(", ")
    );
    print!("{}", table(&rows));
    let mut code = ExitCode::SUCCESS;
    if !silent.is_empty() {
        eprintln!("\nprinted no figure: {}", silent.join(", "));
        code = ExitCode::from(1);
    }
    if !failed.is_empty() {
        eprintln!("\nfailed: {}", failed.join(", "));
        code = ExitCode::from(1);
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_judge_their_targets() {
        let r = Row::parse("evc-bench\tdecode\t120.5\t100\tns\t<=1.2").unwrap();
        assert_eq!(r.ratio(), Some(1.205));
        assert_eq!(r.met(), Some(false));
        let r = Row::parse("evc-bench\tappends\t5000\t700\tappends/s\t>=5").unwrap();
        assert_eq!(r.met(), Some(true));
        let r = Row::parse("evc-bench\tappends\t3000\t700\tappends/s\t>=5x").unwrap();
        assert_eq!(r.met(), Some(false));
        let r = Row::parse("evc-bench\tgate\t950\t-\tms\t<1000").unwrap();
        assert_eq!((r.baseline, r.met()), (None, Some(true)));
        let r = Row::parse("evc-bench\tpublish\t950\t1000\tmsg/s\t-").unwrap();
        assert_eq!((r.ratio(), r.met()), (Some(0.95), None));
        let r = Row::parse("evc-bench\tpublish\t950\t1000\tmsg/s").unwrap();
        assert_eq!((r.target.as_str(), r.met()), ("-", None));
        assert!(Row::parse("not a bench line").is_none());
        assert!(Row::parse("evc-bench\tx\tnot a number\t-\tms\t-").is_none());
        let t = table(&[r]);
        assert!(t.contains("publish") && t.contains("0.95x"), "{t}");
    }

    #[test]
    fn criterion_results_become_rows() {
        let mut c = CriterionLines::default();
        let lines = [
            "Benchmarking evc_check/full: Warming up for 1.0000 s",
            "evc_check/full",
            "                        time:   [1.0907 s 1.1053 s 1.1219 s]",
            "Found 1 outliers among 10 measurements (10.00%)",
            "short      time:   [272.01 ns 274.20 ns 276.90 ns]",
        ];
        let rows: Vec<Row> = lines.iter().filter_map(|l| c.feed(l)).collect();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].name, "evc_check/full (criterion)");
        assert_eq!((rows[0].figure, rows[0].unit.as_str()), (1.1053, "s"));
        assert_eq!(rows[1].name, "short (criterion)");
        assert_eq!((rows[1].figure, rows[1].unit.as_str()), (274.2, "ns"));
    }

    #[test]
    fn bench_executables_come_from_cargo_messages() {
        assert_eq!(
            package_name("path+file:///w/crates/evc-wire#0.1.0").as_deref(),
            Some("evc-wire")
        );
        assert_eq!(
            package_name("path+file:///w/tests#evc-tests@0.1.0").as_deref(),
            Some("evc-tests")
        );
        assert_eq!(
            package_name("evc-wire 0.1.0 (path+file:///w/crates/evc-wire)").as_deref(),
            Some("evc-wire")
        );
        let line = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/tests#evc-tests@0.1.0","manifest_path":"/w/tests/Cargo.toml","target":{"kind":["bench"],"name":"end_to_end"},"executable":"/w/target/release/deps/end_to_end-1"}"#;
        assert_eq!(
            executable(line),
            Some(Executable {
                package: "evc-tests".into(),
                bench: "end_to_end".into(),
                path: "/w/target/release/deps/end_to_end-1".into(),
                dir: "/w/tests".into(),
            })
        );
        // a library built for the bench is not one
        let lib = line.replace(r#"["bench"]"#, r#"["lib"]"#);
        assert_eq!(executable(&lib), None);
    }
}
