//! The schema directory: loading and validating versioned `.avsc` files and `evc.toml`.
//!
//! **Owns:** the layout `schemas/<namespace>/<RecordName>/v<N>.avsc`, the config file
//! `schemas/evc.toml` (topics, compatibility levels, subject name strategies, partition keys,
//! envelope field names, lint switches, reviewed exceptions), and the checks that a tree is
//! well-formed: valid JSON and Avro, names that match paths, contiguous versions, a config that
//! names exactly the events on disk. Every problem becomes a [`Diagnostic`] with file and line.
//!
//! **Does not own:** compatibility between versions and lint rules (`evc-compat` and the gate),
//! code generation (`evc-codegen`), or registries.
//!
//! ```no_run
//! let catalog = evc_catalog::Catalog::load("schemas").expect("valid schema tree");
//! for event in &catalog.events {
//!     println!("{} v{} -> {}", event.fullname, event.latest().number, event.subject);
//! }
//! ```

mod code;
mod config;
mod diagnostic;
mod scan;

use scan::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

pub use code::{Code, Family, ParseCodeError};
pub use config::*;
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use evc_schema;
use evc_schema::{Schema, TyKind};

/// The config file's name inside the schema directory.
pub const CONFIG_FILE: &str = "evc.toml";

/// One `v<N>.avsc`.
#[derive(Debug, Clone)]
pub struct Version {
    pub number: u32,
    /// Path of the file (the schema directory joined with `ns/Name/vN.avsc`).
    pub path: PathBuf,
    /// Path relative to the schema directory, with `/` separators.
    pub rel_path: String,
    pub text: String,
    pub schema: Schema,
}

/// One event type and its version history.
#[derive(Debug, Clone)]
pub struct Event {
    pub fullname: String,
    pub namespace: String,
    pub name: String,
    pub topic: String,
    pub compatibility: String,
    pub strategy: SubjectNameStrategy,
    pub subject: String,
    pub partition_key: String,
    /// Oldest first; numbered 1..=N without gaps.
    pub versions: Vec<Version>,
}

impl Event {
    pub fn latest(&self) -> &Version {
        self.versions
            .last()
            .expect("an event has at least one version")
    }
}

/// Which event folders [`Catalog::load_with`] reads.
#[derive(Default, Clone, Copy)]
pub struct LoadOptions<'a> {
    /// Called with each event folder's full name and the names of its files; `false` leaves
    /// the folder unread. `None` reads every folder.
    pub read: Option<&'a ReadFilter<'a>>,
}

/// See [`LoadOptions::read`]: an event folder's full name and file names in, read it or not out.
pub type ReadFilter<'a> = dyn Fn(&str, &[String]) -> bool + Sync + 'a;

/// An event [`Catalog::load_with`] did not read: it is configured and its folder exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub fullname: String,
    pub topic: String,
    pub subject: String,
    pub compatibility: String,
    pub strategy: SubjectNameStrategy,
    pub partition_key: String,
    /// How many version files its folder holds.
    pub versions: usize,
    /// The folder's files as they were listed (sorted), so that [`Catalog::read_event`] reads
    /// them without listing the folder again.
    pub files: Vec<PathBuf>,
}

/// A loaded, validated schema directory.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub root: PathBuf,
    pub config: Config,
    pub config_text: String,
    /// Sorted by topic, then by the order the topic lists them.
    pub events: Vec<Event>,
    /// Events whose folders [`Catalog::load_with`] was told not to read, sorted like `events`.
    pub unread: Vec<Unread>,
    /// The lint rules `[lint] disable` switches off (validated: each is a lint rule).
    pub disabled: BTreeSet<Code>,
    /// Findings that do not stop the tree from loading (deprecated spellings in the config).
    pub warnings: Vec<Diagnostic>,
}

impl Catalog {
    /// Loads `root` (the directory holding `evc.toml`), reporting every problem found.
    pub fn load(root: impl AsRef<Path>) -> Result<Catalog, Diagnostics> {
        Catalog::load_with(root, &LoadOptions::default())
    }

