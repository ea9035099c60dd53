//! Storage: the registry's tables (as versioned migrations) and every SQL statement it runs.
//!
//! The service layer calls these functions inside a transaction of `evc-storage`; nothing here
//! knows Confluent's rules. Types are kept to what both backends share (BIGINT and TEXT; flags
//! are 0/1 integers); statements use `$n` placeholders, which SQLite and PostgreSQL accept.
//!
//! Durability: a transaction is committed before the HTTP answer is sent. SQLite files run in
//! WAL mode with `synchronous=FULL`; PostgreSQL uses its defaults (`synchronous_commit=on`).
//! Writes go through [`evc_storage::Database::serialized`] with the lock name [`WRITE_LOCK`], so
//! any number of server processes sharing one PostgreSQL database agree on ids and versions.

use evc_registry_api::{Config, Metadata, RuleSet};
use evc_storage::{args, Migration, Row, StorageError, Tx};

use crate::service::ServiceError;

/// The component name in `evc_migrations`.
pub(crate) const COMPONENT: &str = "evc-registry";

/// The advisory-lock name serializing writers (on PostgreSQL; SQLite has one writer anyway).
pub(crate) const WRITE_LOCK: &str = "evc-registry";

/// The registry's tables. Migration 1 is the layout from before migrations existed, written
/// with `IF NOT EXISTS` so that those databases are adopted as they are.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "schemas, references, subject versions, config",
        sqlite: V1,
        postgres: V1,
    },
    Migration {
        version: 2,
        name: "data contracts, identity by normalized schema, IMPORT ids, config fields, change counter",
        sqlite: V2,
        postgres: V2,
    },
];

const V1: &str = "
CREATE TABLE IF NOT EXISTS evc_schemas (
    id BIGINT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    schema_type TEXT NOT NULL,
    schema_text TEXT NOT NULL,
    refs_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evc_refs (
    schema_id BIGINT NOT NULL REFERENCES evc_schemas (id),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (schema_id, position)
);
CREATE INDEX IF NOT EXISTS evc_refs_target ON evc_refs (subject, version);
CREATE TABLE IF NOT EXISTS evc_versions (
    subject TEXT NOT NULL,
    version BIGINT NOT NULL,
    schema_id BIGINT NOT NULL REFERENCES evc_schemas (id),
    deleted BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, version)
);
CREATE INDEX IF NOT EXISTS evc_versions_schema ON evc_versions (schema_id);
CREATE UNIQUE INDEX IF NOT EXISTS evc_versions_live ON evc_versions (subject, schema_id) WHERE deleted = 0;
CREATE TABLE IF NOT EXISTS evc_config (
    scope TEXT PRIMARY KEY,
    compatibility TEXT,
    mode TEXT
)";

/// Migration 2.
/// - `identity`: the look-up key (type, normalized text, references, metadata, rule set); not
///   unique, since IMPORT may give one schema several ids. `hash` stays the unique row key: the
///   identity for the first id of a schema, `identity#id` for the others. Rows from before this
///   migration get their identity computed when the registry opens (`NULL` until then).
/// - `metadata_json`, `ruleset_json`: the data contract of a schema (NULL: none).
/// - `evc_config.config_json`: the config fields besides the compatibility level (alias,
///   normalize, validateFields, compatibilityGroup, default/override metadata and rule set).
/// - `evc_changes`: a counter bumped by every write, so other server processes sharing the
///   database know their caches are stale, and the registry's cluster id.
const V2: &str = "
ALTER TABLE evc_schemas ADD COLUMN identity TEXT;
ALTER TABLE evc_schemas ADD COLUMN metadata_json TEXT;
ALTER TABLE evc_schemas ADD COLUMN ruleset_json TEXT;
CREATE INDEX evc_schemas_identity ON evc_schemas (identity);
ALTER TABLE evc_config ADD COLUMN config_json TEXT;
CREATE TABLE evc_changes (
    id BIGINT PRIMARY KEY,
    counter BIGINT NOT NULL,
    cluster_id TEXT
);
INSERT INTO evc_changes (id, counter) VALUES (1, 0)";

