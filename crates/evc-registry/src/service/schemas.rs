//! Turning a submission into a schema: type and size checks, references resolved, parsing,
//! the canonical text and identity hashes (see `crate::canon`), and compatibility checks
//! against stored versions.

use std::future::Future;
use std::pin::Pin;

use evc_registry_api::{Metadata, RegisterSchemaRequest, RuleSet, AVRO};
use evc_schema::json;
use evc_schema::{ParseOptions, Schema};

use super::{Registry, ServiceError, CACHE_BOUND};
use crate::canon::{canonical_text, identity_hash, normalized_text};
use crate::compat::CompatLevel;
use crate::store::{self, Reference, VersionRow};
use evc_storage::Tx;

/// How deep references may chain (a references b references c ...).
const MAX_REFERENCE_DEPTH: usize = 32;

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The canonical form of a submission: what its identity is computed from.
#[derive(Debug, Clone)]
pub(crate) struct Canonical {
    pub schema_type: String,
    pub text: String,
    pub refs: Vec<Reference>,
    /// With `normalize=true`, the un-normalized text too when it differs (look-ups accept
    /// either).
    pub plain_text: Option<String>,
}

impl Canonical {
    /// The identity with a data contract.
    pub fn identity(&self, metadata: Option<&Metadata>, rule_set: Option<&RuleSet>) -> String {
        identity_hash(
            &self.schema_type,
            &self.text,
            &self.refs,
            metadata,
            rule_set,
        )
    }

    /// The identities to look up: the (normalized) text's, then the plain text's.
    pub fn identities(
        &self,
        metadata: Option<&Metadata>,
        rule_set: Option<&RuleSet>,
    ) -> Vec<String> {
        let mut out = vec![self.identity(metadata, rule_set)];
        if let Some(plain) = &self.plain_text {
            out.push(identity_hash(
                &self.schema_type,
                plain,
                &self.refs,
                metadata,
                rule_set,
            ));
        }
        out
    }

    /// Whether a stored schema has this schema (whatever its contract).
    pub fn same_schema(&self, row: &crate::store::SchemaRow) -> bool {
        row.schema_type == self.schema_type
            && row.refs == self.refs
            && (row.text == self.text || self.plain_text.as_deref() == Some(row.text.as_str()))
    }
}

/// A parsed, canonicalized submission.
pub(crate) struct Candidate {
    pub schema: Schema,
    pub canon: Canonical,
}

fn invalid(reason: impl Into<String>) -> ServiceError {
    ServiceError::InvalidSchema {
        reason: reason.into(),
    }
}