    /// [`Catalog::load`], reading only the event folders `opts` selects: the others are listed
    /// (their file names are checked) but their files are neither read nor parsed, and they are
    /// counted in [`Catalog::unread`] instead of [`Catalog::events`]. For a gate that knows which
    /// folders are unchanged since a checked base.
    pub fn load_with(
        root: impl AsRef<Path>,
        opts: &LoadOptions<'_>,
    ) -> Result<Catalog, Diagnostics> {
        let root = root.as_ref().to_path_buf();
        let mut diags = Vec::new();
        let config_path = root.join(CONFIG_FILE);
        let config_text = match fs::read_to_string(&config_path) {
            Ok(t) => t,
            Err(e) => {
                return Err(Diagnostics(vec![Diagnostic::error(
                    Code::ConfigUnreadable,
                    &config_path,
                    format!("cannot read the config file: {e}"),
                )
                .with_help(format!(
                    "create {} next to the schema folders",
                    CONFIG_FILE
                ))]))
            }
        };
        let config: Config = match toml::from_str(&config_text) {
            Ok(c) => c,
            Err(e) => {
                let mut d =
                    Diagnostic::error(Code::ConfigInvalid, &config_path, e.message().to_string());
                if let Some(r) = e.span() {
                    d = d.at(&config_text, evc_schema::json::Span::new(r.start, r.end));
                }
                return Err(Diagnostics(vec![d]));
            }
        };
        let (on_disk, broken, mut unread_on_disk) = scan(&root, opts, &mut diags);
        let mut unread = Vec::new();

        // Config cross-checks.
        let cfg_span = |needle: &str| -> Option<evc_schema::json::Span> {
            config_text
                .find(needle)
                .map(|i| evc_schema::json::Span::new(i, i + needle.len()))
        };
        let config_diag = |code: Code, needle: &str, msg: String| {
            let d = Diagnostic::error(code, &config_path, msg);
            match cfg_span(needle) {
                Some(s) => d.at(&config_text, s),
                None => d,
            }
        };
        let mut events = Vec::new();
        let mut claimed: BTreeMap<String, String> = BTreeMap::new();
        for (topic, tc) in &config.topics {
            for fullname in &tc.events {
                if let Some(other) = claimed.insert(fullname.clone(), topic.clone()) {
                    diags.push(config_diag(
                        Code::ConfigDuplicateEvent,
                        &format!("\"{fullname}\""),
                        format!("event `{fullname}` is listed under topic `{other}` and `{topic}`; list it once"),
                    ));
                    continue;
                }
                let ov = config.events.get(fullname).cloned().unwrap_or_default();
                let compatibility = ov
                    .compatibility
                    .clone()
                    .unwrap_or_else(|| tc.compatibility.clone());
                if !COMPATIBILITY_LEVELS.contains(&compatibility.as_str()) {
                    diags.push(config_diag(
                        Code::ConfigInvalid,
                        &format!("\"{compatibility}\""),
                        format!(
                            "unknown compatibility level `{compatibility}`; expected one of {}",
                            COMPATIBILITY_LEVELS.join(", ")
                        ),
                    ));
                }
                let strategy = ov.subject_name_strategy.unwrap_or(tc.subject_name_strategy);
                let partition_key = ov
                    .partition_key
                    .clone()
                    .unwrap_or_else(|| tc.partition_key.clone());
                if let Some((versions, files)) = unread_on_disk.get_mut(fullname) {
                    unread.push(Unread {
                        fullname: fullname.clone(),
                        topic: topic.clone(),
                        subject: strategy.subject(topic, fullname),
                        compatibility,
                        strategy,
                        partition_key,
                        versions: *versions,
                        files: std::mem::take(files),
                    });
                    continue;
                }
                let Some(versions) = on_disk.get(fullname) else {
                    if broken.contains(fullname) {
                        continue; // its files are already reported
                    }
                    diags.push(config_diag(
                        Code::ConfigUnknownEvent,
                        &format!("\"{fullname}\""),
                        format!("topic `{topic}` lists `{fullname}`, but there is no folder {} with a v1.avsc",
                            rel_dir(fullname)),
                    ));
                    continue;
                };
                let (namespace, name) = split(fullname);
                events.push(Event {
                    fullname: fullname.clone(),
                    namespace,
                    name,
                    topic: topic.clone(),
                    subject: strategy.subject(topic, fullname),
                    compatibility,
                    strategy,
                    partition_key,
                    versions: versions.clone(),
                });
            }
        }
        for name in config.events.keys() {
            if !claimed.contains_key(name) {
                diags.push(config_diag(
                    Code::ConfigUnknownEvent,
                    &format!("[events.\"{name}\"]"),
                    format!("[events.\"{name}\"] overrides an event that no topic lists"),
                ));
            }
        }
        let present = on_disk.keys().chain(unread_on_disk.keys());
        for fullname in present {
            if !claimed.contains_key(fullname) {
                let (ns, name) = split(fullname);
                diags.push(
                    Diagnostic::error(
                        Code::EventNotConfigured,
                        root.join(ns).join(name).join("v1.avsc"),
                        format!(
                            "event `{fullname}` is not listed under any topic in {CONFIG_FILE}"
                        ),
                    )
                    .with_help(format!(
                        "add \"{fullname}\" to the `events` of its topic in {CONFIG_FILE}"
                    )),
                );
            }
        }
        let subjects: Vec<(&str, &str, SubjectNameStrategy, &str)> = events
            .iter()
            .map(|e| {
                (
                    e.fullname.as_str(),
                    e.topic.as_str(),
                    e.strategy,
                    e.subject.as_str(),
                )
            })
            .chain(unread.iter().map(|u| {
                let strategy = config.strategy_of(&u.topic, &u.fullname);
                (
                    u.fullname.as_str(),
                    u.topic.as_str(),
                    strategy,
                    u.subject.as_str(),
                )
            }))
            .collect();
        subject_conflicts(&subjects, &mut diags, &config_diag);
        let mut warnings = Vec::new();
        let disabled = lint_disable(
            &config,
            &config_path,
            &config_text,
            &mut diags,
            &mut warnings,
        );
        // Partition key present in every version.
        for ev in &events {
            partition_keys(ev, &mut diags);
        }
        if diags.iter().any(|d| d.severity == Severity::Error) {
            diags.sort_by(|a, b| (&a.file, a.position).cmp(&(&b.file, b.position)));
            return Err(Diagnostics(diags));
        }
        warnings.sort_by(|a, b| (&a.file, a.position).cmp(&(&b.file, b.position)));
        Ok(Catalog {
            root,
            config,
            config_text,
            events,
            unread,
            disabled,
            warnings,
        })
    }

