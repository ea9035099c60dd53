//! Request and answer bodies of the REST API, named after Confluent's entities.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Metadata, RuleSet};

/// A reference from a schema to a version of another subject. In a request, `version` `-1`
/// names the latest version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: i64,
}

/// The body of `POST /subjects/{s}/versions` (register), `POST /subjects/{s}` (look-up) and
/// `POST /compatibility/...`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisterSchemaRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(
        rename = "schemaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<Vec<SchemaReference>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(rename = "ruleSet", default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<RuleSet>,
    /// Honoured in IMPORT mode only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Honoured in IMPORT mode only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl RegisterSchemaRequest {
    /// A request carrying just an Avro schema text.
    pub fn schema(text: impl Into<String>) -> RegisterSchemaRequest {
        RegisterSchemaRequest {
            schema: Some(text.into()),
            ..RegisterSchemaRequest::default()
        }
    }
}

/// The answer of a registration. Older servers answer only `{"id": N}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisterSchemaResponse {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(
        rename = "schemaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(rename = "ruleSet", default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<RuleSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// A subject version: the answer of `GET /subjects/{s}/versions/{v}`, of a look-up, and the
/// elements of `GET /schemas` (Confluent's `Schema` entity). `schemaType` is left out for Avro.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: i64,
    pub id: i64,
    #[serde(
        rename = "schemaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(rename = "ruleSet", default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<RuleSet>,
    pub schema: String,
}

/// The answer of `GET /schemas/ids/{id}` (Confluent's `SchemaString`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaById {
    pub schema: String,
    #[serde(
        rename = "schemaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    #[serde(rename = "ruleSet", default, skip_serializing_if = "Option::is_none")]
    pub rule_set: Option<RuleSet>,
    #[serde(rename = "maxId", default, skip_serializing_if = "Option::is_none")]
    pub max_id: Option<i64>,
}

/// An element of `GET /schemas/ids/{id}/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectVersionPair {
    pub subject: String,
    pub version: i64,
}

/// The body of `PUT /config[/{s}]` and its answer. Confluent's request names the level
/// `compatibility` (the GET answer says `compatibilityLevel`); both are read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<String>,
    /// Read for leniency; never written.
    #[serde(rename = "compatibilityLevel", default, skip_serializing)]
    pub compatibility_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    #[serde(
        rename = "validateFields",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub validate_fields: Option<bool>,
    #[serde(
        rename = "compatibilityGroup",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub compatibility_group: Option<String>,
    #[serde(
        rename = "defaultMetadata",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_metadata: Option<Metadata>,
    #[serde(
        rename = "overrideMetadata",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub override_metadata: Option<Metadata>,
    #[serde(
        rename = "defaultRuleSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_rule_set: Option<RuleSet>,
    #[serde(
        rename = "overrideRuleSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub override_rule_set: Option<RuleSet>,
}

/// The answer of `GET /config[/{s}]` and `DELETE /config[/{s}]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Read also as `compatibility`, which some servers answer.
    #[serde(
        rename = "compatibilityLevel",
        alias = "compatibility",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub compatibility_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    #[serde(
        rename = "validateFields",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub validate_fields: Option<bool>,
    #[serde(
        rename = "compatibilityGroup",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub compatibility_group: Option<String>,
    #[serde(
        rename = "defaultMetadata",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_metadata: Option<Metadata>,
    #[serde(
        rename = "overrideMetadata",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub override_metadata: Option<Metadata>,
    #[serde(
        rename = "defaultRuleSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_rule_set: Option<RuleSet>,
    #[serde(
        rename = "overrideRuleSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub override_rule_set: Option<RuleSet>,
}

/// The body of `PUT /mode[/{s}]` and the answer of every mode route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// The answer of `POST /compatibility/...`; `messages` only with `verbose=true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatibilityCheck {
    pub is_compatible: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<String>>,
}

/// Every error answer: `{"error_code": N, "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error_code: i64,
    /// Always written; read leniently (absent or `null` reads as `None`).
    #[serde(default)]
    pub message: Option<String>,
}

/// The answer of `GET /v1/metadata/id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerClusterId {
    pub scope: ClusterScope,
    pub id: String,
}

/// Where a cluster id applies: the cluster ids by kind (`schema-registry-cluster`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterScope {
    #[serde(default)]
    pub path: Vec<String>,
    #[serde(default)]
    pub clusters: BTreeMap<String, String>,
}

/// The answer of `GET /v1/metadata/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVersion {
    pub version: String,
    #[serde(rename = "commitId")]
    pub commit_id: String,
}
