//! Data contracts: merging metadata and rule sets (config defaults, the request or the previous
//! version, config overrides), `confluent:version`, reserved fields, compatibility groups, and
//! rule-set validation.
//!
//! Choices, following Confluent's `AbstractSchemaRegistry` and entities:
//! - merge order: `merge(merge(defaultX, specific), overrideX)` where `specific` is the
//!   request's metadata (rule set) if it has one, else the previous (latest live) version's;
//! - merging metadata: properties and tags by key (the later wins), `sensitive` united;
//!   merging rule sets: rules by name (a later rule replaces the earlier one of the same name,
//!   in place; new names are appended), per kind (migration, domain, encoding);
//! - `confluent:version`: when the merged metadata carries it, it is set to the new version's
//!   number; when the *request* names a version there that is neither the existing version
//!   holding the same schema nor the next one, the registration is refused as incompatible
//!   (optimistic concurrency);
//! - reserved fields (`confluent:reserved`, comma-separated top-level field names) are checked
//!   when the config has `validateFields`: a schema may not define a reserved field, nor drop a
//!   name reserved by the previous version; the findings join the compatibility errors (409).

use std::collections::BTreeSet;

use evc_registry_api::{Config, Metadata, Rule, RuleSet, CONFLUENT_RESERVED, CONFLUENT_VERSION};
use evc_schema::Schema;

use super::ServiceError;

/// Metadata `b` merged over `a`.
pub(crate) fn merge_metadata(a: Option<&Metadata>, b: Option<&Metadata>) -> Option<Metadata> {
    match (a, b) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(a), Some(b)) => {
            let mut m = a.clone();
            m.properties
                .extend(b.properties.iter().map(|(k, v)| (k.clone(), v.clone())));
            m.tags
                .extend(b.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            m.sensitive.extend(b.sensitive.iter().cloned());
            Some(m)
        }
    }
}

fn merge_rules(a: &[Rule], b: &[Rule]) -> Vec<Rule> {
    let mut out: Vec<Rule> = a.to_vec();
    for r in b {
        match out.iter_mut().find(|o| o.name == r.name) {
            Some(o) => *o = r.clone(),
            None => out.push(r.clone()),
        }
    }
    out
}

/// Rule set `b` merged over `a`.
pub(crate) fn merge_rule_sets(a: Option<&RuleSet>, b: Option<&RuleSet>) -> Option<RuleSet> {
    match (a, b) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(a), Some(b)) => Some(RuleSet {
            migration_rules: merge_rules(&a.migration_rules, &b.migration_rules),
            domain_rules: merge_rules(&a.domain_rules, &b.domain_rules),
            encoding_rules: merge_rules(&a.encoding_rules, &b.encoding_rules),
        }),
    }
}

/// An empty metadata or rule set counts as none.
pub(crate) fn non_empty_metadata(m: Option<Metadata>) -> Option<Metadata> {
    m.filter(|m| !m.is_empty())
}

pub(crate) fn non_empty_rules(r: Option<RuleSet>) -> Option<RuleSet> {
    r.filter(|r| !r.is_empty())
}

/// The data contract a new version gets: config defaults, then the request's (or else the
/// previous version's), then config overrides.
pub(crate) fn effective_contract(
    config: &Config,
    requested: (Option<&Metadata>, Option<&RuleSet>),
    previous: (Option<&Metadata>, Option<&RuleSet>),
) -> (Option<Metadata>, Option<RuleSet>) {
    let specific_m = requested.0.or(previous.0);
    let specific_r = requested.1.or(previous.1);
    let m = merge_metadata(
        merge_metadata(config.default_metadata.as_ref(), specific_m).as_ref(),
        config.override_metadata.as_ref(),
    );
    let r = merge_rule_sets(
        merge_rule_sets(config.default_rule_set.as_ref(), specific_r).as_ref(),
        config.override_rule_set.as_ref(),
    );
    (non_empty_metadata(m), non_empty_rules(r))
}