    /// Reads, parses and validates an unread event's folder now, as [`Catalog::load`] would
    /// have: for callers that check a large tree one event at a time, so that only the events
    /// being checked are in memory.
    pub fn read_event(&self, unread: &Unread) -> Result<Event, Vec<Diagnostic>> {
        let (namespace, name) = split(&unread.fullname);
        let dir = self.root.join(&namespace).join(&name);
        let (_, folder, mut diags) = scan_listed(
            &namespace,
            &name,
            &dir,
            unread.files.clone(),
            Vec::new(),
            &LoadOptions::default(),
        );
        let versions = match folder {
            Folder::Parsed(v) if diags.is_empty() && !v.is_empty() => v,
            _ => return Err(diags),
        };
        let event = Event {
            fullname: unread.fullname.clone(),
            namespace,
            name,
            topic: unread.topic.clone(),
            compatibility: unread.compatibility.clone(),
            strategy: unread.strategy,
            subject: unread.subject.clone(),
            partition_key: unread.partition_key.clone(),
            versions,
        };
        partition_keys(&event, &mut diags);
        if diags.is_empty() {
            Ok(event)
        } else {
            Err(diags)
        }
    }

    /// False when `[lint] disable` switches the rule off.
    pub fn lint_enabled(&self, rule: Code) -> bool {
        !self.disabled.contains(&rule)
    }

    /// Looks an event up by full name.
    pub fn event(&self, fullname: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.fullname == fullname)
    }

    /// Events of `topic`, in the order the config lists them.
    pub fn topic_events<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |e| e.topic == topic)
    }

    /// Topic names.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.config.topics.keys().map(String::as_str)
    }
}

/// Every version carries the partition key, of a type that can be a key.
fn partition_keys(ev: &Event, diags: &mut Vec<Diagnostic>) {
    for v in &ev.versions {
        let Some(rec) = v.schema.root_named() else {
            continue;
        };
        match rec.fields().iter().find(|f| f.name == ev.partition_key) {
            None => diags.push(
                Diagnostic::error(
                    Code::PartitionKeyMissing,
                    &v.path,
                    format!("`{}` v{} has no field `{}`, its partition key", ev.fullname, v.number, ev.partition_key),
                )
                .at(&v.text, rec.name_span)
                .with_help("every version must carry the partition key so that one entity's events stay in order"),
            ),
            Some(f) => {
                if !matches!(f.ty.kind, TyKind::String | TyKind::Long | TyKind::Int) {
                    diags.push(
                        Diagnostic::error(
                            Code::PartitionKeyType,
                            &v.path,
                            format!("partition key `{}` must be a string, uuid, int or long, found {}", f.name, f.ty.describe(&v.schema)),
                        )
                        .at(&v.text, f.ty.span),
                    );
                }
            }
        }
    }
}