/// A schema reference as stored (versions resolved to numbers).
pub(crate) use evc_registry_api::SchemaReference as Reference;

/// A stored schema.
#[derive(Debug, Clone)]
pub(crate) struct SchemaRow {
    pub id: i64,
    pub schema_type: String,
    pub text: String,
    pub refs: Vec<Reference>,
    pub metadata: Option<Metadata>,
    pub rule_set: Option<RuleSet>,
}

/// A subject version row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionRow {
    pub version: i64,
    pub schema_id: i64,
    pub deleted: bool,
}

/// Which per-scope setting a config statement touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    Compatibility,
    Mode,
}

impl Setting {
    fn column(self) -> &'static str {
        match self {
            Setting::Compatibility => "compatibility",
            Setting::Mode => "mode",
        }
    }
}

fn refs_from(id: i64, json: &str) -> Result<Vec<Reference>, ServiceError> {
    serde_json::from_str(json).map_err(|e| {
        tracing::error!(id, error = %e, "stored references do not parse");
        ServiceError::Corrupt {
            what: format!("the references of schema {id}"),
        }
    })
}

fn json_column<T: serde::de::DeserializeOwned>(
    id: i64,
    what: &str,
    text: Option<String>,
) -> Result<Option<T>, ServiceError> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| {
            tracing::error!(id, what, error = %e, "a stored JSON column does not parse");
            ServiceError::Corrupt {
                what: format!("the {what} of schema {id}"),
            }
        })
    })
    .transpose()
}

/// The columns [`schema_from`] reads, in order.
const SCHEMA_COLUMNS: &str = "schema_type, schema_text, refs_json, metadata_json, ruleset_json";

fn schema_from(r: &Row, id: i64, first: usize) -> Result<SchemaRow, ServiceError> {
    Ok(SchemaRow {
        id,
        schema_type: r.str(first)?,
        text: r.str(first + 1)?,
        refs: refs_from(id, &r.str(first + 2)?)?,
        metadata: json_column(id, "metadata", r.opt_str(first + 3)?)?,
        rule_set: json_column(id, "rule set", r.opt_str(first + 4)?)?,
    })
}

fn to_json<T: serde::Serialize>(v: &Option<T>) -> Option<String> {
    v.as_ref().and_then(|v| serde_json::to_string(v).ok())
}

/// A subject's versions, oldest first.
pub(crate) async fn versions(tx: &mut Tx, subject: &str) -> Result<Vec<VersionRow>, ServiceError> {
    let rows = tx
        .rows(
            "SELECT version, schema_id, deleted FROM evc_versions WHERE subject = $1 ORDER BY version",
            &args![subject],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(VersionRow {
                version: r.i64(0)?,
                schema_id: r.i64(1)?,
                deleted: r.i64(2)? != 0,
            })
        })
        .collect::<Result<_, StorageError>>()
        .map_err(ServiceError::from)
}

/// The schema with this id, if the row exists (used or not).
pub(crate) async fn schema(tx: &mut Tx, id: i64) -> Result<Option<SchemaRow>, ServiceError> {
    let sql = format!("SELECT {SCHEMA_COLUMNS} FROM evc_schemas WHERE id = $1");
    match tx.row(&sql, &args![id]).await? {
        Some(r) => Ok(Some(schema_from(&r, id, 0)?)),
        None => Ok(None),
    }
}

/// The schema a version row points at; its absence is corruption.
pub(crate) async fn schema_of(tx: &mut Tx, id: i64) -> Result<SchemaRow, ServiceError> {
    schema(tx, id).await?.ok_or_else(|| {
        tracing::error!(id, "a version points at a missing schema row");
        ServiceError::Corrupt {
            what: format!("schema {id}, which a version points at"),
        }
    })
}

