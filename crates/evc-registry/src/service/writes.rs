//! Registrations and deletes.

use evc_registry_api::RegisterSchemaRequest;

use super::{pick, Registry, ServiceError, VersionInfo, VersionSpec};
use crate::compat::{against, Mode};
use crate::store::{self, SchemaRow, VersionRow};
use evc_storage::Tx;

impl Registry {
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
        let c = self.prepare(&mut tx, req, normalize).await?;
        let rows = store::versions(&mut tx, subject).await?;
        let existing_id = store::id_by_hash(&mut tx, &c.hash).await?;

        // Already registered in this subject: answer the existing id and version.
        if let Some(id) = existing_id {
            if let Some(v) = rows.iter().find(|r| !r.deleted && r.schema_id == id) {
                if let Some(want) = import_id {
                    if want != id {
                        return Err(ServiceError::IdMismatch {
                            wanted: want,
                            existing: Some(id),
                        });
                    }
                }
                let schema = store::schema_of(&mut tx, id).await?;
                return Ok(VersionInfo {
                    subject: subject.to_string(),
                    version: v.version,
                    schema,
                });
            }
        }

        let id = if let Some(want) = import_id {
            // IMPORT: the given id, no compatibility check (as Confluent)
            match existing_id {
                Some(id) if id != want => {
                    return Err(ServiceError::IdMismatch {
                        wanted: want,
                        existing: Some(id),
                    })
                }
                Some(id) => id,
                None => {
                    if store::schema(&mut tx, want).await?.is_some() {
                        return Err(ServiceError::IdMismatch {
                            wanted: want,
                            existing: None,
                        });
                    }
                    want
                }
            }
        } else {
            let level = Self::level(&mut tx, subject).await?;
            let live: Vec<VersionRow> = rows.iter().filter(|r| !r.deleted).copied().collect();
            let chosen = against(level, &live).to_vec();
            let problems = self
                .check_against(&mut tx, level, &c.schema, &chosen)
                .await?;
            if !problems.is_empty() {
                return Err(ServiceError::Incompatible {
                    subject: subject.to_string(),
                    level,
                    problems,
                });
            }
            match existing_id {
                Some(id) => id,
                None => store::max_id(&mut tx).await? + 1,
            }
        };

        let schema = SchemaRow {
            id,
            schema_type: c.schema_type,
            text: c.text,
            refs: c.refs,
        };
        if existing_id.is_none() {
            store::insert_schema(&mut tx, &schema, &c.hash).await?;
        }

        let version = match (mode, req.version.filter(|v| *v > 0)) {
            (Mode::Import, Some(v)) => {
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
        store::insert_version(&mut tx, subject, version, id).await?;
        tx.commit().await?;
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
        let c = self.identity(&mut tx, req, normalize).await?;
        let Some(id) = store::id_by_hash(&mut tx, &c.hash).await? else {
            return Ok(None);
        };
        let rows = store::versions(&mut tx, subject).await?;
        let Some(v) = rows.iter().find(|r| !r.deleted && r.schema_id == id) else {
            return Ok(None);
        };
        let schema = store::schema_of(&mut tx, id).await?;
        Ok(Some(VersionInfo {
            subject: subject.to_string(),
            version: v.version,
            schema,
        }))
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
            tx.commit().await?;
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
            tx.commit().await?;
            self.forget_ids();
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
        tx.commit().await?;
        if permanent {
            self.forget_ids();
        }
        tracing::info!(subject, version = v, permanent, "deleted version");
        Ok(v)
    }
}