/// Two events with one subject would share one version history in the registry: refused.
///
/// Only TopicNameStrategy can do this (`<topic>-value` for every event of the topic). Confluent
/// would register the events as successive versions of one subject, checked against each other
/// under the topic's mode; evc's layout gives each event its own numbered history, which that
/// subject cannot hold.
fn subject_conflicts(
    subjects: &[(&str, &str, SubjectNameStrategy, &str)],
    diags: &mut Vec<Diagnostic>,
    config_diag: &dyn Fn(Code, &str, String) -> Diagnostic,
) {
    let mut by_subject: BTreeMap<&str, Vec<&(&str, &str, SubjectNameStrategy, &str)>> =
        BTreeMap::new();
    for s in subjects {
        by_subject.entry(s.3).or_default().push(s);
    }
    for (subject, evs) in by_subject.into_iter().filter(|(_, e)| e.len() > 1) {
        let names: Vec<String> = evs.iter().map(|e| format!("`{}`", e.0)).collect();
        let (_, topic, strategy, _) = *evs[0];
        diags.push(
            config_diag(
                Code::SubjectConflict,
                &format!("[topics.{topic}]"),
                format!(
                    "events {} all map to subject `{subject}` ({} on topic `{topic}`), so they would share one version history",
                    names.join(", "),
                    strategy.name(),
                ),
            )
            .with_help("give a topic with several event types TopicRecordNameStrategy (subject <topic>-<record>) or RecordNameStrategy (subject <record>)"),
        );
    }
}

/// Validates `[lint] disable`: every entry must name a lint rule. The spelling used before codes
/// were SCREAMING_SNAKE_CASE (`field-doc`) still works, with a warning.
fn lint_disable(
    config: &Config,
    config_path: &Path,
    config_text: &str,
    diags: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> BTreeSet<Code> {
    let rules: Vec<&str> = Code::lint_rules().map(Code::as_str).collect();
    let mut disabled = BTreeSet::new();
    for entry in &config.lint.disable {
        let at = |d: Diagnostic| {
            d.at(
                config_text,
                evc_schema::json::Span::new(entry.span.start, entry.span.end),
            )
        };
        match entry.name.parse::<Code>() {
            Ok(code) if code.is_lint_rule() => {
                disabled.insert(code);
            }
            Ok(code) => diags.push(
                at(Diagnostic::error(
                    Code::ConfigUnknownLintRule,
                    config_path,
                    format!(
                        "`{code}` is a {} code, not a lint rule: only lint rules can be disabled",
                        code.family()
                    ),
                ))
                .with_help(if code.family() == Family::Compatibility {
                    "a reviewed, intended break goes in [[exceptions]] with its subject, version and reason".to_string()
                } else {
                    format!("the lint rules are {}", rules.join(", "))
                }),
            ),
            Err(_) => match Code::from_legacy(&entry.name).filter(|c| c.is_lint_rule()) {
                Some(code) => {
                    disabled.insert(code);
                    warnings.push(
                        at(Diagnostic::warning(
                            Code::ConfigDeprecated,
                            config_path,
                            format!("`{}` is the old spelling of the lint rule `{code}`", entry.name),
                        ))
                        .with_help(format!("write \"{code}\"")),
                    );
                }
                None => diags.push(
                    at(Diagnostic::error(
                        Code::ConfigUnknownLintRule,
                        config_path,
                        format!("[lint] disable names `{}`, which is not a lint rule", entry.name),
                    ))
                    .with_help(format!("the lint rules are {}", rules.join(", "))),
                ),
            },
        }
    }
    disabled
}

fn split(fullname: &str) -> (String, String) {
    match fullname.rfind('.') {
        Some(i) => (fullname[..i].to_string(), fullname[i + 1..].to_string()),
        None => (String::new(), fullname.to_string()),
    }
}

fn rel_dir(fullname: &str) -> String {
    let (ns, name) = split(fullname);
    format!("{ns}/{name}/")
}
