//! The reusable GitHub Action (`.github/actions/schema-gate/action.yml`): its inputs are wired to
//! `evc check`, and its shell steps do what they say when run as the runner runs them.
//!
//! GitHub itself cannot run here, so this test is a small runner for the subset of the workflow
//! language the action uses: `${{ ... }}` expressions over `inputs`, `github` and `steps`, `if`
//! conditions made of `==`, `!=` and `&&`, `env`, `working-directory`, `$GITHUB_OUTPUT`, and
//! `shell: bash` (`bash --noprofile --norc -eo pipefail`). Anything else in the file fails the
//! test instead of being skipped. The steps run against a real git remote and a shallow clone of
//! it, with the `evc` binary under test as the `evc-bin` input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn action_dir() -> PathBuf {
    repo().join(".github/actions/schema-gate")
}

fn action() -> Value {
    let text = std::fs::read_to_string(action_dir().join("action.yml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// What one run of the action sees.
struct Ctx {
    inputs: BTreeMap<String, String>,
    github: BTreeMap<String, String>,
    steps: BTreeMap<String, BTreeMap<String, String>>,
}

impl Ctx {
    fn new(with: &[(&str, &str)], base_ref: &str) -> Ctx {
        let a = action();
        let mut inputs = BTreeMap::new();
        for (name, spec) in a["inputs"].as_mapping().unwrap() {
            let name = name.as_str().unwrap().to_string();
            inputs.insert(name, s(spec, "default").unwrap_or("").to_string());
        }
        for (k, v) in with {
            assert!(inputs.contains_key(*k), "the action has no input `{k}`");
            inputs.insert(k.to_string(), v.to_string());
        }
        let github = BTreeMap::from([
            (
                "action_path".to_string(),
                action_dir().display().to_string(),
            ),
            ("base_ref".to_string(), base_ref.to_string()),
        ]);
        Ctx {
            inputs,
            github,
            steps: BTreeMap::new(),
        }
    }

    fn operand(&self, e: &str) -> String {
        let e = e.trim();
        if let Some(lit) = e.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
            return lit.to_string();
        }
        let parts: Vec<&str> = e.split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => self
                .inputs
                .get(*name)
                .unwrap_or_else(|| panic!("no input `{name}`"))
                .clone(),
            ["github", name] => self
                .github
                .get(*name)
                .unwrap_or_else(|| panic!("the test runner has no github.{name}"))
                .clone(),
            ["steps", id, "outputs", key] => self
                .steps
                .get(*id)
                .and_then(|o| o.get(*key))
                .cloned()
                .unwrap_or_default(),
            _ => panic!("expression `{e}` is not supported by the test runner"),
        }
    }

    /// `a || b || ...`: the first non-empty operand, as GitHub's `||` on strings.
    fn eval(&self, e: &str) -> String {
        e.split("||")
            .map(|x| self.operand(x))
            .find(|x| !x.is_empty())
            .unwrap_or_default()
    }

    fn condition(&self, e: &str) -> bool {
        e.split("&&").all(|c| {
            if let Some((l, r)) = c.split_once("!=") {
                self.operand(l) != self.operand(r)
            } else if let Some((l, r)) = c.split_once("==") {
                self.operand(l) == self.operand(r)
            } else {
                panic!("condition `{c}` is not supported by the test runner")
            }
        })
    }

    /// Replaces every `${{ ... }}` in `text`.
    fn interpolate(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${{") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find("}}").expect("closed expression") + i;
            out.push_str(&self.eval(&rest[i + 3..end]));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    /// Ids (or names) of the steps that ran.
    ran: Vec<String>,
}

/// Runs the action's steps in `workspace` (with `only`, just the steps with those ids).
fn run_action(ctx: &mut Ctx, workspace: &Path, home: &Path, only: Option<&[&str]>) -> Run {
    let a = action();
    assert_eq!(s(&a["runs"], "using"), Some("composite"));
    let mut stdout = String::new();
    let mut ran = Vec::new();
    for step in a["runs"]["steps"].as_sequence().unwrap() {
        let id = s(step, "id").map(str::to_string);
        let label = id
            .clone()
            .or_else(|| s(step, "name").map(str::to_string))
            .unwrap();
        if let Some(only) = only {
            if !id.as_deref().is_some_and(|i| only.contains(&i)) {
                continue;
            }
        }
        if let Some(cond) = s(step, "if") {
            if !ctx.condition(cond) {
                continue;
            }
        }
        let Some(script) = s(step, "run") else {
            panic!(
                "step `{label}` (uses {:?}) would run: the test runner only runs shell steps",
                s(step, "uses")
            )
        };
        assert_eq!(s(step, "shell"), Some("bash"), "step `{label}`");
        assert!(
            !script.contains("${{"),
            "step `{label}` interpolates an expression into its script; pass it through env"
        );
        let out_file = home.join(format!("output-{label}"));
        std::fs::write(&out_file, "").unwrap();
        let dir = match s(step, "working-directory") {
            Some(w) => workspace.join(ctx.interpolate(w)),
            None => workspace.to_path_buf(),
        };
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(dir)
            .env("HOME", home)
            .env("GITHUB_OUTPUT", &out_file)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("GITHUB_ACTION_PATH", action_dir());
        if let Some(env) = step.get("env").and_then(Value::as_mapping) {
            for (k, v) in env {
                cmd.env(k.as_str().unwrap(), ctx.interpolate(v.as_str().unwrap()));
            }
        }
        let o = cmd.output().unwrap();
        stdout.push_str(&String::from_utf8_lossy(&o.stdout));
        stdout.push_str(&String::from_utf8_lossy(&o.stderr));
        ran.push(label.clone());
        let outputs = std::fs::read_to_string(&out_file).unwrap();
        if let Some(id) = &id {
            let map = ctx.steps.entry(id.clone()).or_default();
            for line in outputs.lines() {
                let (k, v) = line.split_once('=').expect("key=value");
                map.insert(k.to_string(), v.to_string());
            }
        }
        if !o.status.success() {
            return Run {
                code: o.status.code(),
                stdout,
                ran,
            };
        }
    }
    Run {
        code: Some(0),
        stdout,
        ran,
    }
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const CONFIG: &str = "[topics.users]\ncompatibility = \"BACKWARD\"\nsubject_name_strategy = \"TopicNameStrategy\"\npartition_key = \"id\"\nevents = [\"shop.User\"]\n[lint]\ndisable = [\"RECORD_DOC\", \"FIELD_DOC\", \"ENVELOPE\"]\n";
const V1: &str = "{\"type\": \"record\", \"name\": \"User\", \"namespace\": \"shop\", \"fields\": [\n  {\"name\": \"id\", \"type\": \"long\"}\n]}\n";

/// A remote with `main` holding v1 of one event, and a shallow pull-request checkout of it in
/// which neither `main` nor `origin/main` exists (as actions/checkout leaves a pull request).
fn pull_request(change: impl Fn(&Path)) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let origin = t.path().join("origin.git");
    let seed = t.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git(
        t.path(),
        &["init", "-q", "--bare", "-b", "main", "origin.git"],
    );
    git(&seed, &["init", "-q", "-b", "main"]);
    for (k, v) in [("user.email", "t@example.invalid"), ("user.name", "t")] {
        git(&seed, &["config", k, v]);
    }
    write(&seed, "contracts/evc.toml", CONFIG);
    write(&seed, "contracts/shop/User/v1.avsc", V1);
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "-q", "-m", "v1"]);
    git(
        &seed,
        &[
            "push",
            "-q",
            &format!("file://{}", origin.display()),
            "main",
        ],
    );
    let url = format!("file://{}", origin.display());
    git(t.path(), &["clone", "-q", "--depth", "1", &url, "pr"]);
    let pr = t.path().join("pr");
    for (k, v) in [("user.email", "t@example.invalid"), ("user.name", "t")] {
        git(&pr, &["config", k, v]);
    }
    git(&pr, &["checkout", "-q", "-b", "feature"]);
    git(&pr, &["branch", "-q", "-D", "main"]);
    git(&pr, &["update-ref", "-d", "refs/remotes/origin/main"]);
    change(&pr);
    git(&pr, &["add", "-A"]);
    git(&pr, &["commit", "-q", "-m", "change"]);
    (t, pr)
}