/// The `confluent:version` a metadata names, if any (`Err` when it is not a number).
pub(crate) fn confluent_version(m: Option<&Metadata>) -> Result<Option<i64>, ServiceError> {
    match m.and_then(|m| m.properties.get(CONFLUENT_VERSION)) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ServiceError::InvalidSchema {
                reason: format!(
                    "Invalid metadata: property {CONFLUENT_VERSION} is `{v}`, not a version number"
                ),
            }),
    }
}

/// Sets `confluent:version` to `version` when the metadata carries it.
pub(crate) fn stamp_version(m: &mut Option<Metadata>, version: i64) {
    if let Some(m) = m {
        if let Some(v) = m.properties.get_mut(CONFLUENT_VERSION) {
            *v = version.to_string();
        }
    }
}

/// The reserved field names a metadata declares.
fn reserved(m: Option<&Metadata>) -> BTreeSet<String> {
    m.and_then(|m| m.properties.get(CONFLUENT_RESERVED))
        .map(|v| {
            v.split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The top-level field names of a record schema.
fn top_level_fields(schema: &Schema) -> BTreeSet<String> {
    let json = schema.to_json();
    json.get("fields")
        .and_then(|f| f.as_array())
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Reserved-field findings (`validateFields`): fields that use a reserved name, and names the
/// previous version reserved that this one no longer does.
pub(crate) fn reserved_field_problems(
    schema: &Schema,
    metadata: Option<&Metadata>,
    previous: Option<&Metadata>,
) -> Vec<String> {
    let now = reserved(metadata);
    let mut problems: Vec<String> = reserved(previous)
        .difference(&now)
        .map(|f| format!("The new schema has reserved field {f} removed from its metadata provided to the previous schema"))
        .collect();
    let fields = top_level_fields(schema);
    problems.extend(
        now.iter().filter(|f| fields.contains(*f)).map(|f| {
            format!("The new schema has field that conflicts with the reserved field {f}")
        }),
    );
    problems
}

/// The value of the compatibility-group property in a metadata.
pub(crate) fn group_value<'a>(m: Option<&'a Metadata>, group: &str) -> Option<&'a str> {
    m.and_then(|m| m.properties.get(group)).map(String::as_str)
}

const RULE_KINDS: &[&str] = &["TRANSFORM", "CONDITION"];
const RULE_MODES: &[&str] = &[
    "UPGRADE",
    "DOWNGRADE",
    "UPDOWN",
    "WRITE",
    "READ",
    "WRITEREAD",
];

/// Checks a rule set as Confluent does (42210 when not valid): every rule has a name, unique
/// in the set, a known kind and mode, and a type; migration rules are UPGRADE, DOWNGRADE or
/// UPDOWN, domain and encoding rules WRITE, READ or WRITEREAD.
pub(crate) fn validate_rule_set(rs: &RuleSet) -> Result<(), ServiceError> {
    let invalid = |reason: String| Err(ServiceError::InvalidRuleSet { reason });
    let mut names = BTreeSet::new();
    let kinds: [(&str, &[Rule], &[&str]); 3] = [
        ("migration", &rs.migration_rules, &RULE_MODES[..3]),
        ("domain", &rs.domain_rules, &RULE_MODES[3..]),
        ("encoding", &rs.encoding_rules, &RULE_MODES[3..]),
    ];
    for (kind, rules, modes) in kinds {
        for r in rules {
            if r.name.trim().is_empty() {
                return invalid(format!("a {kind} rule has no name"));
            }
            if !names.insert(r.name.as_str()) {
                return invalid(format!("the rule name `{}` is used twice", r.name));
            }
            if !RULE_KINDS.contains(&r.kind.to_ascii_uppercase().as_str()) {
                return invalid(format!(
                    "rule `{}`: kind `{}` is not TRANSFORM or CONDITION",
                    r.name, r.kind
                ));
            }
            let mode = r.mode.to_ascii_uppercase();
            if !RULE_MODES.contains(&mode.as_str()) {
                return invalid(format!("rule `{}`: unknown mode `{}`", r.name, r.mode));
            }
            if !modes.contains(&mode.as_str()) {
                return invalid(format!(
                    "rule `{}`: a {kind} rule cannot have mode {mode}",
                    r.name
                ));
            }
            if r.rule_type.trim().is_empty() {
                return invalid(format!("rule `{}` has no type", r.name));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(props: &[(&str, &str)]) -> Metadata {
        Metadata {
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Metadata::default()
        }
    }

    fn rule(name: &str, mode: &str) -> Rule {
        Rule {
            name: name.into(),
            kind: "CONDITION".into(),
            mode: mode.into(),
            rule_type: "CEL".into(),
            ..Rule::default()
        }
    }

    #[test]
    fn merge_order_is_default_then_specific_then_override() {
        let config = Config {
            default_metadata: Some(meta(&[("owner", "default"), ("team", "a")])),
            override_metadata: Some(meta(&[("team", "override")])),
            ..Config::default()
        };
        let req = meta(&[("owner", "request")]);
        let prev = meta(&[("owner", "previous"), ("x", "1")]);
        let (m, _) = effective_contract(&config, (Some(&req), None), (Some(&prev), None));
        let p = m.unwrap().properties;
        assert_eq!(p["owner"], "request");
        assert_eq!(p["team"], "override");
        assert!(
            !p.contains_key("x"),
            "the request replaces the previous version's"
        );
        let (m, _) = effective_contract(&config, (None, None), (Some(&prev), None));
        assert_eq!(
            m.unwrap().properties["x"],
            "1",
            "inherited from the previous version"
        );
    }

    #[test]
    fn rules_merge_by_name() {
        let a = RuleSet {
            domain_rules: vec![rule("a", "WRITE"), rule("b", "WRITE")],
            ..RuleSet::default()
        };
        let mut b_rule = rule("a", "READ");
        b_rule.expr = Some("true".into());
        let b = RuleSet {
            domain_rules: vec![b_rule.clone(), rule("c", "READ")],
            ..RuleSet::default()
        };
        let m = merge_rule_sets(Some(&a), Some(&b)).unwrap();
        let names: Vec<_> = m.domain_rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(m.domain_rules[0], b_rule);
    }

    #[test]
    fn rule_sets_are_validated() {
        let ok = RuleSet {
            migration_rules: vec![rule("up", "UPGRADE")],
            domain_rules: vec![rule("w", "write")],
            ..RuleSet::default()
        };
        validate_rule_set(&ok).unwrap();
        for bad in [
            RuleSet {
                domain_rules: vec![rule("", "WRITE")],
                ..RuleSet::default()
            },
            RuleSet {
                domain_rules: vec![rule("a", "WRITE"), rule("a", "READ")],
                ..RuleSet::default()
            },
            RuleSet {
                domain_rules: vec![rule("a", "UPGRADE")],
                ..RuleSet::default()
            },
            RuleSet {
                migration_rules: vec![Rule {
                    kind: "SOMETIMES".into(),
                    ..rule("a", "UPGRADE")
                }],
                ..RuleSet::default()
            },
        ] {
            assert!(
                matches!(
                    validate_rule_set(&bad),
                    Err(ServiceError::InvalidRuleSet { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn confluent_version_is_read_and_stamped() {
        let mut m = Some(meta(&[(CONFLUENT_VERSION, "3")]));
        assert_eq!(confluent_version(m.as_ref()).unwrap(), Some(3));
        stamp_version(&mut m, 4);
        assert_eq!(confluent_version(m.as_ref()).unwrap(), Some(4));
        assert!(confluent_version(Some(&meta(&[(CONFLUENT_VERSION, "x")]))).is_err());
        let mut none = Some(meta(&[("owner", "a")]));
        stamp_version(&mut none, 4);
        assert_eq!(confluent_version(none.as_ref()).unwrap(), None);
    }
}
