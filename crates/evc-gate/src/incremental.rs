//! Which subjects a change can affect, so that `evc check --against REF` checks only those.
//!
//! A subject is checked when any of these holds:
//! - its folder's version files differ from the base: one was added, deleted, or may have
//!   changed ([`Base::touched`]: git compared blob ids, and stat data for the working tree);
//! - `evc.toml` changed what applies to it: its topic, compatibility level, subject name
//!   strategy or partition key, or an exception for its subject was added, changed or removed;
//!   a change to the envelope or the lint switches applies to every subject;
//! - its subject has a reviewed exception (so the exception's warning, and the unused-exception
//!   check, are the same as in a full run).
//!
//! Every other subject is unchanged since the base, which the gate checked when it was merged,
//! so its lint and compatibility findings are those of the base: none. Event schemas do not
//! reference each other's files (each version is self-contained), so no subject depends on
//! another's folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use evc_catalog::{Config, Event, CONFIG_FILE};

use crate::git::{is_version_file, Base, GitError};

/// What applies to one event, as `evc.toml` says.
type Settings = (String, String, String, String);

fn settings(config: &Config) -> BTreeMap<String, Settings> {
    let mut out = BTreeMap::new();
    for (topic, tc) in &config.topics {
        for fullname in &tc.events {
            let ov = config.events.get(fullname);
            let compatibility = ov
                .and_then(|o| o.compatibility.clone())
                .unwrap_or_else(|| tc.compatibility.clone());
            let key = ov
                .and_then(|o| o.partition_key.clone())
                .unwrap_or_else(|| tc.partition_key.clone());
            let strategy = config.strategy_of(topic, fullname).name().to_string();
            out.insert(
                fullname.clone(),
                (topic.clone(), compatibility, strategy, key),
            );
        }
    }
    out
}

fn global(config: &Config) -> (String, String, BTreeSet<String>) {
    (
        config.envelope.event_id.clone(),
        config.envelope.occurred_at.clone(),
        config.lint.disable.iter().map(|r| r.name.clone()).collect(),
    )
}

fn exceptions(config: &Config) -> BTreeSet<(String, u32, String)> {
    config
        .exceptions
        .iter()
        .map(|x| (x.subject.clone(), x.version, x.reason.clone()))
        .collect()
}

/// The subjects to check.
pub struct Plan<'a> {
    base: &'a Base,
    /// Every subject (a config change that applies to all, or no config in the base).
    all: bool,
    /// Events whose settings changed.
    events: BTreeSet<String>,
    /// Subjects with an exception now, or whose exceptions changed.
    subjects: BTreeSet<String>,
    /// Each configured event's subject, as the working tree's config names it.
    subject_of: BTreeMap<String, String>,
}

impl<'a> Plan<'a> {
    /// Compares the base's `evc.toml` with the working tree's (read in one batch when git says
    /// it may differ).
    pub fn new(root: &Path, base: &'a Base) -> Result<Plan<'a>, GitError> {
        let mut plan = Plan {
            base,
            all: false,
            events: BTreeSet::new(),
            subjects: BTreeSet::new(),
            subject_of: BTreeMap::new(),
        };
        // The working tree's config: if it does not parse, the catalog reports why.
        let Some(now) = std::fs::read_to_string(root.join(CONFIG_FILE))
            .ok()
            .and_then(|t| toml::from_str::<Config>(&t).ok())
        else {
            plan.all = true;
            return Ok(plan);
        };
        plan.subjects
            .extend(now.exceptions.iter().map(|x| x.subject.clone()));
        for (topic, tc) in &now.topics {
            for fullname in &tc.events {
                let subject = now.strategy_of(topic, fullname).subject(topic, fullname);
                plan.subject_of.insert(fullname.clone(), subject);
            }
        }
        if !base.files.contains_key(CONFIG_FILE) {
            plan.all = true;
            return Ok(plan);
        }
        if !base.touched.contains(CONFIG_FILE) {
            return Ok(plan);
        }
        let texts = base.texts([CONFIG_FILE])?;
        let Some(then) = texts
            .get(CONFIG_FILE)
            .and_then(|t| toml::from_str::<Config>(t).ok())
        else {
            plan.all = true;
            return Ok(plan);
        };
        if global(&then) != global(&now) {
            plan.all = true;
            return Ok(plan);
        }
        let (before, after) = (settings(&then), settings(&now));
        for (name, s) in &after {
            if before.get(name) != Some(s) {
                plan.events.insert(name.clone());
            }
        }
        plan.subjects.extend(
            exceptions(&then)
                .symmetric_difference(&exceptions(&now))
                .map(|x| x.0.clone()),
        );
        Ok(plan)
    }

    /// True when the event's folder (`ns/Name/` holding `files`) differs from the base's.
    pub fn folder_changed<'f>(
        &self,
        fullname: &str,
        files: impl IntoIterator<Item = &'f str>,
    ) -> bool {
        let dir = match fullname.rfind('.') {
            Some(i) => format!("{}/{}/", &fullname[..i], &fullname[i + 1..]),
            None => format!("/{fullname}/"),
        };
        let now: BTreeSet<String> = files
            .into_iter()
            .map(|f| format!("{dir}{f}"))
            .filter(|p| is_version_file(p))
            .collect();
        let then: BTreeSet<&String> = self
            .base
            .files
            .range(dir.clone()..)
            .take_while(|(p, _)| p.starts_with(&dir))
            .map(|(p, _)| p)
            .filter(|p| is_version_file(p))
            .collect();
        then.len() != now.len()
            || then.iter().any(|p| !now.contains(*p))
            || now.iter().any(|p| self.base.touched.contains(p))
    }

    /// True when the event's settings or exceptions (not its files) make it worth checking.
    pub fn forced(&self, fullname: &str, subject: Option<&str>) -> bool {
        self.all
            || self.events.contains(fullname)
            || subject.is_some_and(|s| self.subjects.contains(s))
    }

    /// Whether to read an event folder at all.
    pub fn read(&self, fullname: &str, files: &[String]) -> bool {
        self.forced(fullname, self.subject_of.get(fullname).map(String::as_str))
            || self.folder_changed(fullname, files.iter().map(String::as_str))
    }

    /// Whether a loaded event is to be linted and checked.
    pub fn selects(&self, ev: &Event) -> bool {
        self.forced(&ev.fullname, Some(&ev.subject))
            || self.folder_changed(
                &ev.fullname,
                ev.versions
                    .iter()
                    .filter_map(|v| v.rel_path.rsplit('/').next()),
            )
    }
}
