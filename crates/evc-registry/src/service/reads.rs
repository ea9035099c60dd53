//! Reads: look-ups, subjects and versions, schemas by id, compatibility tests.

use std::sync::Arc;

use evc_registry_api::RegisterSchemaRequest;

use super::contract::{effective_contract, non_empty_metadata, non_empty_rules};
use super::{pick, settings, Registry, ServiceError, VersionInfo, VersionSpec};
use crate::compat::against;
use crate::store::{self, SchemaRow, VersionRow};

impl Registry {
    /// `POST /subjects/{subject}`: the version of `subject` (or of the subject its alias
    /// names) holding this schema: with the contract as sent, else with the contract a
    /// registration would give it, else (for a request without a contract) the newest version
    /// with the same schema whatever its contract.
    pub(crate) async fn lookup(
        &self,
        subject: &str,
        req: &RegisterSchemaRequest,
        normalize: bool,
        deleted: bool,
    ) -> Result<VersionInfo, ServiceError> {
        let mut tx = self.read().await?;
        let subject = &settings::resolve_alias(&mut tx, subject).await?;
        let rows = store::versions(&mut tx, subject).await?;
        let visible: Vec<VersionRow> = rows.into_iter().filter(|r| deleted || !r.deleted).collect();
        if visible.is_empty() {
            return Err(ServiceError::SubjectNotFound {
                subject: subject.to_string(),
            });
        }
        let (_, config) = settings::effective_config(&mut tx, subject).await?;
        let normalize = normalize || config.normalize == Some(true);
        let canon = self.canonical(&mut tx, req, normalize).await?;
        let sent = (
            non_empty_metadata(req.metadata.clone()),
            non_empty_rules(req.rule_set.clone()),
        );
        let latest = match visible.iter().rev().find(|r| !r.deleted) {
            Some(l) => Some(self.schema_cached(&mut tx, l.schema_id).await?),
            None => None,
        };
        let merged = effective_contract(
            &config,
            (sent.0.as_ref(), sent.1.as_ref()),
            (
                latest.as_deref().and_then(|p| p.metadata.as_ref()),
                latest.as_deref().and_then(|p| p.rule_set.as_ref()),
            ),
        );
        for (m, r) in [sent.clone(), merged] {
            for identity in canon.identities(m.as_ref(), r.as_ref()) {
                for id in store::ids_by_identity(&mut tx, &identity).await? {
                    // prefer a live version, then the latest
                    let found = visible
                        .iter()
                        .filter(|r| r.schema_id == id)
                        .max_by_key(|r| (!r.deleted, r.version));
                    if let Some(r) = found {
                        return Ok(VersionInfo {
                            subject: subject.to_string(),
                            version: r.version,
                            schema: self.schema_cached(&mut tx, id).await?,
                        });
                    }
                }
            }
        }
        if sent.0.is_none() && sent.1.is_none() {
            for r in visible.iter().rev() {
                let s = self.schema_cached(&mut tx, r.schema_id).await?;
                if canon.same_schema(&s) {
                    return Ok(VersionInfo {
                        subject: subject.to_string(),
                        version: r.version,
                        schema: s,
                    });
                }
            }
        }
        Err(ServiceError::SchemaNotFound {
            subject: subject.to_string(),
        })
    }

    /// `GET /subjects/{subject}/metadata`: the latest version whose metadata has every given
    /// property.
    pub(crate) async fn latest_with_metadata(
        &self,
        subject: &str,
        wanted: &[(String, String)],
        deleted: bool,
    ) -> Result<VersionInfo, ServiceError> {
        let mut tx = self.read().await?;
        let subject = &settings::resolve_alias(&mut tx, subject).await?;
        let rows = store::versions(&mut tx, subject).await?;
        let visible: Vec<VersionRow> = rows.into_iter().filter(|r| deleted || !r.deleted).collect();
        if visible.is_empty() {
            return Err(ServiceError::SubjectNotFound {
                subject: subject.to_string(),
            });
        }
        for r in visible.iter().rev() {
            let s = self.schema_cached(&mut tx, r.schema_id).await?;
            let props = s.metadata.as_ref().map(|m| &m.properties);
            let matches = wanted
                .iter()
                .all(|(k, v)| props.and_then(|p| p.get(k)) == Some(v));
            if matches {
                return Ok(VersionInfo {
                    subject: subject.to_string(),
                    version: r.version,
                    schema: s,
                });
            }
        }
        Err(ServiceError::SchemaNotFound {
            subject: subject.to_string(),
        })
    }

    /// `GET /subjects`.
    pub(crate) async fn subjects(
        &self,
        prefix: Option<&str>,
        deleted: bool,
        deleted_only: bool,
    ) -> Result<Vec<String>, ServiceError> {
        let mut tx = self.read().await?;
        let mut out = Vec::new();
        for (subject, all_deleted) in store::subjects(&mut tx).await? {
            // a subject is soft-deleted when all its versions are
            let keep = if deleted_only {
                all_deleted
            } else {
                deleted || !all_deleted
            };
            if keep && prefix.is_none_or(|p| subject.starts_with(p)) {
                out.push(subject);
            }
        }
        Ok(out)
    }

