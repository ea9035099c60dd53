//! Registrations and deletes.

use std::sync::Arc;

use evc_registry_api::{Config, RegisterSchemaRequest};
use evc_storage::Tx;

use super::contract::{
    confluent_version, effective_contract, group_value, non_empty_metadata, non_empty_rules,
    reserved_field_problems, stamp_version, validate_rule_set,
};
use super::{pick, settings, Canonical, Registry, ServiceError, VersionInfo, VersionSpec};
use crate::compat::{against, CompatLevel, Mode};
use crate::store::{self, SchemaRow, VersionRow};

/// The previous version's contract, and the config in force: what a registration merges.
struct Context {
    level: CompatLevel,
    config: Config,
    live: Vec<VersionRow>,
    latest: Option<Arc<SchemaRow>>,
}

impl Registry {
    async fn context(
        &self,
        tx: &mut Tx,
        subject: &str,
    ) -> Result<(Context, Vec<VersionRow>), ServiceError> {
        let (level, config) = settings::effective_config(tx, subject).await?;
        let rows = store::versions(tx, subject).await?;
        let live: Vec<VersionRow> = rows.iter().filter(|r| !r.deleted).copied().collect();
        let latest = match live.last() {
            Some(l) => Some(self.schema_cached(tx, l.schema_id).await?),
            None => None,
        };
        Ok((
            Context {
                level,
                config,
                live,
                latest,
            },
            rows,
        ))
    }