/// One setting of a scope (`""` is the global scope).
pub(crate) async fn setting(
    tx: &mut Tx,
    scope: &str,
    which: Setting,
) -> Result<Option<String>, ServiceError> {
    let sql = format!("SELECT {} FROM evc_config WHERE scope = $1", which.column());
    Ok(match tx.row(&sql, &args![scope]).await? {
        Some(r) => r.opt_str(0)?,
        None => None,
    })
}

/// Sets (or with `None` clears) one setting of a scope.
pub(crate) async fn set_setting(
    tx: &mut Tx,
    scope: &str,
    which: Setting,
    value: Option<&str>,
) -> Result<(), ServiceError> {
    let c = which.column();
    let sql = format!(
        "INSERT INTO evc_config (scope, {c}) VALUES ($1, $2) \
         ON CONFLICT (scope) DO UPDATE SET {c} = excluded.{c}"
    );
    tx.exec(&sql, &args![scope, value]).await?;
    Ok(())
}

/// Schema ids with a version that references `subject` `version` (live versions only, or
/// soft-deleted ones too).
pub(crate) async fn referencing(
    tx: &mut Tx,
    subject: &str,
    version: i64,
    include_deleted: bool,
) -> Result<Vec<i64>, ServiceError> {
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
        .map_err(ServiceError::from)
}

/// The schema id of `subject` `version`, soft-deleted or not.
pub(crate) async fn version_schema_id(
    tx: &mut Tx,
    subject: &str,
    version: i64,
) -> Result<Option<i64>, ServiceError> {
    Ok(
        match tx
            .row(
                "SELECT schema_id FROM evc_versions WHERE subject = $1 AND version = $2",
                &args![subject, version],
            )
            .await?
        {
            Some(r) => Some(r.i64(0)?),
            None => None,
        },
    )
}

/// The ids of the schema with this identity, lowest first (IMPORT may give one schema
/// several ids).
pub(crate) async fn ids_by_identity(tx: &mut Tx, identity: &str) -> Result<Vec<i64>, ServiceError> {
    let rows = tx
        .rows(
            "SELECT id FROM evc_schemas WHERE identity = $1 ORDER BY id",
            &args![identity],
        )
        .await?;
    rows.iter()
        .map(|r| r.i64(0))
        .collect::<Result<_, _>>()
        .map_err(ServiceError::from)
}

/// Schemas stored before identities existed: (id, type, text, refs, metadata, rule set).
pub(crate) async fn without_identity(tx: &mut Tx) -> Result<Vec<SchemaRow>, ServiceError> {
    let sql = format!("SELECT id, {SCHEMA_COLUMNS} FROM evc_schemas WHERE identity IS NULL");
    let rows = tx.rows(&sql, &[]).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = r.i64(0)?;
        out.push(schema_from(r, id, 1)?);
    }
    Ok(out)
}

/// Records a schema's identity.
pub(crate) async fn set_identity(tx: &mut Tx, id: i64, identity: &str) -> Result<(), ServiceError> {
    tx.exec(
        "UPDATE evc_schemas SET identity = $1 WHERE id = $2",
        &args![identity, id],
    )
    .await?;
    Ok(())
}

/// The highest id handed out so far (0 when none).
pub(crate) async fn max_id(tx: &mut Tx) -> Result<i64, ServiceError> {
    Ok(tx
        .row("SELECT COALESCE(MAX(id), 0) FROM evc_schemas", &[])
        .await?
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0))
}

