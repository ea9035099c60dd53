//! Confluent Schema Registry's compatibility modes, applied to a new schema and the versions
//! already registered.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use evc_schema::Schema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::check::check;
use crate::report::{CheckError, Incompatibility};

/// A Confluent Schema Registry compatibility level.
///
/// Parsed case-insensitively from the registry's names; shown (and serialized) as those names.
///
/// ```
/// use evc_compat::Mode;
///
/// let mode: Mode = "backward_transitive".parse().unwrap();
/// assert_eq!(mode, Mode::BackwardTransitive);
/// assert_eq!(mode.to_string(), "BACKWARD_TRANSITIVE");
/// assert!(mode.is_transitive() && mode.checks_backward() && !mode.checks_forward());
/// assert!("SIDEWAYS".parse::<Mode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// No check: every new schema is accepted.
    None,
    /// The new schema reads data written with the latest existing version (the registry's
    /// default).
    #[default]
    Backward,
    /// The new schema reads data written with every existing version.
    BackwardTransitive,
    /// The latest existing version reads data written with the new schema.
    Forward,
    /// Every existing version reads data written with the new schema.
    ForwardTransitive,
    /// Both `BACKWARD` and `FORWARD`, against the latest existing version.
    Full,
    /// Both `BACKWARD` and `FORWARD`, against every existing version.
    FullTransitive,
}

impl Mode {
    /// All seven modes.
    pub const ALL: [Mode; 7] = [
        Mode::None,
        Mode::Backward,
        Mode::BackwardTransitive,
        Mode::Forward,
        Mode::ForwardTransitive,
        Mode::Full,
        Mode::FullTransitive,
    ];

    /// The registry's name, e.g. `"FULL_TRANSITIVE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::None => "NONE",
            Mode::Backward => "BACKWARD",
            Mode::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Mode::Forward => "FORWARD",
            Mode::ForwardTransitive => "FORWARD_TRANSITIVE",
            Mode::Full => "FULL",
            Mode::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Checked against every existing version rather than the latest only.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Mode::BackwardTransitive | Mode::ForwardTransitive | Mode::FullTransitive
        )
    }

    /// The new schema must read existing data ([`Direction::Backward`]).
    pub fn checks_backward(self) -> bool {
        matches!(
            self,
            Mode::Backward | Mode::BackwardTransitive | Mode::Full | Mode::FullTransitive
        )
    }

    /// Existing schemas must read new data ([`Direction::Forward`]).
    pub fn checks_forward(self) -> bool {
        matches!(
            self,
            Mode::Forward | Mode::ForwardTransitive | Mode::Full | Mode::FullTransitive
        )
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the seven mode names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compatibility mode `{0}` (expected NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE)")]
pub struct ParseModeError(pub String);

impl FromStr for Mode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseModeError(s.to_string()))
    }
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which way a check went, and so which schema an incompatibility's location points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    /// The new schema is the reader, the existing version the writer: the location points into
    /// the **new** schema.
    Backward,
    /// The existing version is the reader, the new schema the writer: the location points into
    /// the **existing** version.
    Forward,
}

impl Direction {
    /// A phrase for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Direction::Backward => "the new schema reading data written with an existing version",
            Direction::Forward => "an existing version reading data written with the new schema",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Backward => "BACKWARD",
            Direction::Forward => "FORWARD",
        })
    }
}

/// An incompatibility found by [`check_mode`], with the existing version it was found against
/// and the direction of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeIncompatibility {
    /// Index into the `existing` slice given to [`check_mode`] (oldest first).
    pub existing_index: usize,
    /// [`Direction::Backward`]: `incompatibility` locates into the new schema;
    /// [`Direction::Forward`]: into `existing[existing_index]`.
    pub direction: Direction,
    pub incompatibility: Incompatibility,
}

impl ModeIncompatibility {
    /// `true` when the location and span point into the new schema (the new schema was the
    /// reader).
    pub fn in_new_schema(&self) -> bool {
        self.direction == Direction::Backward
    }
}

impl fmt::Display for ModeIncompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} against existing version #{} ({}): {}",
            self.direction,
            self.existing_index,
            self.direction.describe(),
            self.incompatibility
        )
    }
}

/// [`check_mode`] could not complete a check (see [`CheckError`]). Confluent Schema Registry
/// treats this as incompatible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{direction} check against existing version #{existing_index} failed: {source}")]
pub struct ModeError {
    pub existing_index: usize,
    pub direction: Direction,
    #[source]
    pub source: CheckError,
}

