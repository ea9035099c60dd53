//! Compatibility levels, modes, and the hook to the compatibility checker.
//!
//! The Avro rules are not ours: they live in `evc-compat`. This module only names the levels the
//! way Confluent does, picks which earlier versions a new schema is checked against, and turns
//! the checker's findings into message strings.

use std::fmt;

use evc_schema::Schema;

/// A Confluent compatibility level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatLevel {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatLevel {
    pub const ALL: [CompatLevel; 7] = [
        CompatLevel::None,
        CompatLevel::Backward,
        CompatLevel::BackwardTransitive,
        CompatLevel::Forward,
        CompatLevel::ForwardTransitive,
        CompatLevel::Full,
        CompatLevel::FullTransitive,
    ];

    /// The Confluent name (`BACKWARD_TRANSITIVE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CompatLevel::None => "NONE",
            CompatLevel::Backward => "BACKWARD",
            CompatLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatLevel::Forward => "FORWARD",
            CompatLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatLevel::Full => "FULL",
            CompatLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Parses a Confluent name, ignoring case.
    pub fn parse(s: &str) -> Option<CompatLevel> {
        CompatLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether the level checks against every earlier version, not just the latest.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            CompatLevel::BackwardTransitive
                | CompatLevel::ForwardTransitive
                | CompatLevel::FullTransitive
        )
    }
}

impl fmt::Display for CompatLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registry mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    ReadOnly,
    ReadOnlyOverride,
    Import,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::ReadOnlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [
            Mode::ReadWrite,
            Mode::ReadOnly,
            Mode::ReadOnlyOverride,
            Mode::Import,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn is_read_only(self) -> bool {
        matches!(self, Mode::ReadOnly | Mode::ReadOnlyOverride)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decides whether a new schema is compatible with earlier ones.
pub(crate) trait CompatChecker: Send + Sync + 'static {
    /// The problems found checking `new` against `existing` (oldest first, already narrowed by
    /// [`against`]; `versions` are their version numbers) under `level`; empty means compatible.
    fn check(
        &self,
        level: CompatLevel,
        new: &Schema,
        existing: &[&Schema],
        versions: &[i64],
    ) -> Vec<String>;
}

/// Which earlier versions (oldest first) a new schema is checked against: all of them for
/// transitive levels, the latest for the others, none for `NONE`.
pub(crate) fn against<T>(level: CompatLevel, versions: &[T]) -> &[T] {
    match level {
        CompatLevel::None => &[],
        l if l.is_transitive() => versions,
        _ => match versions.len() {
            0 => &[],
            n => &versions[n - 1..],
        },
    }
}

/// The checker backed by `evc-compat` (Avro Java's rules, Confluent's modes).
pub(crate) struct EvcCompat;

fn to_evc(level: CompatLevel) -> evc_compat::Mode {
    use evc_compat::Mode as M;
    match level {
        CompatLevel::None => M::None,
        CompatLevel::Backward => M::Backward,
        CompatLevel::BackwardTransitive => M::BackwardTransitive,
        CompatLevel::Forward => M::Forward,
        CompatLevel::ForwardTransitive => M::ForwardTransitive,
        CompatLevel::Full => M::Full,
        CompatLevel::FullTransitive => M::FullTransitive,
    }
}

impl CompatChecker for EvcCompat {
    fn check(
        &self,
        level: CompatLevel,
        new: &Schema,
        existing: &[&Schema],
        versions: &[i64],
    ) -> Vec<String> {
        if level == CompatLevel::None || existing.is_empty() {
            return Vec::new();
        }
        let version_of = |i: usize| versions.get(i).copied().unwrap_or(i as i64 + 1);
        match evc_compat::check_mode(to_evc(level), new, existing) {
            Ok(found) => found
                .iter()
                .map(|f| {
                    let v = version_of(f.existing_index);
                    let (inside, reading) = match f.direction {
                        evc_compat::Direction::Backward => (
                            "the new schema".to_string(),
                            format!("the new schema reading data written with version {v}"),
                        ),
                        evc_compat::Direction::Forward => (
                            format!("version {v}"),
                            format!("version {v} reading data written with the new schema"),
                        ),
                    };
                    let i = &f.incompatibility;
                    format!(
                        "{kind} at {loc} in {inside}: {msg} ({dir} check: {reading})",
                        kind = i.kind,
                        loc = i.location,
                        msg = i.message,
                        dir = f.direction,
                    )
                })
                .collect(),
            Err(e) => vec![format!(
                "the {} check against version {} could not be completed: {}",
                e.direction,
                version_of(e.existing_index),
                e.source
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_case_insensitively() {
        assert_eq!(
            CompatLevel::parse("backward_transitive"),
            Some(CompatLevel::BackwardTransitive)
        );
        assert_eq!(CompatLevel::parse("FULL"), Some(CompatLevel::Full));
        assert_eq!(CompatLevel::parse("sideways"), None);
        assert_eq!(Mode::parse("readonly"), Some(Mode::ReadOnly));
        assert_eq!(Mode::parse("write"), None);
    }

    #[test]
    fn against_picks_versions() {
        let v = [1, 2, 3];
        assert_eq!(against(CompatLevel::Backward, &v), &[3]);
        assert_eq!(against(CompatLevel::FullTransitive, &v), &[1, 2, 3]);
        assert!(against(CompatLevel::None, &v).is_empty());
        assert!(against::<i32>(CompatLevel::Forward, &[]).is_empty());
    }
}