/// Stores a new schema row and its references. `first` says whether it is the first id of
/// this identity (see migration 2 for the `hash` column).
pub(crate) async fn insert_schema(
    tx: &mut Tx,
    s: &SchemaRow,
    identity: &str,
    first: bool,
) -> Result<(), ServiceError> {
    let refs_json = serde_json::to_string(&s.refs).unwrap_or_else(|_| "[]".into());
    let hash = if first {
        identity.to_string()
    } else {
        format!("{identity}#{}", s.id)
    };
    tx.exec(
        "INSERT INTO evc_schemas (id, hash, identity, schema_type, schema_text, refs_json, metadata_json, ruleset_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &args![
            s.id,
            hash,
            identity,
            s.schema_type.as_str(),
            s.text.as_str(),
            refs_json,
            to_json(&s.metadata),
            to_json(&s.rule_set)
        ],
    )
    .await?;
    for (i, r) in s.refs.iter().enumerate() {
        tx.exec(
            "INSERT INTO evc_refs (schema_id, position, name, subject, version) VALUES ($1, $2, $3, $4, $5)",
            &args![s.id, i as i64, r.name.as_str(), r.subject.as_str(), r.version],
        )
        .await?;
    }
    Ok(())
}

/// Adds a live version.
pub(crate) async fn insert_version(
    tx: &mut Tx,
    subject: &str,
    version: i64,
    schema_id: i64,
) -> Result<(), ServiceError> {
    tx.exec(
        "INSERT INTO evc_versions (subject, version, schema_id, deleted) VALUES ($1, $2, $3, 0)",
        &args![subject, version, schema_id],
    )
    .await?;
    Ok(())
}

/// Soft-deletes one version, or (`None`) every live version of the subject.
pub(crate) async fn soft_delete(
    tx: &mut Tx,
    subject: &str,
    version: Option<i64>,
) -> Result<(), ServiceError> {
    match version {
        Some(v) => {
            tx.exec(
                "UPDATE evc_versions SET deleted = 1 WHERE subject = $1 AND version = $2",
                &args![subject, v],
            )
            .await?
        }
        None => {
            tx.exec(
                "UPDATE evc_versions SET deleted = 1 WHERE subject = $1 AND deleted = 0",
                &args![subject],
            )
            .await?
        }
    };
    Ok(())
}

/// Removes one version, or (`None`) the whole subject with its settings.
pub(crate) async fn hard_delete(
    tx: &mut Tx,
    subject: &str,
    version: Option<i64>,
) -> Result<(), ServiceError> {
    match version {
        Some(v) => {
            tx.exec(
                "DELETE FROM evc_versions WHERE subject = $1 AND version = $2",
                &args![subject, v],
            )
            .await?;
        }
        None => {
            tx.exec(
                "DELETE FROM evc_versions WHERE subject = $1",
                &args![subject],
            )
            .await?;
            tx.exec("DELETE FROM evc_config WHERE scope = $1", &args![subject])
                .await?;
        }
    }
    Ok(())
}

/// How many versions (any state) a subject has, or the registry has (`None`).
pub(crate) async fn count_versions(
    tx: &mut Tx,
    subject: Option<&str>,
) -> Result<i64, ServiceError> {
    let row = match subject {
        None => tx.row("SELECT COUNT(*) FROM evc_versions", &[]).await?,
        Some(s) => {
            tx.row(
                "SELECT COUNT(*) FROM evc_versions WHERE subject = $1",
                &args![s],
            )
            .await?
        }
    };
    Ok(row.map(|r| r.i64(0)).transpose()?.unwrap_or(0))
}

/// The versions using a schema id: (subject, version, deleted), by subject and version.
pub(crate) async fn id_versions(
    tx: &mut Tx,
    id: i64,
) -> Result<Vec<(String, i64, bool)>, ServiceError> {
    let rows = tx
        .rows(
            "SELECT subject, version, deleted FROM evc_versions WHERE schema_id = $1 ORDER BY subject, version",
            &args![id],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.str(0)?, r.i64(1)?, r.i64(2)? != 0)))
        .collect::<Result<_, StorageError>>()
        .map_err(ServiceError::from)
}

/// Every subject with whether all its versions are soft-deleted, by name.
pub(crate) async fn subjects(tx: &mut Tx) -> Result<Vec<(String, bool)>, ServiceError> {
    let rows = tx
        .rows(
            "SELECT subject, MIN(deleted) FROM evc_versions GROUP BY subject ORDER BY subject",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.str(0)?, r.i64(1)? != 0)))
        .collect::<Result<_, StorageError>>()
        .map_err(ServiceError::from)
}

