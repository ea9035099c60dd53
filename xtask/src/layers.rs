//! `cargo xtask layers`: the dependency rules of ARCHITECTURE.md, checked against `cargo
//! metadata`.
//!
//! The rules are read from the ```` ```layers ```` block of ARCHITECTURE.md, so the document
//! and the check cannot drift apart:
//!
//! - `LAYER: crate crate ...` lines, top to bottom from the lowest layer: a workspace crate's
//!   normal dependencies may only be crates of its own layer or a lower one;
//! - `never: crate crate ... -> package package ...`: none of the crates on the left may have
//!   any package on the right among its normal dependencies, directly or transitively (a
//!   package is named `name` or `name/feature`, the latter meaning that feature enabled);
//! - `domain: crate ... <- crate ...`: only the crates on the right may depend (normally) on
//!   the domain crates on the left;
//! - `domain-free: crate ...`: these crates' sources (`src/`) never name the order domain
//!   (`order_events`, `OrderEvent`).
//!
//! Every workspace crate must be in a layer, except the tools (`xtask`, `evc-tests`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[derive(Debug, Default)]
struct Rules {
    layer_of: BTreeMap<String, (usize, String)>,
    never: Vec<(Vec<String>, Vec<String>)>,
    domain: Vec<(Vec<String>, Vec<String>)>,
    domain_free: Vec<String>,
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn parse_rules(doc: &str) -> Result<Rules, String> {
    let start = doc
        .find("```layers\n")
        .ok_or("ARCHITECTURE.md has no ```layers block")?;
    let body = &doc[start + "```layers\n".len()..];
    let end = body
        .find("```")
        .ok_or("the ```layers block is not closed")?;
    let mut rules = Rules::default();
    let mut layer = 0;
    for (n, line) in body[..end].lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = || format!("ARCHITECTURE.md ```layers line {}: `{line}`", n + 1);
        let (head, rest) = line.split_once(':').ok_or_else(bad)?;
        match head.trim() {
            "never" => {
                let (l, r) = rest.split_once("->").ok_or_else(bad)?;
                rules.never.push((words(l), words(r)));
            }
            "domain" => {
                let (l, r) = rest.split_once("<-").ok_or_else(bad)?;
                rules.domain.push((words(l), words(r)));
            }
            "domain-free" => rules.domain_free.extend(words(rest)),
            name => {
                for c in words(rest) {
                    rules.layer_of.insert(c, (layer, name.to_string()));
                }
                layer += 1;
            }
        }
    }
    Ok(rules)
}

/// Runs the check; answers the violations (empty when the workspace follows the rules).
pub fn check(root: &Path) -> Result<Vec<String>, String> {
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md"))
        .map_err(|e| format!("ARCHITECTURE.md: {e}"))?;
    let rules = parse_rules(&doc)?;
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let meta: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata: {e}"))?;
    let mut problems = Vec::new();

    // package id → (name, normal dependency ids, enabled features)
    let mut nodes: BTreeMap<String, (String, Vec<String>, BTreeSet<String>)> = BTreeMap::new();
    let names: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or("").to_string(),
                p["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for n in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let id = n["id"].as_str().unwrap_or("").to_string();
        let deps = n["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| k["kind"].is_null())
            })
            .filter_map(|d| d["pkg"].as_str().map(str::to_string))
            .collect();
        let features = n["features"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        let name = names.get(&id).cloned().unwrap_or_default();
        nodes.insert(id, (name, deps, features));
    }
    let members: BTreeSet<String> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    let id_of = |name: &str| {
        members
            .iter()
            .find(|id| nodes.get(*id).is_some_and(|n| n.0 == name))
            .cloned()
    };

    // layers
    for id in &members {
        let (name, deps, _) = &nodes[id];
        if name == "xtask" || name == "evc-tests" {
            continue;
        }
        let Some((mine, my_layer)) = rules.layer_of.get(name) else {
            problems.push(format!(
                "{name} is in no layer of ARCHITECTURE.md's ```layers block: add it"
            ));
            continue;
        };
        for d in deps {
            let dep = &nodes[d].0;
            if let Some((theirs, their_layer)) = rules.layer_of.get(dep) {
                if theirs > mine {
                    problems.push(format!(
                        "{name} (layer {my_layer}) depends on {dep} (layer {their_layer}, higher): dependencies point down"
                    ));
                }
            }
        }
    }

    // transitive prohibitions, resolved per crate as `cargo build -p CRATE` would (the
    // workspace-wide resolve of `cargo metadata` unifies features across crates, so a feature
    // only the demo turns on would be blamed on everybody)
    for (crates, banned) in &rules.never {
        for c in crates {
            if id_of(c).is_none() {
                problems.push(format!("never: {c} is not a workspace crate"));
                continue;
            }
            let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(root)
                .args(["tree", "--locked", "-e", "normal", "--prefix", "none"])
                .args(["--format", "{p}|{f}", "-p", c])
                .output()
                .map_err(|e| format!("cargo tree: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "cargo tree -p {c} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let tree = String::from_utf8_lossy(&out.stdout);
            for b in banned {
                let hit = tree.lines().find(|line| {
                    let (pkg, features) = line.split_once('|').unwrap_or((line, ""));
                    let name = pkg.split_whitespace().next().unwrap_or("");
                    match b.split_once('/') {
                        Some((want, feat)) => {
                            name == want && features.split(',').any(|f| f.trim() == feat)
                        }
                        None => name == b,
                    }
                });
                if let Some(line) = hit {
                    problems.push(format!(
                        "{c} must not depend on {b}, but `cargo tree -p {c} -e normal` has {}",
                        line.split('|').next().unwrap_or(line).trim()
                    ));
                }
            }
        }
    }

    // domain crates
    for (domain, allowed) in &rules.domain {
        for id in &members {
            let (name, deps, _) = &nodes[id];
            for d in deps {
                let dep = &nodes[d].0;
                if domain.contains(dep) && !allowed.contains(name) && !domain.contains(name) {
                    problems.push(format!(
                        "{name} depends on the domain crate {dep}: only {} may",
                        allowed.join(", ")
                    ));
                }
            }
        }
    }

    // sources of domain-free crates
    for c in &rules.domain_free {
        let dir = root.join("crates").join(c).join("src");
        let mut files = Vec::new();
        collect_rs(&dir, &mut files);
        if files.is_empty() {
            problems.push(format!("domain-free: {} has no sources", dir.display()));
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for (i, line) in text.lines().enumerate() {
                if line.contains("order_events") || line.contains("OrderEvent") {
                    problems.push(format!(
                        "{}:{}: {c} is domain-free but names the order domain: {}",
                        f.strip_prefix(root).unwrap_or(&f).display(),
                        i + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    Ok(problems)
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_block() {
        let doc = "x\n```layers\nbase: a b # comment\nnext: c\nnever: c -> axum sqlx/sqlite\ndomain: d <- e\ndomain-free: a\n```\n";
        let r = parse_rules(doc).unwrap();
        assert_eq!(r.layer_of["a"].0, 0);
        assert_eq!(r.layer_of["c"], (1, "next".into()));
        assert_eq!(r.never[0].1, vec!["axum", "sqlx/sqlite"]);
        assert_eq!(r.domain[0], (vec!["d".into()], vec!["e".into()]));
        assert_eq!(r.domain_free, vec!["a"]);
        assert!(parse_rules("no block").is_err());
        assert!(parse_rules("```layers\nnever c\n```").is_err());
    }
}
