use std::fmt;
use std::path::PathBuf;

use evc_schema::json::{LineCol, Span};

use crate::Code;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about a file, with where it is: what `evc` prints and CI annotates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code (`INVALID_SCHEMA`, `TYPE_MISMATCH`, ...), for docs, config and machines.
    pub code: Code,
    pub message: String,
    /// Path as given to the loader (relative to the working directory when it was).
    pub file: PathBuf,
    /// Bytes of the offending text, when there is one.
    pub span: Option<Span>,
    /// 1-based line and column of `span.start`.
    pub position: Option<LineCol>,
    /// The usual fix.
    pub help: Option<String>,
    /// The registry subject it concerns, if any.
    pub subject: Option<String>,
    /// The schema version it concerns, if any.
    pub version: Option<u32>,
    /// JSON pointer into the schema, if it is about a schema node.
    pub location: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: file.into(),
            span: None,
            position: None,
            help: None,
            subject: None,
            version: None,
            location: None,
        }
    }

    pub fn warning(code: Code, file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, message)
        }
    }

    /// Points the diagnostic at `span` of `text` (the file's contents).
    pub fn at(mut self, text: &str, span: Span) -> Self {
        self.span = Some(span);
        self.position = Some(evc_schema::json::line_col(text, span.start));
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Names the subject and version the diagnostic is about.
    pub fn for_version(mut self, subject: &str, version: u32) -> Self {
        self.subject = Some(subject.to_string());
        self.version = Some(version);
        self
    }

    /// The JSON pointer of the schema node it is about.
    pub fn with_location(mut self, pointer: impl Into<String>) -> Self {
        self.location = Some(pointer.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        write!(f, ": {sev}[{}]: {}", self.code, self.message)?;
        if let Some(h) = &self.help {
            write!(f, " (help: {h})")?;
        }
        Ok(())
    }
}

/// The loader's failure: every problem found, not just the first.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} problem(s) in the schema directory; first: {}", .0.len(), .0.first().map(|d| d.to_string()).unwrap_or_default())]
pub struct Diagnostics(pub Vec<Diagnostic>);
