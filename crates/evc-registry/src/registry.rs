//! The registry's operations: what each REST call does to the store, Confluent's semantics.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use evc_schema::json;
use evc_schema::{ParseOptions, Schema};
use serde::Deserialize;

use crate::canon::{canonical_text, identity_hash, normalized_text, Reference};
use crate::compat::{against, CompatChecker, CompatLevel, EvcCompat, Mode};
use crate::db::{args, Db, Tx};
use crate::error::ApiError;
use crate::{BasicAuth, Error, Limits, ServerConfig};

/// How deep references may chain (a references b references c ...).
const MAX_REFERENCE_DEPTH: usize = 32;

/// The only schema type this registry stores.
pub(crate) const AVRO: &str = "AVRO";

/// The body of register, lookup and compatibility requests.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SchemaRequest {
    pub schema: Option<String>,
    #[serde(rename = "schemaType")]
    pub schema_type: Option<String>,
    pub references: Option<Vec<Reference>>,
    /// Honoured only in IMPORT mode.
    pub id: Option<i64>,
    /// Honoured only in IMPORT mode.
    pub version: Option<i64>,
}

/// A version selector from a URL: `latest`/`-1` or a number in 1..=2^31-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionSpec {
    Latest,
    Number(i64),
}

impl VersionSpec {
    pub fn parse(s: &str) -> Result<VersionSpec, ApiError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("latest") {
            return Ok(VersionSpec::Latest);
        }
        match t.parse::<i64>() {
            Ok(-1) => Ok(VersionSpec::Latest),
            Ok(n) if (1..=i32::MAX as i64).contains(&n) => Ok(VersionSpec::Number(n)),
            _ => Err(ApiError::invalid_version(s)),
        }
    }
}

/// A stored schema.
#[derive(Debug, Clone)]
pub(crate) struct SchemaInfo {
    pub id: i64,
    pub schema_type: String,
    pub text: String,
    pub refs: Vec<Reference>,
}

/// A subject version with its schema.
#[derive(Debug, Clone)]
pub(crate) struct VersionInfo {
    pub subject: String,
    pub version: i64,
    pub schema: SchemaInfo,
}

/// A version row.
#[derive(Debug, Clone, Copy)]
struct VRow {
    version: i64,
    schema_id: i64,
    deleted: bool,
}

/// A parsed, canonicalised submission.
struct Candidate {
    schema: Schema,
    schema_type: String,
    text: String,
    refs: Vec<Reference>,
    hash: String,
    /// With `normalize=true`, the hash of the un-normalised text too (lookups accept either).
    plain_hash: Option<String>,
}

/// The identity hashes of a candidate schema (see [`Candidate`]).
#[derive(Debug, Clone)]
struct Identity {
    hash: String,
    plain_hash: Option<String>,
}

/// Bound on cached identities; the cache starts over when it is full.
const IDENTITY_CACHE: usize = 10_000;