/// Checks a new schema against the existing versions of a subject under a Confluent
/// compatibility mode. `existing` is oldest first, as versions are numbered. An empty result
/// means the registry would accept the new schema.
///
/// What is checked, as Confluent's `CompatibilityChecker` does it:
///
/// * `NONE`: nothing.
/// * `BACKWARD` / `FORWARD` / `FULL`: the latest existing version only.
/// * `*_TRANSITIVE`: every existing version, **newest first**, stopping at the first version
///   that shows any incompatibility (only that version's are returned).
/// * `FULL*`: the forward check (existing reads new) first, then the backward check (new reads
///   existing); both are reported.
///
/// ```
/// use evc_compat::{check_mode, Direction, IncompatibilityKind, Mode};
/// use evc_schema::Schema;
///
/// let v1 = Schema::parse(r#"{"type": "record", "name": "User", "fields": [
///     {"name": "id", "type": "long"}]}"#).unwrap();
/// let v2 = Schema::parse(r#"{"type": "record", "name": "User", "fields": [
///     {"name": "id", "type": "long"},
///     {"name": "email", "type": "string", "default": ""}]}"#).unwrap();
/// // A new version that adds a required field.
/// let v3 = Schema::parse(r#"{"type": "record", "name": "User", "fields": [
///     {"name": "id", "type": "long"},
///     {"name": "email", "type": "string", "default": ""},
///     {"name": "age", "type": "int"}]}"#).unwrap();
///
/// // FORWARD: old readers ignore the new field, so v3 is accepted.
/// assert!(check_mode(Mode::Forward, &v3, &[v1.clone(), v2.clone()]).unwrap().is_empty());
///
/// // BACKWARD: v3 cannot read v2 data, which has no `age`.
/// let found = check_mode(Mode::Backward, &v3, &[v1, v2]).unwrap();
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].existing_index, 1);
/// assert_eq!(found[0].direction, Direction::Backward);
/// assert_eq!(found[0].incompatibility.kind, IncompatibilityKind::ReaderFieldMissingDefaultValue);
/// assert_eq!(found[0].incompatibility.location, "/fields/2");
/// ```
///
/// `existing` may also be a slice of references:
///
/// ```
/// # use evc_compat::{check_mode, Mode};
/// # use evc_schema::Schema;
/// let a = Schema::parse(r#""int""#).unwrap();
/// let b = Schema::parse(r#""long""#).unwrap();
/// assert!(check_mode(Mode::BackwardTransitive, &b, &[&a, &b]).unwrap().is_empty());
/// ```
///
/// # Errors
///
/// [`ModeError`] when a check cannot be completed; the registry would reject the schema.
pub fn check_mode<S: Borrow<Schema>>(
    mode: Mode,
    new: &Schema,
    existing: &[S],
) -> Result<Vec<ModeIncompatibility>, ModeError> {
    if mode == Mode::None || existing.is_empty() {
        return Ok(Vec::new());
    }
    let newest_first = (0..existing.len()).rev();
    let against: Vec<usize> = if mode.is_transitive() {
        newest_first.collect()
    } else {
        newest_first.take(1).collect()
    };
    for index in against {
        let old = existing[index].borrow();
        let mut found = Vec::new();
        if mode.checks_forward() {
            found.extend(one_way(Direction::Forward, index, old, new)?);
        }
        if mode.checks_backward() {
            found.extend(one_way(Direction::Backward, index, new, old)?);
        }
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// Like [`check_mode`], but never stops early: every existing version the mode covers is
/// checked (newest first) and every incompatibility with each is returned. This is what a
/// review gate wants; the verdict (empty or not) is the same as [`check_mode`]'s.
///
/// ```
/// use evc_compat::{check_mode_all, Mode};
/// use evc_schema::Schema;
///
/// let v1 = Schema::parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#).unwrap();
/// let v2 = Schema::parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#).unwrap();
/// let v3 = Schema::parse(r#"{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}"#).unwrap();
/// let all = check_mode_all(Mode::BackwardTransitive, &v3, &[&v1, &v2]).unwrap();
/// assert_eq!(all.iter().map(|m| m.existing_index).collect::<Vec<_>>(), [1, 0]);
/// ```
pub fn check_mode_all<S: Borrow<Schema>>(
    mode: Mode,
    new: &Schema,
    existing: &[S],
) -> Result<Vec<ModeIncompatibility>, ModeError> {
    if mode == Mode::None || existing.is_empty() {
        return Ok(Vec::new());
    }
    let newest_first = (0..existing.len()).rev();
    let against: Vec<usize> = if mode.is_transitive() {
        newest_first.collect()
    } else {
        newest_first.take(1).collect()
    };
    let mut found = Vec::new();
    for index in against {
        let old = existing[index].borrow();
        if mode.checks_forward() {
            found.extend(one_way(Direction::Forward, index, old, new)?);
        }
        if mode.checks_backward() {
            found.extend(one_way(Direction::Backward, index, new, old)?);
        }
    }
    Ok(found)
}

fn one_way(
    direction: Direction,
    existing_index: usize,
    reader: &Schema,
    writer: &Schema,
) -> Result<Vec<ModeIncompatibility>, ModeError> {
    let found = check(reader, writer).map_err(|source| ModeError {
        existing_index,
        direction,
        source,
    })?;
    Ok(found
        .into_iter()
        .map(|incompatibility| ModeIncompatibility {
            existing_index,
            direction,
            incompatibility,
        })
        .collect())
}