impl Registry {
    /// Parses a stored schema, with its references (recursively).
    pub(super) fn load_parsed<'a>(
        &'a self,
        tx: &'a mut Tx,
        id: i64,
        depth: usize,
    ) -> BoxFut<'a, Result<Schema, ServiceError>> {
        Box::pin(async move {
            if depth > MAX_REFERENCE_DEPTH {
                return Err(invalid(format!(
                    "schema references nest deeper than {MAX_REFERENCE_DEPTH} levels"
                )));
            }
            let info = store::schema_of(tx, id).await?;
            let mut deps = Vec::with_capacity(info.refs.len());
            for r in &info.refs {
                let rid = Self::reference_target(tx, r).await?;
                deps.push(self.load_parsed(tx, rid, depth + 1).await?);
            }
            let opts = ParseOptions {
                max_depth: self.inner.limits.max_depth,
                references: deps.iter().collect(),
            };
            Schema::parse_with(&info.text, &opts).map_err(|e| {
                tracing::error!(id, error = %e, "a stored schema no longer parses");
                ServiceError::Corrupt {
                    what: format!("stored schema {id} does not parse: {}", e.message),
                }
            })
        })
    }

    /// The schema id a (resolved) reference points at.
    async fn reference_target(tx: &mut Tx, r: &Reference) -> Result<i64, ServiceError> {
        match store::version_schema_id(tx, &r.subject, r.version).await? {
            Some(id) => Ok(id),
            None => Err(invalid(format!(
                "Invalid schema reference {}: subject '{}' version {} not found",
                r.name, r.subject, r.version
            ))),
        }
    }

    /// Validates and canonicalizes a submission, resolving its references.
    pub(super) async fn prepare(
        &self,
        tx: &mut Tx,
        req: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<Candidate, ServiceError> {
        let schema_type = match req.schema_type.as_deref().map(str::trim) {
            None | Some("") => AVRO.to_string(),
            Some(t) if t.eq_ignore_ascii_case(AVRO) => AVRO.to_string(),
            Some(t) if t.eq_ignore_ascii_case("PROTOBUF") || t.eq_ignore_ascii_case("JSON") => {
                return Err(invalid(format!(
                    "Schema type {} is not supported by this registry: only AVRO schemas can be registered",
                    t.to_ascii_uppercase()
                )))
            }
            Some(t) => {
                return Err(invalid(format!(
                    "Unknown schema type '{t}': this registry supports AVRO"
                )))
            }
        };
        let text = match req.schema.as_deref() {
            Some(t) if !t.trim().is_empty() => t,
            _ => return Err(invalid("Empty schema")),
        };
        let limits = &self.inner.limits;
        if text.len() > limits.max_schema_bytes {
            return Err(ServiceError::SchemaTooLarge {
                size: text.len(),
                limit: limits.max_schema_bytes,
            });
        }

        // references: resolve `-1` to the latest version, load each referenced schema
        let mut refs = Vec::new();
        let mut deps = Vec::new();
        for r in req.references.iter().flatten() {
            if r.name.trim().is_empty() || r.subject.trim().is_empty() {
                return Err(invalid(
                    "Invalid schema reference: name and subject must not be empty",
                ));
            }
            let version = if r.version == -1 {
                let rows = store::versions(tx, &r.subject).await?;
                match rows.iter().rev().find(|v| !v.deleted) {
                    Some(v) => v.version,
                    None => {
                        return Err(invalid(format!(
                            "Invalid schema reference {}: subject '{}' has no versions",
                            r.name, r.subject
                        )))
                    }
                }
            } else if r.version >= 1 {
                r.version
            } else {
                return Err(invalid(format!(
                    "Invalid schema reference {}: version {} is not valid",
                    r.name, r.version
                )));
            };
            let resolved = Reference {
                name: r.name.clone(),
                subject: r.subject.clone(),
                version,
            };
            let rid = Self::reference_target(tx, &resolved).await?;
            deps.push(self.load_parsed(tx, rid, 1).await?);
            refs.push(resolved);
        }

        let doc = json::parse_with_depth(text, limits.max_depth).map_err(|e| {
            invalid(format!(
                "Invalid schema: invalid JSON at byte {}: {}",
                e.offset, e.message
            ))
        })?;
        let opts = ParseOptions {
            max_depth: limits.max_depth,
            references: deps.iter().collect(),
        };
        let schema = Schema::from_json_with(&doc, &opts).map_err(|e| {
            let at = e
                .pointer
                .as_deref()
                .map(|p| {
                    if p.is_empty() {
                        " (at the root)".to_string()
                    } else {
                        format!(" (at {p})")
                    }
                })
                .unwrap_or_default();
            invalid(format!("Invalid schema: {}{at}", e.message))
        })?;
        let plain = canonical_text(&doc);
        let (text, plain_text) = if normalize {
            match normalized_text(&schema, !refs.is_empty(), limits.max_depth) {
                Some(n) if n != plain => (n, Some(plain)),
                _ => (plain, None),
            }
        } else {
            (plain, None)
        };
        Ok(Candidate {
            schema,
            canon: Canonical {
                schema_type,
                text,
                refs,
                plain_text,
            },
        })
    }

    /// The canonical form of a requested schema, from the cache when it has no references.
    pub(super) async fn canonical(
        &self,
        tx: &mut Tx,
        req: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<Canonical, ServiceError> {
        let generation = self.generation();
        let key = match (
            &req.schema,
            req.references.as_ref().is_none_or(|r| r.is_empty()),
        ) {
            (Some(text), true) => Some((
                req.schema_type.clone().unwrap_or_default(),
                text.clone(),
                normalize,
            )),
            _ => None,
        };
        if let Some(k) = &key {
            if let Some(hit) = self.inner.canonical.read().get(k) {
                return Ok(hit.clone());
            }
        }
        let c = self.prepare(tx, req, normalize).await?.canon;
        if let Some(k) = key {
            let mut cache = self.inner.canonical.write();
            if self.generation() == generation {
                if cache.len() >= CACHE_BOUND {
                    cache.clear();
                }
                cache.insert(k, c.clone());
            }
        }
        Ok(c)
    }

    /// The problems found checking `new` against `targets` under `level`.
    pub(super) async fn check_against(
        &self,
        tx: &mut Tx,
        level: CompatLevel,
        new: &Schema,
        targets: &[VersionRow],
    ) -> Result<Vec<String>, ServiceError> {
        if level == CompatLevel::None || targets.is_empty() {
            return Ok(Vec::new());
        }
        let mut parsed = Vec::with_capacity(targets.len());
        for t in targets {
            parsed.push(self.load_parsed(tx, t.schema_id, 0).await?);
        }
        let existing: Vec<&Schema> = parsed.iter().collect();
        let versions: Vec<i64> = targets.iter().map(|t| t.version).collect();
        Ok(self.inner.checker.check(level, new, &existing, &versions))
    }
}