/// A registry: storage plus settings. Cheap to clone; share one per server.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    /// Schemas by id. A schema's text never changes once it has an id, so only a permanent
    /// delete (which can make an id unknown) clears it.
    by_id: std::sync::RwLock<std::collections::HashMap<i64, SchemaInfo>>,
    /// Identity hashes of reference-free schema texts as requests send them: parsing and
    /// canonicalizing is most of a look-up's cost, and the answer depends on the text alone.
    identities: std::sync::RwLock<std::collections::HashMap<(String, String, bool), Identity>>,
    read_only: bool,
    limits: Limits,
    auth: Option<Arc<BasicAuth>>,
    checker: Box<dyn CompatChecker>,
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Registry {
    /// Opens (and if needed creates) the storage named by `config.storage`.
    pub async fn open(config: &ServerConfig) -> Result<Registry, Error> {
        let db = Db::open(&config.storage).await?;
        Ok(Registry {
            inner: Arc::new(Inner {
                db,
                by_id: Default::default(),
                identities: Default::default(),
                read_only: config.read_only,
                limits: config.limits.clone().clamped(),
                auth: config.auth.clone().map(Arc::new),
                checker: Box::new(EvcCompat),
            }),
        })
    }

    /// Closes the storage's connections.
    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub(crate) fn auth(&self) -> Option<Arc<BasicAuth>> {
        self.inner.auth.clone()
    }

    pub(crate) async fn ping(&self) -> Result<(), ApiError> {
        Ok(self.inner.db.ping().await?)
    }

    fn check_writable(&self) -> Result<(), ApiError> {
        if self.inner.read_only {
            return Err(ApiError::not_permitted(
                "This registry server is read-only: writes are not permitted",
            ));
        }
        Ok(())
    }

    // ----- small queries ---------------------------------------------------------------------

    async fn versions(tx: &mut Tx, subject: &str) -> Result<Vec<VRow>, ApiError> {
        let rows = tx
            .rows(
                "SELECT version, schema_id, deleted FROM evc_versions WHERE subject = $1 ORDER BY version",
                &args![subject],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(VRow {
                    version: r.i64(0)?,
                    schema_id: r.i64(1)?,
                    deleted: r.i64(2)? != 0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(ApiError::from)
    }

    async fn schema_row(tx: &mut Tx, id: i64) -> Result<Option<SchemaInfo>, ApiError> {
        let Some(r) = tx
            .row(
                "SELECT schema_type, schema_text, refs_json FROM evc_schemas WHERE id = $1",
                &args![id],
            )
            .await?
        else {
            return Ok(None);
        };
        let refs: Vec<Reference> = serde_json::from_str(&r.str(2)?).map_err(|e| {
            tracing::error!(id, error = %e, "stored references do not parse");
            ApiError::new(
                50001,
                format!("stored references of schema {id} are corrupt"),
            )
        })?;
        Ok(Some(SchemaInfo {
            id,
            schema_type: r.str(0)?,
            text: r.str(1)?,
            refs,
        }))
    }

    async fn schema_of(tx: &mut Tx, id: i64) -> Result<SchemaInfo, ApiError> {
        Self::schema_row(tx, id).await?.ok_or_else(|| {
            tracing::error!(id, "a version points at a missing schema row");
            ApiError::new(50001, format!("schema {id} is missing from the store"))
        })
    }

    async fn config_row(
        tx: &mut Tx,
        scope: &str,
    ) -> Result<(Option<String>, Option<String>), ApiError> {
        Ok(
            match tx
                .row(
                    "SELECT compatibility, mode FROM evc_config WHERE scope = $1",
                    &args![scope],
                )
                .await?
            {
                Some(r) => (r.opt_str(0)?, r.opt_str(1)?),
                None => (None, None),
            },
        )
    }

    async fn global_level(tx: &mut Tx) -> Result<CompatLevel, ApiError> {
        let (c, _) = Self::config_row(tx, "").await?;
        Ok(c.as_deref()
            .and_then(CompatLevel::parse)
            .unwrap_or(CompatLevel::Backward))
    }

    /// The subject's level, else the global one, else BACKWARD.
    async fn level(tx: &mut Tx, subject: &str) -> Result<CompatLevel, ApiError> {
        let (c, _) = Self::config_row(tx, subject).await?;
        match c.as_deref().and_then(CompatLevel::parse) {
            Some(l) => Ok(l),
            None => Self::global_level(tx).await,
        }
    }

    async fn global_mode(tx: &mut Tx) -> Result<Mode, ApiError> {
        let (_, m) = Self::config_row(tx, "").await?;
        Ok(m.as_deref()
            .and_then(Mode::parse)
            .unwrap_or(Mode::ReadWrite))
    }

    /// The subject's mode, else the global one, else READWRITE.
    async fn effective_mode(tx: &mut Tx, subject: &str) -> Result<Mode, ApiError> {
        let (_, m) = Self::config_row(tx, subject).await?;
        match m.as_deref().and_then(Mode::parse) {
            Some(m) => Ok(m),
            None => Self::global_mode(tx).await,
        }
    }

    async fn check_subject_writable(tx: &mut Tx, subject: &str) -> Result<Mode, ApiError> {
        let mode = Self::effective_mode(tx, subject).await?;
        if mode.is_read_only() {
            return Err(ApiError::not_permitted(format!(
                "Subject {subject} is in read-only mode"
            )));
        }
        Ok(mode)
    }

    /// Schema ids with a version that references `subject` `version` (live versions only, or
    /// soft-deleted ones too).
    async fn referencing(
        tx: &mut Tx,
        subject: &str,
        version: i64,
        include_deleted: bool,
    ) -> Result<Vec<i64>, ApiError> {
        let sql = if include_deleted {
            "SELECT DISTINCT v.schema_id FROM evc_refs r JOIN evc_versions v ON v.schema_id = r.schema_id \
             WHERE r.subject = $1 AND r.version = $2 ORDER BY v.schema_id"
        } else {
            "SELECT DISTINCT v.schema_id FROM evc_refs r JOIN evc_versions v ON v.schema_id = r.schema_id \
             WHERE r.subject = $1 AND r.version = $2 AND v.deleted = 0 ORDER BY v.schema_id"
        };
        let rows = tx.rows(sql, &args![subject, version]).await?;
        rows.iter()
            .map(|r| r.i64(0))
            .collect::<Result<_, _>>()
            .map_err(ApiError::from)
    }

    // ----- parsing ---------------------------------------------------------------------------

    /// Parses a stored schema, with its references (recursively).
    fn load_parsed<'a>(
        &'a self,
        tx: &'a mut Tx,
        id: i64,
        depth: usize,
    ) -> BoxFut<'a, Result<Schema, ApiError>> {
        Box::pin(async move {
            if depth > MAX_REFERENCE_DEPTH {
                return Err(ApiError::invalid_schema(format!(
                    "schema references nest deeper than {MAX_REFERENCE_DEPTH} levels"
                )));
            }
            let info = Self::schema_of(tx, id).await?;
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
                ApiError::new(
                    50001,
                    format!("stored schema {id} does not parse: {}", e.message),
                )
            })
        })
    }

    /// The schema id a (resolved) reference points at.
    async fn reference_target(tx: &mut Tx, r: &Reference) -> Result<i64, ApiError> {
        let row = tx
            .row(
                "SELECT schema_id FROM evc_versions WHERE subject = $1 AND version = $2",
                &args![r.subject.as_str(), r.version],
            )
            .await?;
        match row {
            Some(row) => Ok(row.i64(0)?),
            None => Err(ApiError::invalid_schema(format!(
                "Invalid schema reference {}: subject '{}' version {} not found",
                r.name, r.subject, r.version
            ))),
        }
    }

    /// Validates and canonicalises a submission, resolving its references.
    async fn prepare(
        &self,
        tx: &mut Tx,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<Candidate, ApiError> {
        let schema_type = match req.schema_type.as_deref().map(str::trim) {
            None | Some("") => AVRO.to_string(),
            Some(t) if t.eq_ignore_ascii_case(AVRO) => AVRO.to_string(),
            Some(t) if t.eq_ignore_ascii_case("PROTOBUF") || t.eq_ignore_ascii_case("JSON") => {
                return Err(ApiError::invalid_schema(format!(
                    "Schema type {} is not supported by this registry: only AVRO schemas can be registered",
                    t.to_ascii_uppercase()
                )))
            }
            Some(t) => {
                return Err(ApiError::invalid_schema(format!(
                    "Unknown schema type '{t}': this registry supports AVRO"
                )))
            }
        };
        let text = match req.schema.as_deref() {
            Some(t) if !t.trim().is_empty() => t,
            _ => return Err(ApiError::invalid_schema("Empty schema")),
        };
        let limits = &self.inner.limits;
        if text.len() > limits.max_schema_bytes {
            return Err(ApiError::invalid_schema(format!(
                "Schema too large: {} bytes, the limit is {} bytes",
                text.len(),
                limits.max_schema_bytes
            )));
        }

        // references: resolve `-1` to the latest version, load each referenced schema
        let mut refs = Vec::new();
        let mut deps = Vec::new();
        for r in req.references.iter().flatten() {
            if r.name.trim().is_empty() || r.subject.trim().is_empty() {
                return Err(ApiError::invalid_schema(
                    "Invalid schema reference: name and subject must not be empty",
                ));
            }
            let version = if r.version == -1 {
                let rows = Self::versions(tx, &r.subject).await?;
                match rows.iter().rev().find(|v| !v.deleted) {
                    Some(v) => v.version,
                    None => {
                        return Err(ApiError::invalid_schema(format!(
                            "Invalid schema reference {}: subject '{}' has no versions",
                            r.name, r.subject
                        )))
                    }
                }
            } else if r.version >= 1 {
                r.version
            } else {
                return Err(ApiError::invalid_schema(format!(
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
            ApiError::invalid_schema(format!(
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
            ApiError::invalid_schema(format!("Invalid schema: {}{at}", e.message))
        })?;
        let plain = canonical_text(&doc);
        let (text, plain_hash) = if normalize {
            match normalized_text(&schema, !refs.is_empty(), limits.max_depth) {
                Some(n) if n != plain => (n, Some(identity_hash(&schema_type, &plain, &refs))),
                _ => (plain, None),
            }
        } else {
            (plain, None)
        };
        let hash = identity_hash(&schema_type, &text, &refs);
        Ok(Candidate {
            schema,
            schema_type,
            text,
            refs,
            hash,
            plain_hash,
        })
    }

    async fn id_by_hash(tx: &mut Tx, hash: &str) -> Result<Option<i64>, ApiError> {
        Ok(
            match tx
                .row("SELECT id FROM evc_schemas WHERE hash = $1", &args![hash])
                .await?
            {
                Some(r) => Some(r.i64(0)?),
                None => None,
            },
        )
    }

    async fn check_against(
        &self,
        tx: &mut Tx,
        level: CompatLevel,
        new: &Schema,
        targets: &[VRow],
    ) -> Result<Vec<String>, ApiError> {
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

    // ----- operations ------------------------------------------------------------------------

    /// `POST /subjects/{subject}/versions`.
    pub(crate) async fn register(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<VersionInfo, ApiError> {
        self.check_writable()?;
        let import_id = req.id.filter(|i| *i > 0);
        // Most registrations repeat one already made (producers register on start): answer
        // those from a read transaction, without queueing behind the writers.
        if import_id.is_none() {
            if let Some(found) = self.registered_already(subject, req, normalize).await? {
                return Ok(found);
            }
        }
        let mut tx = self.inner.db.write().await?;
        let mode = Self::check_subject_writable(&mut tx, subject).await?;
        match mode {
            Mode::Import if import_id.is_none() => {
                return Err(ApiError::not_permitted(format!(
                    "Subject {subject} is in IMPORT mode: a schema id must be given"
                )))
            }
            Mode::ReadWrite if import_id.is_some() => {
                return Err(ApiError::not_permitted(format!(
                    "Subject {subject} is not in IMPORT mode: a schema id can only be given in IMPORT mode"
                )))
            }
            _ => {}
        }
        if let Some(id) = import_id {
            if id > i32::MAX as i64 {
                return Err(ApiError::invalid_schema(format!(
                    "Schema id {id} is out of range (1..2^31-1)"
                )));
            }
        }
        let c = self.prepare(&mut tx, req, normalize).await?;
        let rows = Self::versions(&mut tx, subject).await?;
        let existing_id = Self::id_by_hash(&mut tx, &c.hash).await?;

        // Already registered in this subject: answer the existing id and version.
        if let Some(id) = existing_id {
            if let Some(v) = rows.iter().find(|r| !r.deleted && r.schema_id == id) {
                if let Some(want) = import_id {
                    if want != id {
                        return Err(ApiError::id_mismatch(format!(
                            "Schema is already registered with id {id}, not {want}"
                        )));
                    }
                }
                let schema = Self::schema_of(&mut tx, id).await?;
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
                    return Err(ApiError::id_mismatch(format!(
                        "Schema is already registered with id {id}, not {want}"
                    )))
                }
                Some(id) => id,
                None => {
                    if Self::schema_row(&mut tx, want).await?.is_some() {
                        return Err(ApiError::id_mismatch(format!(
                            "Schema id {want} is already used by a different schema"
                        )));
                    }
                    want
                }
            }
        } else {
            let level = Self::level(&mut tx, subject).await?;
            let live: Vec<VRow> = rows.iter().filter(|r| !r.deleted).copied().collect();
            let chosen = against(level, &live).to_vec();
            let problems = self
                .check_against(&mut tx, level, &c.schema, &chosen)
                .await?;
            if !problems.is_empty() {
                return Err(ApiError::incompatible(format!(
                    "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}] (compatibility: {level})",
                    problems.join("; ")
                )));
            }
            match existing_id {
                Some(id) => id,
                None => tx
                    .row("SELECT COALESCE(MAX(id), 0) + 1 FROM evc_schemas", &[])
                    .await?
                    .map(|r| r.i64(0))
                    .transpose()?
                    .unwrap_or(1),
            }
        };

        if existing_id.is_none() {
            let refs_json = serde_json::to_string(&c.refs).unwrap_or_else(|_| "[]".into());
            tx.exec(
                "INSERT INTO evc_schemas (id, hash, schema_type, schema_text, refs_json) VALUES ($1, $2, $3, $4, $5)",
                &args![id, c.hash.as_str(), c.schema_type.as_str(), c.text.as_str(), refs_json],
            )
            .await?;
            for (i, r) in c.refs.iter().enumerate() {
                tx.exec(
                    "INSERT INTO evc_refs (schema_id, position, name, subject, version) VALUES ($1, $2, $3, $4, $5)",
                    &args![id, i as i64, r.name.as_str(), r.subject.as_str(), r.version],
                )
                .await?;
            }
        }

        let version = match (mode, req.version.filter(|v| *v > 0)) {
            (Mode::Import, Some(v)) => {
                if v > i32::MAX as i64 {
                    return Err(ApiError::invalid_version(&v.to_string()));
                }
                if let Some(r) = rows.iter().find(|r| r.version == v) {
                    return Err(ApiError::not_permitted(format!(
                        "Version {v} of subject {subject} already exists (schema id {})",
                        r.schema_id
                    )));
                }
                v
            }
            _ => rows.iter().map(|r| r.version).max().unwrap_or(0) + 1,
        };
        tx.exec(
            "INSERT INTO evc_versions (subject, version, schema_id, deleted) VALUES ($1, $2, $3, 0)",
            &args![subject, version, id],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(subject, version, id, "registered schema");
        Ok(VersionInfo {
            subject: subject.to_string(),
            version,
            schema: SchemaInfo {
                id,
                schema_type: c.schema_type,
                text: c.text,
                refs: c.refs,
            },
        })
    }

    /// `POST /subjects/{subject}`: is this schema registered under the subject?
    /// The live version of `subject` that already holds this schema, if any (read only).
    async fn registered_already(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<Option<VersionInfo>, ApiError> {
        let mut tx = self.inner.db.read().await?;
        if Self::check_subject_writable(&mut tx, subject).await? == Mode::Import {
            return Ok(None);
        }
        let c = self.identity(&mut tx, req, normalize).await?;
        let Some(id) = Self::id_by_hash(&mut tx, &c.hash).await? else {
            return Ok(None);
        };
        let rows = Self::versions(&mut tx, subject).await?;
        let Some(v) = rows.iter().find(|r| !r.deleted && r.schema_id == id) else {
            return Ok(None);
        };
        let schema = Self::schema_of(&mut tx, id).await?;
        Ok(Some(VersionInfo {
            subject: subject.to_string(),
            version: v.version,
            schema,
        }))
    }

    /// The identity of a requested schema, from the cache when it has no references.
    async fn identity(
        &self,
        tx: &mut Tx,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<Identity, ApiError> {
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
            if let Some(hit) = self.inner.identities.read().expect("cache lock").get(k) {
                return Ok(hit.clone());
            }
        }
        let c = self.prepare(tx, req, normalize).await?;
        let id = Identity {
            hash: c.hash,
            plain_hash: c.plain_hash,
        };
        if let Some(k) = key {
            let mut cache = self.inner.identities.write().expect("cache lock");
            if cache.len() >= IDENTITY_CACHE {
                cache.clear();
            }
            cache.insert(k, id.clone());
        }
        Ok(id)
    }

    pub(crate) async fn lookup(
        &self,
        subject: &str,
        req: &SchemaRequest,
        normalize: bool,
        deleted: bool,
    ) -> Result<VersionInfo, ApiError> {
        let mut tx = self.inner.db.read().await?;
        let rows = Self::versions(&mut tx, subject).await?;
        let visible: Vec<VRow> = rows.into_iter().filter(|r| deleted || !r.deleted).collect();
        if visible.is_empty() {
            return Err(ApiError::subject_not_found(subject));
        }
        let c = self.identity(&mut tx, req, normalize).await?;
        for hash in std::iter::once(&c.hash).chain(c.plain_hash.as_ref()) {
            let Some(id) = Self::id_by_hash(&mut tx, hash).await? else {
                continue;
            };
            // prefer a live version, then the latest
            let found = visible
                .iter()
                .filter(|r| r.schema_id == id)
                .max_by_key(|r| (!r.deleted, r.version));
            if let Some(r) = found {
                let schema = Self::schema_of(&mut tx, id).await?;
                return Ok(VersionInfo {
                    subject: subject.to_string(),
                    version: r.version,
                    schema,
                });
            }
        }
        Err(ApiError::schema_not_found())
    }

    /// `GET /subjects`.
    pub(crate) async fn subjects(
        &self,
        prefix: Option<&str>,
        deleted: bool,
        deleted_only: bool,
    ) -> Result<Vec<String>, ApiError> {
        let mut tx = self.inner.db.read().await?;
        let rows = tx
            .rows(
                "SELECT subject, MIN(deleted) FROM evc_versions GROUP BY subject ORDER BY subject",
                &[],
            )
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let subject = r.str(0)?;
            let all_deleted = r.i64(1)? != 0;
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

    /// `GET /subjects/{subject}/versions`.
    pub(crate) async fn subject_versions(
        &self,
        subject: &str,
        deleted: bool,
        deleted_only: bool,
    ) -> Result<Vec<i64>, ApiError> {
        let mut tx = self.inner.db.read().await?;
        let rows = Self::versions(&mut tx, subject).await?;
        if rows.is_empty() || (!deleted && !deleted_only && rows.iter().all(|r| r.deleted)) {
            return Err(ApiError::subject_not_found(subject));
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
            .map(|r| r.version)
            .collect())
    }

    /// Finds the version row a selector names, among visible rows.
    fn pick(
        subject: &str,
        rows: &[VRow],
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<VRow, ApiError> {
        let visible: Vec<&VRow> = rows.iter().filter(|r| deleted || !r.deleted).collect();
        if visible.is_empty() {
            return Err(ApiError::subject_not_found(subject));
        }
        match spec {
            VersionSpec::Latest => Ok(**visible.last().expect("not empty")),
            VersionSpec::Number(n) => visible
                .iter()
                .find(|r| r.version == n)
                .map(|r| **r)
                .ok_or_else(|| ApiError::version_not_found(n)),
        }
    }

    /// `GET /subjects/{subject}/versions/{version}`.
    pub(crate) async fn version(
        &self,
        subject: &str,
        spec: VersionSpec,
        deleted: bool,
    ) -> Result<VersionInfo, ApiError> {
        let mut tx = self.inner.db.read().await?;
        let rows = Self::versions(&mut tx, subject).await?;
        let row = Self::pick(subject, &rows, spec, deleted)?;
        let schema = Self::schema_of(&mut tx, row.schema_id).await?;
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
    ) -> Result<Vec<i64>, ApiError> {
        let mut tx = self.inner.db.read().await?;
        let rows = Self::versions(&mut tx, subject).await?;
        let row = Self::pick(subject, &rows, spec, deleted)?;
        Self::referencing(&mut tx, subject, row.version, deleted).await
    }

    /// `DELETE /subjects/{subject}`.
    pub(crate) async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<i64>, ApiError> {
        self.check_writable()?;
        let mut tx = self.inner.db.write().await?;
        Self::check_subject_writable(&mut tx, subject).await?;
        let rows = Self::versions(&mut tx, subject).await?;
        if rows.is_empty() {
            return Err(ApiError::subject_not_found(subject));
        }
        let live: Vec<i64> = rows
            .iter()
            .filter(|r| !r.deleted)
            .map(|r| r.version)
            .collect();
        if !permanent {
            if live.is_empty() {
                return Err(ApiError::subject_soft_deleted(subject));
            }
            for v in &live {
                let by = Self::referencing(&mut tx, subject, *v, false).await?;
                if !by.is_empty() {
                    return Err(ApiError::reference_exists(format!(
                        "One or more references exist to the schema {{subject={subject}, version={v}}}: schema ids {by:?}"
                    )));
                }
            }
            tx.exec(
                "UPDATE evc_versions SET deleted = 1 WHERE subject = $1 AND deleted = 0",
                &args![subject],
            )
            .await?;
            tx.commit().await?;
            tracing::info!(subject, versions = ?live, "soft-deleted subject");
            Ok(live)
        } else {
            if !live.is_empty() {
                return Err(ApiError::subject_not_soft_deleted(subject));
            }
            let all: Vec<i64> = rows.iter().map(|r| r.version).collect();
            for v in &all {
                let by = Self::referencing(&mut tx, subject, *v, true).await?;
                if !by.is_empty() {
                    return Err(ApiError::reference_exists(format!(
                        "One or more references exist to the schema {{subject={subject}, version={v}}}: schema ids {by:?}"
                    )));
                }
            }
            tx.exec(
                "DELETE FROM evc_versions WHERE subject = $1",
                &args![subject],
            )
            .await?;
            tx.exec("DELETE FROM evc_config WHERE scope = $1", &args![subject])
                .await?;
            tx.commit().await?;
            self.forget_ids();
            tracing::info!(subject, versions = ?all, "permanently deleted subject");
            Ok(all)
        }
    }

    /// `DELETE /subjects/{subject}/versions/{version}`.
    pub(crate) async fn delete_version(
        &self,
        subject: &str,
        spec: VersionSpec,
        permanent: bool,
    ) -> Result<i64, ApiError> {
        self.check_writable()?;
        let mut tx = self.inner.db.write().await?;
        Self::check_subject_writable(&mut tx, subject).await?;
        let rows = Self::versions(&mut tx, subject).await?;
        if rows.is_empty() {
            return Err(ApiError::subject_not_found(subject));
        }
        let row = match spec {
            VersionSpec::Latest => {
                let mut candidates = rows.iter().filter(|r| permanent || !r.deleted);
                match candidates.next_back() {
                    Some(r) => *r,
                    None => return Err(ApiError::subject_not_found(subject)),
                }
            }
            VersionSpec::Number(n) => match rows.iter().find(|r| r.version == n) {
                Some(r) => *r,
                None => return Err(ApiError::version_not_found(n)),
            },
        };
        let v = row.version;
        if !permanent {
            if row.deleted {
                return Err(ApiError::version_soft_deleted(subject, v));
            }
            let by = Self::referencing(&mut tx, subject, v, false).await?;
            if !by.is_empty() {
                return Err(ApiError::reference_exists(format!(
                    "One or more references exist to the schema {{subject={subject}, version={v}}}: schema ids {by:?}"
                )));
            }
            tx.exec(
                "UPDATE evc_versions SET deleted = 1 WHERE subject = $1 AND version = $2",
                &args![subject, v],
            )
            .await?;
        } else {
            if !row.deleted {
                return Err(ApiError::version_not_soft_deleted(subject, v));
            }
            let by = Self::referencing(&mut tx, subject, v, true).await?;
            if !by.is_empty() {
                return Err(ApiError::reference_exists(format!(
                    "One or more references exist to the schema {{subject={subject}, version={v}}}: schema ids {by:?}"
                )));
            }
            tx.exec(
                "DELETE FROM evc_versions WHERE subject = $1 AND version = $2",
                &args![subject, v],
            )
            .await?;
        }
        tx.commit().await?;
        if permanent {
            self.forget_ids();
        }
        tracing::info!(subject, version = v, permanent, "deleted version");
        Ok(v)
    }

    /// `GET /schemas/ids/{id}`: the schema, while at least one version (even soft-deleted)
    /// uses it.
    pub(crate) async fn schema_by_id(&self, id: i64) -> Result<SchemaInfo, ApiError> {
        if let Some(hit) = self.inner.by_id.read().expect("cache lock").get(&id) {
            return Ok(hit.clone());
        }
        let found = self.schema_by_id_uncached(id).await?;
        self.inner
            .by_id
            .write()
            .expect("cache lock")
            .insert(id, found.clone());
        Ok(found)
    }

    fn forget_ids(&self) {
        self.inner.by_id.write().expect("cache lock").clear();
    }

    async fn schema_by_id_uncached(&self, id: i64) -> Result<SchemaInfo, ApiError> {
        let mut tx = self.inner.db.read().await?;
        let used = tx
            .row(
                "SELECT COUNT(*) FROM evc_versions WHERE schema_id = $1",
                &args![id],
            )
            .await?
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(0);
        if used == 0 {
            return Err(ApiError::schema_id_not_found(id));
        }
        Self::schema_row(&mut tx, id)
            .await?
            .ok_or_else(|| ApiError::schema_id_not_found(id))
    }

    /// The highest id handed out so far.
    pub(crate) async fn max_id(&self) -> Result<i64, ApiError> {
        let mut tx = self.inner.db.read().await?;
        Ok(tx
            .row("SELECT COALESCE(MAX(id), 0) FROM evc_schemas", &[])
            .await?
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(0))
    }

    /// `GET /schemas/ids/{id}/versions` (and `/subjects`): the subject versions using a schema.
    pub(crate) async fn id_versions(
        &self,
        id: i64,
        deleted: bool,
    ) -> Result<Vec<(String, i64)>, ApiError> {
        let mut tx = self.inner.db.read().await?;
        let rows = tx
            .rows(
                "SELECT subject, version, deleted FROM evc_versions WHERE schema_id = $1 ORDER BY subject, version",
                &args![id],
            )
            .await?;
        if rows.is_empty() {
            return Err(ApiError::schema_id_not_found(id));
        }
        let mut out = Vec::new();
        for r in rows {
            if deleted || r.i64(2)? == 0 {
                out.push((r.str(0)?, r.i64(1)?));
            }
        }
        Ok(out)
    }

    /// `GET /schemas`: every visible subject version with its schema.
    pub(crate) async fn all_versions(
        &self,
        prefix: Option<&str>,
        deleted: bool,
        latest_only: bool,
    ) -> Result<Vec<VersionInfo>, ApiError> {
        let mut tx = self.inner.db.read().await?;
        let rows = tx
            .rows(
                "SELECT v.subject, v.version, v.deleted, s.id, s.schema_type, s.schema_text, s.refs_json \
                 FROM evc_versions v JOIN evc_schemas s ON s.id = v.schema_id ORDER BY v.subject, v.version",
                &[],
            )
            .await?;
        let mut out: Vec<VersionInfo> = Vec::new();
        for r in rows {
            let subject = r.str(0)?;
            if !(deleted || r.i64(2)? == 0) || !prefix.is_none_or(|p| subject.starts_with(p)) {
                continue;
            }
            let info = VersionInfo {
                subject,
                version: r.i64(1)?,
                schema: SchemaInfo {
                    id: r.i64(3)?,
                    schema_type: r.str(4)?,
                    text: r.str(5)?,
                    refs: serde_json::from_str(&r.str(6)?).unwrap_or_default(),
                },
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

    // ----- config and mode -------------------------------------------------------------------

    /// `GET /config` and `GET /config/{subject}`.
    pub(crate) async fn get_config(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<CompatLevel, ApiError> {
        let mut tx = self.inner.db.read().await?;
        match subject {
            None => Self::global_level(&mut tx).await,
            Some(s) => {
                let (c, _) = Self::config_row(&mut tx, s).await?;
                match c.as_deref().and_then(CompatLevel::parse) {
                    Some(l) => Ok(l),
                    None if default_to_global => Self::global_level(&mut tx).await,
                    None => Err(ApiError::no_subject_compat(s)),
                }
            }
        }
    }

    /// `PUT /config[/{subject}]`.
    pub(crate) async fn set_config(
        &self,
        subject: Option<&str>,
        level: CompatLevel,
    ) -> Result<(), ApiError> {
        self.check_writable()?;
        let mut tx = self.inner.db.write().await?;
        tx.exec(
            "INSERT INTO evc_config (scope, compatibility) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET compatibility = excluded.compatibility",
            &args![subject.unwrap_or(""), level.as_str()],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(scope = subject.unwrap_or("<global>"), %level, "compatibility set");
        Ok(())
    }

    /// `DELETE /config[/{subject}]`: answers the level that was in force.
    pub(crate) async fn delete_config(
        &self,
        subject: Option<&str>,
    ) -> Result<CompatLevel, ApiError> {
        self.check_writable()?;
        let mut tx = self.inner.db.write().await?;
        let old = match subject {
            None => Self::global_level(&mut tx).await?,
            Some(s) => {
                let (c, _) = Self::config_row(&mut tx, s).await?;
                match c.as_deref().and_then(CompatLevel::parse) {
                    Some(l) => l,
                    None => {
                        if Self::versions(&mut tx, s).await?.is_empty() {
                            return Err(ApiError::subject_not_found(s));
                        }
                        return Err(ApiError::no_subject_compat(s));
                    }
                }
            }
        };
        tx.exec(
            "UPDATE evc_config SET compatibility = NULL WHERE scope = $1",
            &args![subject.unwrap_or("")],
        )
        .await?;
        tx.commit().await?;
        Ok(old)
    }

    /// `GET /mode` and `GET /mode/{subject}`.
    pub(crate) async fn get_mode(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Mode, ApiError> {
        let mut tx = self.inner.db.read().await?;
        match subject {
            None => Self::global_mode(&mut tx).await,
            Some(s) => {
                let (_, m) = Self::config_row(&mut tx, s).await?;
                match m.as_deref().and_then(Mode::parse) {
                    Some(m) => Ok(m),
                    None if default_to_global => Self::global_mode(&mut tx).await,
                    None => Err(ApiError::no_subject_mode(s)),
                }
            }
        }
    }

    /// `PUT /mode[/{subject}]`. Switching to IMPORT where schemas exist needs `force`.
    pub(crate) async fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Mode,
        force: bool,
    ) -> Result<(), ApiError> {
        self.check_writable()?;
        let mut tx = self.inner.db.write().await?;
        if mode == Mode::Import && !force {
            let n = match subject {
                None => tx.row("SELECT COUNT(*) FROM evc_versions", &[]).await?,
                Some(s) => {
                    tx.row(
                        "SELECT COUNT(*) FROM evc_versions WHERE subject = $1",
                        &args![s],
                    )
                    .await?
                }
            }
            .map(|r| r.i64(0))
            .transpose()?
            .unwrap_or(0);
            if n > 0 {
                return Err(ApiError::not_permitted(
                    "Cannot import since found existing subjects (use force=true to switch anyway)",
                ));
            }
        }
        tx.exec(
            "INSERT INTO evc_config (scope, mode) VALUES ($1, $2) \
             ON CONFLICT (scope) DO UPDATE SET mode = excluded.mode",
            &args![subject.unwrap_or(""), mode.as_str()],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(scope = subject.unwrap_or("<global>"), %mode, "mode set");
        Ok(())
    }

    /// `DELETE /mode[/{subject}]`: answers the mode that was in force.
    pub(crate) async fn delete_mode(&self, subject: Option<&str>) -> Result<Mode, ApiError> {
        self.check_writable()?;
        let mut tx = self.inner.db.write().await?;
        let old = match subject {
            None => Self::global_mode(&mut tx).await?,
            Some(s) => {
                let (_, m) = Self::config_row(&mut tx, s).await?;
                match m.as_deref().and_then(Mode::parse) {
                    Some(m) => m,
                    None => {
                        if Self::versions(&mut tx, s).await?.is_empty() {
                            return Err(ApiError::subject_not_found(s));
                        }
                        return Err(ApiError::no_subject_mode(s));
                    }
                }
            }
        };
        tx.exec(
            "UPDATE evc_config SET mode = NULL WHERE scope = $1",
            &args![subject.unwrap_or("")],
        )
        .await?;
        tx.commit().await?;
        Ok(old)
    }

    // ----- compatibility ---------------------------------------------------------------------

    /// `POST /compatibility/subjects/{subject}/versions[/{version}]`: (compatible, messages).
    pub(crate) async fn test_compatibility(
        &self,
        subject: &str,
        spec: Option<VersionSpec>,
        req: &SchemaRequest,
        normalize: bool,
    ) -> Result<(bool, Vec<String>), ApiError> {
        let mut tx = self.inner.db.read().await?;
        let rows = Self::versions(&mut tx, subject).await?;
        let live: Vec<VRow> = rows.into_iter().filter(|r| !r.deleted).collect();
        let level = Self::level(&mut tx, subject).await?;
        let targets: Vec<VRow> = match spec {
            Some(VersionSpec::Number(n)) => match live.iter().find(|r| r.version == n) {
                Some(r) => vec![*r],
                None => return Err(ApiError::version_not_found(n)),
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
