//! The handlebars templates (compiled in from `templates/*.hbs`) and formatting with rustfmt.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::CodegenError;

/// The handlebars templates (compiled in from `templates/*.hbs`).
pub struct Templates {
    hb: handlebars::Handlebars<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut hb = handlebars::Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        for (name, src) in [
            ("file", include_str!("../templates/file.hbs")),
            ("record", include_str!("../templates/record.hbs")),
            ("enum", include_str!("../templates/enum.hbs")),
            ("fixed", include_str!("../templates/fixed.hbs")),
            ("alias", include_str!("../templates/alias.hbs")),
            ("union", include_str!("../templates/union.hbs")),
            ("root", include_str!("../templates/root.hbs")),
            ("schema_impl", include_str!("../templates/schema_impl.hbs")),
            ("events_mod", include_str!("../templates/events_mod.hbs")),
        ] {
            hb.register_template_string(name, src)
                .unwrap_or_else(|e| panic!("template {name}.hbs is invalid: {e}"));
        }
        Templates { hb }
    }

    pub(crate) fn render(
        &self,
        name: &str,
        data: &serde_json::Value,
    ) -> Result<String, CodegenError> {
        self.hb
            .render(name, data)
            .map_err(|e| CodegenError::Template(Box::new(e)))
    }
}

/// Formats Rust source with `rustfmt` (edition 2021), as `cargo fmt` would.
pub fn format_rust(code: &str) -> Result<String, CodegenError> {
    let mut child = Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into()))
        .args(["--edition", "2021", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(CodegenError::RustfmtNotFound)?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = code.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(CodegenError::RustfmtIo)?;
    writer
        .join()
        .unwrap_or_else(|_| {
            Err(std::io::Error::other(
                "the thread writing to rustfmt panicked",
            ))
        })
        .map_err(CodegenError::RustfmtIo)?;
    if !out.status.success() {
        return Err(CodegenError::RustfmtRejected {
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    String::from_utf8(out.stdout).map_err(|e| {
        CodegenError::RustfmtIo(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })
}