    /// The live version of the subject that already holds this schema with the contract it
    /// would get: as sent, or merged with the config and the previous version's.
    async fn existing_version(
        &self,
        tx: &mut Tx,
        subject: &str,
        canon: &Canonical,
        req: &RegisterSchemaRequest,
        ctx: &Context,
        import: bool,
    ) -> Result<Option<VersionInfo>, ServiceError> {
        let sent = (
            non_empty_metadata(req.metadata.clone()),
            non_empty_rules(req.rule_set.clone()),
        );
        let merged = if import {
            sent.clone()
        } else {
            let prev = ctx.latest.as_deref();
            effective_contract(
                &ctx.config,
                (sent.0.as_ref(), sent.1.as_ref()),
                (
                    prev.and_then(|p| p.metadata.as_ref()),
                    prev.and_then(|p| p.rule_set.as_ref()),
                ),
            )
        };
        for (m, r) in [sent, merged] {
            for identity in canon.identities(m.as_ref(), r.as_ref()) {
                for id in store::ids_by_identity(tx, &identity).await? {
                    if let Some(v) = ctx.live.iter().find(|v| v.schema_id == id) {
                        return Ok(Some(VersionInfo {
                            subject: subject.to_string(),
                            version: v.version,
                            schema: self.schema_cached(tx, id).await?,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// `POST /subjects/{subject}/versions`.
    pub(crate) async fn register(
        &self,
        subject: &str,
        req: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<VersionInfo, ServiceError> {
        if self.inner.read_only {
            return Err(ServiceError::ReadOnlyServer);
        }
        if let Some(rs) = &req.rule_set {
            validate_rule_set(rs)?;
        }
        let import_id = req.id.filter(|i| *i > 0);
        // Most registrations repeat one already made (producers register on start): answer
        // those from a read transaction, without queueing behind the writers.
        if import_id.is_none() {
            if let Some(found) = self.registered_already(subject, req, normalize).await? {
                return Ok(found);
            }
        }
        let mut tx = self.write().await?;
        let mode = Self::check_subject_writable(&mut tx, subject).await?;
        let import = mode == Mode::Import;
        match mode {
            Mode::Import if import_id.is_none() => {
                return Err(ServiceError::ImportNeedsId {
                    subject: subject.to_string(),
                })
            }
            Mode::ReadWrite if import_id.is_some() => {
                return Err(ServiceError::IdOutsideImport {
                    subject: subject.to_string(),
                })
            }
            _ => {}
        }
        if let Some(id) = import_id {
            if id > i32::MAX as i64 {
                return Err(ServiceError::InvalidSchema {
                    reason: format!("Schema id {id} is out of range (1..2^31-1)"),
                });
            }
        }
        let (ctx, rows) = self.context(&mut tx, subject).await?;
        let normalize = normalize || ctx.config.normalize == Some(true);
        let c = self.prepare(&mut tx, req, normalize).await?;

        // Already registered in this subject: answer the existing id and version.
        if let Some(found) = self
            .existing_version(&mut tx, subject, &c.canon, req, &ctx, import)
            .await?
        {
            if let Some(want) = import_id.filter(|w| *w != found.schema.id) {
                return Err(ServiceError::IdMismatch {
                    wanted: want,
                    existing: Some(found.schema.id),
                });
            }
            return Ok(found);
        }

        let version = match (import, req.version.filter(|v| *v > 0)) {
            (true, Some(v)) => {
                if v > i32::MAX as i64 {
                    return Err(ServiceError::InvalidVersion {
                        given: v.to_string(),
                    });
                }
                if let Some(r) = rows.iter().find(|r| r.version == v) {
                    return Err(ServiceError::VersionExists {
                        subject: subject.to_string(),
                        version: v,
                        schema_id: r.schema_id,
                    });
                }
                v
            }
            _ => rows.iter().map(|r| r.version).max().unwrap_or(0) + 1,
        };

        // the data contract of the new version
        let sent_metadata = non_empty_metadata(req.metadata.clone());
        let sent_rules = non_empty_rules(req.rule_set.clone());
        let (mut metadata, rule_set) = if import {
            (sent_metadata.clone(), sent_rules.clone())
        } else {
            let prev = ctx.latest.as_deref();
            effective_contract(
                &ctx.config,
                (sent_metadata.as_ref(), sent_rules.as_ref()),
                (
                    prev.and_then(|p| p.metadata.as_ref()),
                    prev.and_then(|p| p.rule_set.as_ref()),
                ),
            )
        };
        let mut problems = Vec::new();
        if !import {
            if let Some(v) = confluent_version(sent_metadata.as_ref())? {
                if v > 0 && v != version {
                    problems.push(format!(
                        "Version {v} in {} is not one more than the previous version ({})",
                        evc_registry_api::CONFLUENT_VERSION,
                        version - 1
                    ));
                }
            }
            stamp_version(&mut metadata, version);
        }
        let identity = c.canon.identity(metadata.as_ref(), rule_set.as_ref());
        let same = store::ids_by_identity(&mut tx, &identity).await?;

        let id = if let Some(want) = import_id {
            // IMPORT: the given id, no compatibility check (as Confluent); the same schema may
            // have several ids, but an id holds one schema
            if !same.contains(&want) && store::schema(&mut tx, want).await?.is_some() {
                return Err(ServiceError::IdInUse { id: want });
            }
            want
        } else {
            if ctx.config.validate_fields == Some(true) {
                problems.extend(reserved_field_problems(
                    &c.schema,
                    metadata.as_ref(),
                    ctx.latest.as_deref().and_then(|p| p.metadata.as_ref()),
                ));
            }
            let mut candidates = ctx.live.clone();
            if let Some(group) = ctx.config.compatibility_group.as_deref() {
                // only versions with the same value of the group property (which may be none)
                let mine = group_value(metadata.as_ref(), group).map(str::to_string);
                let mut kept = Vec::new();
                for v in candidates {
                    let s = self.schema_cached(&mut tx, v.schema_id).await?;
                    if group_value(s.metadata.as_ref(), group).map(str::to_string) == mine {
                        kept.push(v);
                    }
                }
                candidates = kept;
            }
            let chosen = against(ctx.level, &candidates).to_vec();
            problems.extend(
                self.check_against(&mut tx, ctx.level, &c.schema, &chosen)
                    .await?,
            );
            if !problems.is_empty() {
                return Err(ServiceError::Incompatible {
                    subject: subject.to_string(),
                    level: ctx.level,
                    problems,
                });
            }
            match same.first() {
                Some(id) => *id,
                None => store::max_id(&mut tx).await? + 1,
            }
        };

        let schema = Arc::new(SchemaRow {
            id,
            schema_type: c.canon.schema_type,
            text: c.canon.text,
            refs: c.canon.refs,
            metadata,
            rule_set,
        });
        if !same.contains(&id) {
            store::insert_schema(&mut tx, &schema, &identity, same.is_empty()).await?;
        }
        store::insert_version(&mut tx, subject, version, id).await?;
        self.commit(tx).await?;
        tracing::info!(subject, version, id, "registered schema");
        Ok(VersionInfo {
            subject: subject.to_string(),
            version,
            schema,
        })
    }

    /// The live version of `subject` that already holds this schema, if any (read only).
    async fn registered_already(
        &self,
        subject: &str,
        req: &RegisterSchemaRequest,
        normalize: bool,
    ) -> Result<Option<VersionInfo>, ServiceError> {
        let mut tx = self.read().await?;
        if Self::check_subject_writable(&mut tx, subject).await? == Mode::Import {
            return Ok(None);
        }
        let (ctx, _) = self.context(&mut tx, subject).await?;
        if ctx.live.is_empty() {
            return Ok(None);
        }
        let normalize = normalize || ctx.config.normalize == Some(true);
        let canon = self.canonical(&mut tx, req, normalize).await?;
        self.existing_version(&mut tx, subject, &canon, req, &ctx, false)
            .await
    }

    /// Refuses a delete of `subject` `version` while schemas reference it.
    async fn check_unreferenced(
        tx: &mut Tx,
        subject: &str,
        version: i64,
        include_deleted: bool,
    ) -> Result<(), ServiceError> {
        let by = store::referencing(tx, subject, version, include_deleted).await?;
        if by.is_empty() {
            return Ok(());
        }
        Err(ServiceError::ReferenceExists {
            subject: subject.to_string(),
            version,
            by,
        })
    }

    /// `DELETE /subjects/{subject}`: answers the deleted versions.
    pub(crate) async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i64>, ServiceError> {
        let mut tx = self.write().await?;
        Self::check_subject_writable(&mut tx, subject).await?;
        let rows = store::versions(&mut tx, subject).await?;
        if rows.is_empty() {
            return Err(ServiceError::SubjectNotFound {
                subject: subject.to_string(),
            });
        }
        let live: Vec<i64> = rows
            .iter()
            .filter(|r| !r.deleted)
            .map(|r| r.version)
            .collect();
        if !permanent {
            if live.is_empty() {
                return Err(ServiceError::SubjectSoftDeleted {
                    subject: subject.to_string(),
                });
            }
            for v in &live {
                Self::check_unreferenced(&mut tx, subject, *v, false).await?;
            }
            store::soft_delete(&mut tx, subject, None).await?;
            self.commit(tx).await?;
            tracing::info!(subject, versions = ?live, "soft-deleted subject");
            Ok(live)
        } else {
            if !live.is_empty() {
                return Err(ServiceError::SubjectNotSoftDeleted {
                    subject: subject.to_string(),
                });
            }
            let all: Vec<i64> = rows.iter().map(|r| r.version).collect();
            for v in &all {
                Self::check_unreferenced(&mut tx, subject, *v, true).await?;
            }
            store::hard_delete(&mut tx, subject, None).await?;
            self.commit(tx).await?;
            tracing::info!(subject, versions = ?all, "permanently deleted subject");
            Ok(all)
        }
    }

    /// `DELETE /subjects/{subject}/versions/{version}`: answers the deleted version.
    pub(crate) async fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<i64, ServiceError> {
        let mut tx = self.write().await?;
        Self::check_subject_writable(&mut tx, subject).await?;
        let rows = store::versions(&mut tx, subject).await?;
        let row = match spec {
            // the latest live version; a permanent delete may name a soft-deleted one
            VersionSpec::Latest => pick(subject, &rows, spec, permanent)?,
            VersionSpec::Number(n) => match rows.iter().find(|r| r.version == n) {
                Some(r) => *r,
                None if rows.is_empty() => {
                    return Err(ServiceError::SubjectNotFound {
                        subject: subject.to_string(),
                    })
                }
                None => {
                    return Err(ServiceError::VersionNotFound {
                        subject: subject.to_string(),
                        version: n,
                    })
                }
            },
        };
        let v = row.version;
        if !permanent {
            if row.deleted {
                return Err(ServiceError::VersionSoftDeleted {
                    subject: subject.to_string(),
                    version: v,
                });
            }
            Self::check_unreferenced(&mut tx, subject, v, false).await?;
            store::soft_delete(&mut tx, subject, Some(v)).await?;
        } else {
            if !row.deleted {
                return Err(ServiceError::VersionNotSoftDeleted {
                    subject: subject.to_string(),
                    version: v,
                });
            }
            Self::check_unreferenced(&mut tx, subject, v, true).await?;
            store::hard_delete(&mut tx, subject, Some(v)).await?;
        }
        self.commit(tx).await?;
        tracing::info!(subject, version = v, permanent, "deleted version");
        Ok(v)
    }
}