/// Every version with its schema: (subject, version, deleted, schema), by subject and version.
pub(crate) async fn all_versions(
    tx: &mut Tx,
) -> Result<Vec<(String, i64, bool, SchemaRow)>, ServiceError> {
    let rows = tx
        .rows(
            &format!(
                "SELECT v.subject, v.version, v.deleted, s.id, {} \
                 FROM evc_versions v JOIN evc_schemas s ON s.id = v.schema_id ORDER BY v.subject, v.version",
                SCHEMA_COLUMNS
                    .split(", ")
                    .map(|c| format!("s.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &[],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = r.i64(3)?;
        out.push((r.str(0)?, r.i64(1)?, r.i64(2)? != 0, schema_from(r, id, 4)?));
    }
    Ok(out)
}

/// A scope's config fields besides the compatibility level (`None`: none set).
pub(crate) async fn config_fields(
    tx: &mut Tx,
    scope: &str,
) -> Result<Option<Config>, ServiceError> {
    let row = tx
        .row(
            "SELECT config_json FROM evc_config WHERE scope = $1",
            &args![scope],
        )
        .await?;
    let text = match row {
        Some(r) => r.opt_str(0)?,
        None => None,
    };
    text.map(|t| {
        serde_json::from_str(&t).map_err(|_| ServiceError::Corrupt {
            what: format!("the config of `{scope}`"),
        })
    })
    .transpose()
}

/// Sets (or with `None` clears) a scope's config fields besides the compatibility level.
pub(crate) async fn set_config_fields(
    tx: &mut Tx,
    scope: &str,
    fields: Option<&Config>,
) -> Result<(), ServiceError> {
    let text = fields.and_then(|c| serde_json::to_string(c).ok());
    tx.exec(
        "INSERT INTO evc_config (scope, config_json) VALUES ($1, $2) \
         ON CONFLICT (scope) DO UPDATE SET config_json = excluded.config_json",
        &args![scope, text],
    )
    .await?;
    Ok(())
}

/// Bumps the change counter (inside a write transaction).
pub(crate) async fn bump_changes(tx: &mut Tx) -> Result<(), ServiceError> {
    tx.exec(
        "UPDATE evc_changes SET counter = counter + 1 WHERE id = 1",
        &[],
    )
    .await?;
    Ok(())
}

/// The change counter.
pub(crate) async fn changes(tx: &mut Tx) -> Result<i64, ServiceError> {
    Ok(tx
        .row("SELECT counter FROM evc_changes WHERE id = 1", &[])
        .await?
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or(0))
}

/// The registry's cluster id, made (from `fresh`) on first use.
pub(crate) async fn cluster_id(tx: &mut Tx, fresh: &str) -> Result<String, ServiceError> {
    tx.exec(
        "UPDATE evc_changes SET cluster_id = $1 WHERE id = 1 AND cluster_id IS NULL",
        &args![fresh],
    )
    .await?;
    Ok(tx
        .row("SELECT cluster_id FROM evc_changes WHERE id = 1", &[])
        .await?
        .map(|r| r.opt_str(0))
        .transpose()?
        .flatten()
        .unwrap_or_else(|| fresh.to_string()))
}

/// (subjects with a live version, schema ids used by a version).
pub(crate) async fn counts(tx: &mut Tx) -> Result<(i64, i64), ServiceError> {
    let one = |r: Option<Row>| -> Result<i64, ServiceError> {
        Ok(r.map(|r| r.i64(0)).transpose()?.unwrap_or(0))
    };
    let subjects = one(tx
        .row(
            "SELECT COUNT(DISTINCT subject) FROM evc_versions WHERE deleted = 0",
            &[],
        )
        .await?)?;
    let schemas = one(tx
        .row("SELECT COUNT(DISTINCT schema_id) FROM evc_versions", &[])
        .await?)?;
    Ok((subjects, schemas))
}
