//! `evc.toml`: what the schema directory's events are for.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;

/// Confluent's compatibility levels.
pub const COMPATIBILITY_LEVELS: [&str; 7] = [
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
];

/// How a registry subject is named (Confluent's `*.subject.name.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SubjectNameStrategy {
    /// `<topic>-value`: one event type per topic.
    TopicNameStrategy,
    /// `<record full name>`: the same type on any topic shares a subject.
    RecordNameStrategy,
    /// `<topic>-<record full name>`: several types on one topic, each with its own history.
    TopicRecordNameStrategy,
}

impl SubjectNameStrategy {
    /// The value subject for `fullname` on `topic`.
    pub fn subject(&self, topic: &str, fullname: &str) -> String {
        match self {
            SubjectNameStrategy::TopicNameStrategy => format!("{topic}-value"),
            SubjectNameStrategy::RecordNameStrategy => fullname.to_string(),
            SubjectNameStrategy::TopicRecordNameStrategy => format!("{topic}-{fullname}"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            SubjectNameStrategy::TopicNameStrategy => "TopicNameStrategy",
            SubjectNameStrategy::RecordNameStrategy => "RecordNameStrategy",
            SubjectNameStrategy::TopicRecordNameStrategy => "TopicRecordNameStrategy",
        }
    }
}

impl Config {
    /// The subject name strategy of `fullname` on `topic`: its override, else its topic's.
    pub fn strategy_of(&self, topic: &str, fullname: &str) -> SubjectNameStrategy {
        self.events
            .get(fullname)
            .and_then(|o| o.subject_name_strategy)
            .or_else(|| self.topics.get(topic).map(|t| t.subject_name_strategy))
            .unwrap_or(SubjectNameStrategy::TopicNameStrategy)
    }
}

/// The whole `evc.toml`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where generated Rust goes.
    #[serde(default)]
    pub codegen: Option<CodegenConfig>,
    /// Names of the envelope fields every event carries.
    #[serde(default)]
    pub envelope: Envelope,
    /// Topics by name.
    #[serde(default)]
    pub topics: BTreeMap<String, TopicConfig>,
    /// Per-event overrides, by full name.
    #[serde(default)]
    pub events: BTreeMap<String, EventOverride>,
    /// Lint switches.
    #[serde(default)]
    pub lint: LintConfig,
    /// Reviewed, intended breaks: each is reported as a warning instead of an error.
    #[serde(default)]
    pub exceptions: Vec<Exception>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodegenConfig {
    /// Output directory for generated modules, relative to the schema directory.
    pub output: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    #[serde(default = "default_event_id")]
    pub event_id: String,
    #[serde(default = "default_occurred_at")]
    pub occurred_at: String,
}

fn default_event_id() -> String {
    "event_id".into()
}
fn default_occurred_at() -> String {
    "occurred_at".into()
}

impl Default for Envelope {
    fn default() -> Self {
        Envelope {
            event_id: default_event_id(),
            occurred_at: default_occurred_at(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// Confluent compatibility level for the topic's subjects.
    pub compatibility: String,
    pub subject_name_strategy: SubjectNameStrategy,
    /// The field whose value is the Kafka key (per-entity ordering).
    pub partition_key: String,
    /// Full names of the events on this topic.
    pub events: Vec<String>,
    /// Name of the generated Rust enum over the topic's events (default: `<Topic>Event`).
    #[serde(default)]
    pub rust_enum: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventOverride {
    pub compatibility: Option<String>,
    pub subject_name_strategy: Option<SubjectNameStrategy>,
    pub partition_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LintConfig {
    /// Lint rules to switch off, by code (`FIELD_DOC`); validated by [`crate::Catalog::load`].
    #[serde(default)]
    pub disable: Vec<RuleName>,
}

/// One entry of `[lint] disable`, with where it is in `evc.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleName {
    pub name: String,
    /// Byte range of the string in `evc.toml`.
    pub span: Range<usize>,
}

impl<'de> Deserialize<'de> for RuleName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = toml::Spanned::<String>::deserialize(d)?;
        Ok(RuleName {
            span: s.span(),
            name: s.into_inner(),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// The registry subject the break is in.
    pub subject: String,
    /// The version that breaks.
    pub version: u32,
    /// Why the break is acceptable (shown in every report).
    pub reason: String,
}