    /// `GET /subjects/{subject}/versions`: (version, soft-deleted) pairs.
    pub(crate) async fn subject_versions(
        &self,
        subject: &str,
        deleted: bool,
        deleted_only: bool,
    ) -> Result<Vec<(i64, bool)>, ServiceError> {
        let mut tx = self.read().await?;
        let subject = &settings::resolve_alias(&mut tx, subject).await?;
        let rows = store::versions(&mut tx, subject).await?;
        if rows.is_empty() || (!deleted && !deleted_only && rows.iter().all(|r| r.deleted)) {
            return Err(ServiceError::SubjectNotFound {
                subject: subject.to_string(),
            });
        }
        Ok(rows
            .iter()
            .filter(|r| {
                if deleted_only {
                    r.deleted
                } else {
                    deleted || !r.deleted
                }
            })
            .map(|r| (r.version, r.deleted))
            .collect())
    }

    /// `GET /subjects/{subject}/versions/{version}`.
    pub(crate) async fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<VersionInfo, ServiceError> {
        let mut tx = self.read().await?;
        let subject = &settings::resolve_alias(&mut tx, subject).await?;
        let rows = store::versions(&mut tx, subject).await?;
        let row = pick(subject, &rows, spec, deleted)?;
        let schema = self.schema_cached(&mut tx, row.schema_id).await?;
        Ok(VersionInfo {
            subject: subject.to_string(),
            version: row.version,
            schema,
        })
    }

    /// `GET /subjects/{subject}/versions/{version}/referencedby`.
    pub(crate) async fn referenced_by(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<Vec<i64>, ServiceError> {
        let mut tx = self.read().await?;
        let rows = store::versions(&mut tx, subject).await?;
        let row = pick(subject, &rows, spec, deleted)?;
        store::referencing(&mut tx, subject, row.version, deleted).await
    }

    /// `GET /schemas/ids/{id}`: the schema, while at least one version (even soft-deleted)
    /// uses it.
    pub(crate) async fn schema_by_id(&self, id: i64) -> Result<Arc<SchemaRow>, ServiceError> {
        if let Some(hit) = self.inner.by_id.read().get(&id) {
            return Ok(hit.clone());
        }
        let generation = self.generation();
        let mut tx = self.read().await?;
        if store::id_versions(&mut tx, id).await?.is_empty() {
            return Err(ServiceError::SchemaIdNotFound { id });
        }
        let found = Arc::new(
            store::schema(&mut tx, id)
                .await?
                .ok_or(ServiceError::SchemaIdNotFound { id })?,
        );
        self.remember_schema(generation, found.clone());
        Ok(found)
    }

    /// The highest id handed out so far.
    pub(crate) async fn max_id(&self) -> Result<i64, ServiceError> {
        let mut tx = self.read().await?;
        store::max_id(&mut tx).await
    }

    /// `GET /schemas/ids/{id}/versions` (and `/subjects`): the subject versions using a schema.
    pub(crate) async fn id_versions(
        &self,
        id: i64,
        deleted: bool,
    ) -> Result<Vec<(String, i64)>, ServiceError> {
        let mut tx = self.read().await?;
        let rows = store::id_versions(&mut tx, id).await?;
        if rows.is_empty() {
            return Err(ServiceError::SchemaIdNotFound { id });
        }
        Ok(rows
            .into_iter()
            .filter(|(_, _, d)| deleted || !d)
            .map(|(s, v, _)| (s, v))
            .collect())
    }

    /// `GET /schemas`: every visible subject version with its schema.
    pub(crate) async fn all_versions(
        &self,
        prefix: Option<&str>,
        deleted: bool,
        latest_only: bool,
    ) -> Result<Vec<VersionInfo>, ServiceError> {
        let mut tx = self.read().await?;
        let mut out: Vec<VersionInfo> = Vec::new();
        for (subject, version, is_deleted, schema) in store::all_versions(&mut tx).await? {
            let hidden = is_deleted && !deleted;
            if hidden || !prefix.is_none_or(|p| subject.starts_with(p)) {
                continue;
            }
            let info = VersionInfo {
                subject,
                version,
                schema: Arc::new(schema),
            };
            if latest_only {
                if let Some(last) = out.last_mut() {
                    if last.subject == info.subject {
                        *last = info;
                        continue;
                    }
                }
            }
            out.push(info);
        }
        Ok(out)
    }

    /// `POST /compatibility/subjects/{subject}/versions[/{version}]`: (compatible, messages).
    pub(crate) async fn test_compatibility(
        &self,
        subject: &str,
        spec: Option<VersionSpec>,
        req: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<(bool, Vec<String>), ServiceError> {
        let mut tx = self.read().await?;
        let rows = store::versions(&mut tx, subject).await?;
        let live: Vec<VersionRow> = rows.into_iter().filter(|r| !r.deleted).collect();
        let (level, config) = settings::effective_config(&mut tx, subject).await?;
        let normalize = normalize || config.normalize == Some(true);
        let targets: Vec<VersionRow> = match spec {
            Some(VersionSpec::Number(n)) => match live.iter().find(|r| r.version == n) {
                Some(r) => vec![*r],
                None => {
                    return Err(ServiceError::VersionNotFound {
                        subject: subject.to_string(),
                        version: n,
                    })
                }
            },
            Some(VersionSpec::Latest) => live.last().copied().into_iter().collect(),
            None => against(level, &live).to_vec(),
        };
        let c = self.prepare(&mut tx, req, normalize).await?;
        let problems = self
            .check_against(&mut tx, level, &c.schema, &targets)
            .await?;
        Ok((problems.is_empty(), problems))
    }
}
