//! Code generation: Avro schemas to typed Rust.
//!
//! **Owns:** turning an evc schema model into a Rust module (structs for records, enums for
//! enums and multi-branch unions, newtypes for fixed, `Option` for `null` in any union
//! position, `Box` where records recurse, namespaces as modules, logical types as `uuid`,
//! `chrono` and `bigdecimal` types), the events crate layout for a whole schema directory
//! (`v1::OrderCreated`, latest re-exported, one enum per topic), the handlebars templates in
//! `templates/`, and formatting with rustfmt.
//!
//! **Does not own:** reading files (`evc-catalog`), writing files and the freshness check
//! (`xtask`), or the runtime the generated code calls (`evc-avro`).
//!
//! ```
//! use evc_codegen::{Templates, ModuleOptions, generate_module};
//!
//! let schema = evc_schema::Schema::parse(r#"{"type":"record","name":"Ping","fields":[{"name":"type","type":"string"}]}"#).unwrap();
//! let opts = ModuleOptions { source: "ping.avsc".into(), root_name: "ping".into(), event: None };
//! let code = generate_module(&Templates::new(), &schema, &opts).unwrap();
//! assert!(code.contains("pub r#type: ::std::string::String"));
//! ```

mod events;
mod module;
mod names;
mod project;

use std::io::Write;
use std::process::{Command, Stdio};

pub use events::{existing_files, generate_catalog, output_dir, GeneratedFile};
pub use module::{generate_module, EventInfo, ModuleOptions};
pub use names::{camel, snake};
pub use project::{generate_schema_dir, inline_modules, sync, Change, Output, ProjectError};

/// What can go wrong while generating.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    #[error("cannot generate Rust for this schema: {0}")]
    Unsupported(String),
    #[error("template error: {0}")]
    Template(#[from] Box<handlebars::RenderError>),
    #[error("rustfmt failed: {0}")]
    Format(String),
    #[error("{file}: {source}")]
    InFile {
        file: String,
        #[source]
        source: Box<CodegenError>,
    },
}

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
        .map_err(|e| {
            CodegenError::Format(format!(
                "cannot run rustfmt ({e}); install it with `rustup component add rustfmt`"
            ))
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = code.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| CodegenError::Format(e.to_string()))?;
    writer
        .join()
        .map_err(|_| CodegenError::Format("writer thread panicked".into()))?
        .map_err(|e| CodegenError::Format(e.to_string()))?;
    if !out.status.success() {
        return Err(CodegenError::Format(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| CodegenError::Format(e.to_string()))
}
