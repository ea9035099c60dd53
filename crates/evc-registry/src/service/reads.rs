//! Reads: look-ups, subjects and versions, schemas by id, compatibility tests.

use evc_registry_api::RegisterSchemaRequest;

use super::{pick, Registry, ServiceError, VersionInfo, VersionSpec};
use crate::compat::against;
use crate::store::{self, SchemaRow, VersionRow};

impl Registry {
    /// `POST /subjects/{subject}`: the version of `subject` holding this schema.
    pub(crate) async fn lookup(
        &self,
        subject: &str,
        req: &RegisterSchemaRequest,
        normalize: bool,
        deleted: bool,
    ) -> Result<VersionInfo, ServiceError> {
        let mut tx = self.read().await?;
        let rows = store::versions(&mut tx, subject).await?;
        let visible: Vec<VersionRow> = rows.into_iter().filter(|r| deleted || !r.deleted).collect();
        if visible.is_empty() {
            return Err(ServiceError::SubjectNotFound {
                subject: subject.to_string(),
            });
        }
        let c = self.identity(&mut tx, req, normalize).await?;
        for hash in std::iter::once(&c.hash).chain(c.plain_hash.as_ref()) {
            let Some(id) = store::id_by_hash(&mut tx, hash).await? else {
                continue;
            };
            // prefer a live version, then the latest
            let found = visible
                .iter()
                .filter(|r| r.schema_id == id)
                .max_by_key(|r| (!r.deleted, r.version));
            if let Some(r) = found {
                let schema = store::schema_of(&mut tx, id).await?;
                return Ok(VersionInfo {
                    subject: subject.to_string(),
                    version: r.version,
                    schema,
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
        let rows = store::versions(&mut tx, subject).await?;
        let row = pick(subject, &rows, spec, deleted)?;
        let schema = store::schema_of(&mut tx, row.schema_id).await?;
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
    pub(crate) async fn schema_by_id(&self, id: i64) -> Result<SchemaRow, ServiceError> {
        if let Some(hit) = self.inner.by_id.read().get(&id) {
            return Ok(hit.clone());
        }
        let mut tx = self.read().await?;
        if store::id_versions(&mut tx, id).await?.is_empty() {
            return Err(ServiceError::SchemaIdNotFound { id });
        }
        let found = store::schema(&mut tx, id)
            .await?
            .ok_or(ServiceError::SchemaIdNotFound { id })?;
        self.inner.by_id.write().insert(id, found.clone());
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
                schema,
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
        let level = Self::level(&mut tx, subject).await?;
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
