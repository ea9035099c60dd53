//! Test support (feature `testing`): scrape a metrics endpoint and parse it with the Prometheus
//! project's own parser (Python `prometheus_client`, from the venv `cargo xtask test`
//! installs), so tests assert on what Prometheus would read, not on our own reading.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// One sample as the parser read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample name (`x_total`, `x_bucket`, ...).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value (`NaN` and infinities included).
    pub value: f64,
}

/// One metric family as the parser read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family name (a counter's without `_total`).
    pub name: String,
    /// `counter`, `gauge`, `histogram`, ...
    pub kind: String,
    /// The unit (`seconds`), or empty.
    pub unit: String,
    /// The HELP text.
    pub help: String,
    /// Its samples.
    pub samples: Vec<Sample>,
}

/// A parsed scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Scrape {
    /// The answer's content type.
    pub content_type: String,
    /// Every family, in the order of the exposition.
    pub families: Vec<Family>,
}

impl Scrape {
    /// The family named `name`.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The sum of the samples named `sample` whose labels include `labels`; `None` when no
    /// sample matches.
    pub fn value(&self, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for s in self.families.iter().flat_map(|f| &f.samples) {
            if s.name == sample
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            {
                *found.get_or_insert(0.0) += s.value;
            }
        }
        found
    }

    /// [`value`](Self::value), or 0 when no sample matches (a labelled series not created yet).
    pub fn value_or_zero(&self, sample: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(sample, labels).unwrap_or(0.0)
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interop venv's Python (`EVC_INTEROP_PYTHON` overrides); panics naming the fix when it
/// is missing.
pub fn python() -> PathBuf {
    let p = std::env::var_os("EVC_INTEROP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/interop/venv/bin/python"));
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test`, which installs the Python prometheus_client parser",
        p.display()
    );
    p
}

/// Scrapes `url` (a full `/metrics` URL) and parses it with `prometheus_client`'s OpenMetrics
/// parser; panics with the parser's complaint when it refuses the exposition.
pub async fn scrape(url: &str) -> Scrape {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || scrape_blocking(&url))
        .await
        .expect("the scrape task")
}

/// [`scrape`] for code outside a runtime.
pub fn scrape_blocking(url: &str) -> Scrape {
    let out = Command::new(python())
        .arg(workspace().join("tests/interop/metrics_dump.py"))
        .arg(url)
        .output()
        .expect("run tests/interop/metrics_dump.py");
    assert!(
        out.status.success(),
        "the Prometheus parser refused {url}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the dump is JSON");
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let families = json["families"]
        .as_array()
        .expect("families")
        .iter()
        .map(|f| Family {
            name: text(&f["name"]),
            kind: text(&f["type"]),
            unit: text(&f["unit"]),
            help: text(&f["help"]),
            samples: f["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|s| Sample {
                    name: text(&s["name"]),
                    labels: s["labels"]
                        .as_object()
                        .expect("labels")
                        .iter()
                        .map(|(k, v)| (k.clone(), text(v)))
                        .collect(),
                    value: match &s["value"] {
                        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                        serde_json::Value::String(s) => s.parse().unwrap_or(f64::NAN),
                        _ => f64::NAN,
                    },
                })
                .collect(),
        })
        .collect();
    Scrape {
        content_type: text(&json["content_type"]),
        families,
    }
}
