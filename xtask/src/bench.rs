//! `cargo xtask bench`: every benchmark of the workspace with short settings, then one table.
//!
//! Each benchmark binary prints, besides its own report, one line per figure:
//!
//! ```text
//! evc-bench<TAB>name<TAB>figure<TAB>baseline<TAB>unit<TAB>target
//! ```
//!
//! where `baseline` is the comparison measured in the same run (`-` when there is none) and
//! `target` is `>=R` or `<=R` on the ratio figure / baseline, or `<V` / `>V` on the figure
//! itself when there is no baseline. This module runs the binaries with `EVC_BENCH_QUICK=1`
//! (each bench shortens its runs), collects those lines and prints the table. Full runs stay
//! `cargo bench -p <crate> --bench <name>`.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

/// (package, bench target) in the order the table shows them.
const BENCHES: &[(&str, &str)] = &[
    ("evc-wire", "wire"),
    ("evc-eventstore", "append"),
    ("evc-cli", "gate_process"),
    ("evc-consumer", "batch"),
    ("evc-consumer", "end_to_end"),
    ("evc-tests", "end_to_end"),
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
        let target = parts.next().unwrap_or("").to_string();
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

/// Runs every benchmark quickly and prints the table. `filter` keeps benches whose package or
/// name contains it.
pub(crate) fn run(root: &Path, filter: Option<&str>) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    println!("xtask: load average before: {}", loadavg());
    for (package, bench) in BENCHES {
        if filter.is_some_and(|f| !package.contains(f) && !bench.contains(f)) {
            continue;
        }
        println!("xtask: cargo bench -p {package} --bench {bench} (quick)");
        let out = Command::new(&cargo)
            .current_dir(root)
            .args(["bench", "-p", package, "--bench", bench])
            .env("EVC_BENCH_QUICK", "1")
            .stderr(Stdio::inherit())
            .output();
        match out {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                for line in text.lines() {
                    match Row::parse(line) {
                        Some(r) => rows.push(r),
                        None => println!("  {line}"),
                    }
                }
                if !o.status.success() {
                    failed.push(format!("{package}/{bench} ({})", o.status));
                }
            }
            Err(e) => failed.push(format!("{package}/{bench}: {e}")),
        }
    }
    println!("\nxtask: load average after: {}\n", loadavg());
    print!("{}", table(&rows));
    if !failed.is_empty() {
        eprintln!("\nfailed: {}", failed.join(", "));
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
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
        let r = Row::parse("evc-bench\tgate\t950\t-\tms\t<1000").unwrap();
        assert_eq!((r.baseline, r.met()), (None, Some(true)));
        assert!(Row::parse("not a bench line").is_none());
        assert!(table(&[r]).contains("gate"));
    }
}
