//! Doc text of any content becomes doc comments that rustdoc accepts and never runs as doctests
//! (the corpus crate compiles them; this runs rustdoc on them).

use std::process::Command;

use evc_codegen::{generate_module, ModuleOptions, Templates};

#[test]
fn hostile_docs_are_not_doctests() {
    let doc = "Evil \u{202e}terms\u{202c} \u{2066}isolate\u{2069} */ /* \r\nCRLF\rCR\n\ttab\n```\npanic!(\"ran\")\n```\n\n    panic!(\"indented\")\n~~~rust\npanic!()\n~~~\n#[cfg(any())] `unbalanced \u{0}nul \u{feff} 🎉";
    let schema = evc_schema::Schema::parse(&format!(
        r#"{{"type":"record","name":"R","doc":{doc},"fields":[{{"name":"a","type":"int","doc":{doc}}}]}}"#,
        doc = serde_json::to_string(doc).unwrap()
    ))
    .unwrap();
    let opts = ModuleOptions {
        source: "t.avsc".into(),
        root_name: "t".into(),
        event: None,
    };
    let code = generate_module(&Templates::new(), &schema, &opts).unwrap();
    // the doc lines of the generated code, each block on an item of its own
    let mut probe = String::from("#![allow(dead_code)]\n");
    let mut block = Vec::new();
    for line in code.lines().map(str::trim) {
        if line.starts_with("///") || line.starts_with("#[doc") {
            block.push(line.to_string());
        } else if !block.is_empty() {
            probe.push_str(&block.join("\n"));
            probe.push_str(&format!("\npub struct Item{};\n", probe.len()));
            block.clear();
        }
    }
    assert!(probe.contains("\\u{202e}"), "{probe}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("probe.rs");
    std::fs::write(&file, &probe).unwrap();
    let out = Command::new(std::env::var("RUSTDOC").unwrap_or_else(|_| "rustdoc".into()))
        .args(["--edition", "2021", "--test"])
        .arg(&file)
        .output()
        .expect("run rustdoc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("running 0 tests"), "{stdout}");
}