#[test]
fn inputs_are_documented_and_wired_to_evc_check() {
    let a = action();
    for (name, spec) in a["inputs"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        assert!(
            s(spec, "description").is_some_and(|d| d.len() > 20),
            "input `{name}` needs a description"
        );
        assert_eq!(
            spec.get("required").and_then(Value::as_bool),
            Some(false),
            "{name}"
        );
    }
    let names: Vec<&str> = a["inputs"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "schemas",
            "base-ref",
            "working-directory",
            "check-generated",
            "evc-bin"
        ]
    );
    // the last step runs evc check with the schema folder, the resolved base and --format github
    let steps = a["runs"]["steps"].as_sequence().unwrap();
    let last = steps.last().unwrap();
    let script = s(last, "run").unwrap();
    assert!(script.contains("args=(check --root \"$SCHEMAS\" --against \"$BASE\" --format github)"));
    assert_eq!(s(&last["env"], "SCHEMAS"), Some("${{ inputs.schemas }}"));
    assert_eq!(
        s(&last["env"], "BASE"),
        Some("${{ steps.base.outputs.ref }}")
    );
    // and the binary it builds is this repository's evc
    let build = steps
        .iter()
        .find(|st| s(st, "name") == Some("Build evc"))
        .unwrap();
    assert!(s(build, "run")
        .unwrap()
        .contains("--path \"$SRC/crates/evc-cli\" --bin evc"));
}

