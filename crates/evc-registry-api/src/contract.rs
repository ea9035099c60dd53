//! Data contracts: metadata and rule sets carried with a schema version (Confluent 7.4+).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// User metadata of a schema version: tags per path, free properties, sensitive names.
///
/// Empty parts are left out when written, as Confluent does (`JsonInclude.NON_EMPTY`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Tags by field path (`"**.ssn"` → `["PII"]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, BTreeSet<String>>,
    /// Properties (`owner`, `application.version`, `confluent:version`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// Names of sensitive properties (their values are masked by Confluent's tooling).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub sensitive: BTreeSet<String>,
}

impl Metadata {
    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.properties.is_empty() && self.sensitive.is_empty()
    }
}

/// One rule of a rule set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// `TRANSFORM` or `CONDITION`.
    #[serde(default)]
    pub kind: String,
    /// `UPGRADE`, `DOWNGRADE`, `UPDOWN`, `WRITE`, `READ` or `WRITEREAD`.
    #[serde(default)]
    pub mode: String,
    /// The rule executor (`CEL`, `CEL_FIELD`, `JSONATA`, `ENCRYPT`, ...).
    #[serde(rename = "type", default)]
    pub rule_type: String,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    #[serde(rename = "onSuccess", default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    #[serde(rename = "onFailure", default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// Always written, as Confluent's entity does (a primitive boolean).
    #[serde(default)]
    pub disabled: bool,
}

/// The rules of a schema version: migration rules (between versions), domain rules (on
/// values), encoding rules (on serialized bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    #[serde(
        rename = "migrationRules",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub migration_rules: Vec<Rule>,
    #[serde(rename = "domainRules", default, skip_serializing_if = "Vec::is_empty")]
    pub domain_rules: Vec<Rule>,
    #[serde(
        rename = "encodingRules",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub encoding_rules: Vec<Rule>,
}

impl RuleSet {
    /// True when it has no rule.
    pub fn is_empty(&self) -> bool {
        self.migration_rules.is_empty()
            && self.domain_rules.is_empty()
            && self.encoding_rules.is_empty()
    }

    /// Every rule, migration rules first.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.migration_rules
            .iter()
            .chain(&self.domain_rules)
            .chain(&self.encoding_rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_leaves_out_empty_parts() {
        let text = r#"{"tags":{"**.ssn":["PII"]},"properties":{"owner":"team-a"}}"#;
        let m: Metadata = serde_json::from_str(text).unwrap();
        assert_eq!(m.properties["owner"], "team-a");
        assert!(m.sensitive.is_empty());
        assert_eq!(serde_json::to_string(&m).unwrap(), text);
        assert_eq!(serde_json::to_string(&Metadata::default()).unwrap(), "{}");
    }

    #[test]
    fn rules_use_confluent_names() {
        let text = r#"{"domainRules":[{"name":"checkSsn","kind":"CONDITION","mode":"WRITE","type":"CEL","expr":"message.ssn.size() == 9","onFailure":"DLQ","disabled":false}]}"#;
        let rs: RuleSet = serde_json::from_str(text).unwrap();
        assert_eq!(rs.domain_rules[0].rule_type, "CEL");
        assert_eq!(rs.rules().count(), 1);
        assert_eq!(serde_json::to_string(&rs).unwrap(), text);
        // `disabled` may be left out
        let short = text.replace(r#","disabled":false"#, "");
        assert_eq!(serde_json::from_str::<RuleSet>(&short).unwrap(), rs);
    }
}
