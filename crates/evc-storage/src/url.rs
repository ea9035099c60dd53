//! Where a store keeps its data: the storage URL every evc command and crate accepts.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::StorageError;

/// Where a store keeps its data.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageUrl {
    /// SQLite in memory: gone when the pool closes.
    Memory,
    /// A SQLite database file (created, with its folder, if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database. `schema` (from a `schema=NAME` URL parameter) puts the tables in
    /// that PostgreSQL schema, created if missing; otherwise the connection's default.
    Postgres { url: String, schema: Option<String> },
}

/// True for a name usable unquoted as a PostgreSQL schema (and in evc's generated names).
pub(crate) fn valid_identifier(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 63
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !v.starts_with(|c: char| c.is_ascii_digit())
}

impl StorageUrl {
    /// Parses `memory` (or `sqlite::memory:`), `sqlite://PATH` (`sqlite:///abs/path` for an
    /// absolute path) or `postgres://user@host:port/db[?schema=NAME&...]`.
    pub fn parse(s: &str) -> Result<StorageUrl, StorageError> {
        let s = s.trim();
        let invalid = |reason| StorageError::InvalidUrl {
            url: redact(s),
            reason,
        };
        if s.eq_ignore_ascii_case("memory") || s == "sqlite::memory:" {
            return Ok(StorageUrl::Memory);
        }
        if let Some(rest) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or("");
            if path.is_empty() {
                return Err(invalid("it names no file: write sqlite://PATH"));
            }
            return Ok(StorageUrl::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            let (base, query) = match s.split_once('?') {
                Some((b, q)) => (b, Some(q)),
                None => (s, None),
            };
            let mut schema = None;
            let mut kept = Vec::new();
            for pair in query.into_iter().flat_map(|q| q.split('&')) {
                match pair.split_once('=') {
                    Some(("schema", v)) => {
                        if !valid_identifier(v) {
                            return Err(StorageError::InvalidSchemaName(v.to_string()));
                        }
                        schema = Some(v.to_string());
                    }
                    _ if !pair.is_empty() => kept.push(pair),
                    _ => {}
                }
            }
            let url = if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            };
            return Ok(StorageUrl::Postgres { url, schema });
        }
        Err(invalid("use memory, sqlite://PATH or postgres://..."))
    }

    /// True for PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, StorageUrl::Postgres { .. })
    }
}

impl FromStr for StorageUrl {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self, StorageError> {
        StorageUrl::parse(s)
    }
}

/// The URL with any password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(i), Some(at)) if at > i => {
            let creds = &url[i + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..i + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl fmt::Display for StorageUrl {
    /// Shows the URL with any password hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUrl::Memory => f.write_str("memory"),
            StorageUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            StorageUrl::Postgres { url, schema } => {
                f.write_str(&redact(url))?;
                if let Some(s) = schema {
                    write!(f, " (schema {s})")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(StorageUrl::parse("memory").unwrap(), StorageUrl::Memory);
        assert_eq!(
            StorageUrl::parse("sqlite://a/b.db").unwrap(),
            StorageUrl::Sqlite("a/b.db".into())
        );
        assert_eq!(
            StorageUrl::parse("sqlite:///abs/b.db").unwrap(),
            StorageUrl::Sqlite("/abs/b.db".into())
        );
        assert_eq!(
            StorageUrl::parse("postgres://u@h:5432/db?schema=s1&sslmode=disable").unwrap(),
            StorageUrl::Postgres {
                url: "postgres://u@h:5432/db?sslmode=disable".into(),
                schema: Some("s1".into())
            }
        );
    }

    #[test]
    fn refuses_bad_urls_with_the_reason() {
        let e = StorageUrl::parse("sqlite://").unwrap_err().to_string();
        assert!(e.contains("names no file"), "{e}");
        let e = StorageUrl::parse("mysql://x").unwrap_err().to_string();
        assert!(
            e.contains("use memory, sqlite://PATH or postgres://"),
            "{e}"
        );
        let e = StorageUrl::parse("postgres://h/db?schema=1x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid PostgreSQL schema name `1x`"), "{e}");
        let e = StorageUrl::parse("postgres://h/db?schema=a;drop")
            .unwrap_err()
            .to_string();
        assert!(e.contains("a;drop"), "{e}");
    }

    #[test]
    fn passwords_are_never_shown() {
        let u = StorageUrl::parse("postgres://bob:s3cret@h/db").unwrap();
        assert_eq!(u.to_string(), "postgres://bob:***@h/db");
        assert!(!format!("{u:?}").contains("s3cret"));
        let e = StorageUrl::parse("postgresx://bob:s3cret@h/db")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