#[test]
fn the_source_step_finds_this_repository() {
    let home = tempfile::tempdir().unwrap();
    let mut ctx = Ctx::new(&[], "main");
    let r = run_action(&mut ctx, &repo(), home.path(), Some(&["source"]));
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let out = &ctx.steps["source"];
    assert_eq!(out["src"], repo().display().to_string());
    let key = &out["key"];
    assert!(
        key.starts_with("evc-Linux-X64-") && key.len() == "evc-Linux-X64-".len() + 16,
        "{key}"
    );
}

#[test]
fn a_breaking_pull_request_fails_with_inline_errors() {
    let (_t, pr) = pull_request(|pr| {
        // an edited published version and an incompatible new one
        write(
            pr,
            "contracts/shop/User/v1.avsc",
            &V1.replace("long", "int"),
        );
        write(
            pr,
            "contracts/shop/User/v2.avsc",
            &V1.replace(
                "\"long\"}",
                "\"long\"},\n  {\"name\": \"age\", \"type\": \"int\"}",
            ),
        );
    });
    let home = tempfile::tempdir().unwrap();
    let evc = env!("CARGO_BIN_EXE_evc");
    let mut ctx = Ctx::new(&[("schemas", "contracts"), ("evc-bin", evc)], "main");
    let r = run_action(&mut ctx, &pr, home.path(), None);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert_eq!(r.ran, ["locate", "base", "evc check"]);
    assert_eq!(ctx.steps["base"]["ref"], "origin/main", "fetched the base");
    assert!(
        r.stdout.contains(
            "::error file=contracts/shop/User/v1.avsc,line=2,col=1,title=evc VERSION_EDITED::"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("::error file=contracts/shop/User/v2.avsc,line=3,col=3,title=evc READER_FIELD_MISSING_DEFAULT_VALUE::"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_legal_pull_request_passes_and_a_missing_base_is_bad_input() {
    let (_t, pr) = pull_request(|pr| {
        write(
            pr,
            "contracts/shop/User/v2.avsc",
            &V1.replace(
                "\"long\"}",
                "\"long\"},\n  {\"name\": \"age\", \"type\": [\"null\", \"int\"], \"default\": null}",
            ),
        );
    });
    let home = tempfile::tempdir().unwrap();
    let evc = env!("CARGO_BIN_EXE_evc");
    // the base given as an input, on a push event (no github.base_ref)
    let mut ctx = Ctx::new(
        &[
            ("schemas", "contracts"),
            ("evc-bin", evc),
            ("base-ref", "main"),
        ],
        "",
    );
    let r = run_action(&mut ctx, &pr, home.path(), None);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("evc check: 1 subject(s), 2 version(s): 0 error(s), 0 warning(s)"),
        "{}",
        r.stdout
    );
    // no base at all
    let mut ctx = Ctx::new(&[("schemas", "contracts"), ("evc-bin", evc)], "");
    let r = run_action(&mut ctx, &pr, home.path(), None);
    assert_eq!(r.code, Some(2), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("::error title=evc schema gate::no base ref"),
        "{}",
        r.stdout
    );
    // an evc-bin that is not there
    let mut ctx = Ctx::new(&[("evc-bin", "/nonexistent/evc")], "main");
    let r = run_action(&mut ctx, &pr, home.path(), None);
    assert_eq!(r.code, Some(2), "{}", r.stdout);
    assert!(
        r.stdout.contains("no executable evc at /nonexistent/evc"),
        "{}",
        r.stdout
    );
}
