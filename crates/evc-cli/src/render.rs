//! rustc-style rendering of diagnostics: the message, the file:line:col, the source line with a
//! caret under the offending text, and the usual fix.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use evc_catalog::{Diagnostic, Severity};

/// Caches file contents for snippets.
#[derive(Default)]
pub struct Sources {
    files: HashMap<PathBuf, Option<String>>,
}

impl Sources {
    pub fn insert(&mut self, path: impl Into<PathBuf>, text: String) {
        self.files.insert(path.into(), Some(text));
    }

    fn get(&mut self, path: &Path) -> Option<&str> {
        self.files
            .entry(path.to_path_buf())
            .or_insert_with(|| std::fs::read_to_string(path).ok())
            .as_deref()
    }
}

/// Renders one diagnostic, with `shown` the path to print for its file.
pub fn render(d: &Diagnostic, shown: &Path, sources: &mut Sources) -> String {
    let mut out = String::new();
    let sev = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "{sev}[{}]: {}", d.code, d.message);
    match d.position {
        Some(p) => {
            let _ = writeln!(out, "  --> {}:{}:{}", shown.display(), p.line, p.column);
            if let (Some(text), Some(span)) = (sources.get(&d.file), d.span) {
                let line_text = text.lines().nth(p.line - 1).unwrap_or("");
                let num = p.line.to_string();
                let pad = " ".repeat(num.len());
                // underline the span within this line (at least one caret)
                let span_chars = text
                    .get(span.start..span.end)
                    .map(|s| s.chars().count())
                    .unwrap_or(1);
                let line_rest = line_text.chars().count().saturating_sub(p.column - 1);
                let width = span_chars.clamp(1, line_rest.max(1));
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{num} | {line_text}");
                let _ = writeln!(
                    out,
                    "{pad} | {}{}",
                    " ".repeat(p.column - 1),
                    "^".repeat(width)
                );
            }
        }
        None => {
            let _ = writeln!(out, "  --> {}", shown.display());
        }
    }
    if let Some(h) = &d.help {
        let _ = writeln!(out, "  = help: {h}");
    }
    out
}

/// The same as a GitHub Actions workflow command, so a pull request shows it inline.
pub fn github(d: &Diagnostic, shown: &Path) -> String {
    let cmd = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = format!("file={}", escape_property(&shown.display().to_string()));
    if let Some(p) = d.position {
        let _ = write!(props, ",line={},col={}", p.line, p.column);
    }
    let _ = write!(
        props,
        ",title={}",
        escape_property(&format!("evc {}", d.code))
    );
    let mut msg = d.message.clone();
    if let Some(h) = &d.help {
        msg.push_str(&format!(" (help: {h})"));
    }
    format!("::{cmd} {props}::{}", escape_data(&msg))
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use evc_schema::json::Span;

    #[test]
    fn caret_under_the_span() {
        let text = "{\n  \"name\": \"OrderMade\"\n}\n";
        let start = text.find("\"OrderMade\"").unwrap();
        let d = Diagnostic::error(
            evc_catalog::Code::RecordPathMismatch,
            "v1.avsc",
            "wrong name",
        )
        .at(text, Span::new(start, start + 11))
        .with_help("rename it");
        let mut s = Sources::default();
        s.insert("v1.avsc", text.to_string());
        let out = render(&d, Path::new("schemas/v1.avsc"), &mut s);
        assert_eq!(
            out,
            "error[RECORD_PATH_MISMATCH]: wrong name\n  --> schemas/v1.avsc:2:11\n  |\n2 |   \"name\": \"OrderMade\"\n  |           ^^^^^^^^^^^\n  = help: rename it\n"
        );
        assert_eq!(
            github(&d, Path::new("schemas/v1.avsc")),
            "::error file=schemas/v1.avsc,line=2,col=11,title=evc RECORD_PATH_MISMATCH::wrong name (help: rename it)"
        );
    }
}
