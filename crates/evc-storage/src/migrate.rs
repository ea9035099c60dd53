//! Versioned migrations with a recorded schema version per component.
//!
//! Every crate that owns tables declares them as a constant list of [`Migration`]s numbered
//! 1, 2, 3, ... and calls [`Database::migrate`] when it opens its store. The runner records
//! each applied migration in `evc_migrations` (component, version, name, checksum, time),
//! applies the missing ones in order in one serialized transaction (so processes starting
//! together apply each migration once), and refuses to run when an applied migration's SQL
//! changed or the database has a migration this build does not know.
//!
//! Migrations are append-only, like published schema versions: to change a table, add a
//! migration. A component's first migration uses `CREATE TABLE IF NOT EXISTS`, so databases
//! made before migrations existed are adopted as they are.

use sha2::{Digest, Sha256};

use crate::{args, Database, Dialect, StorageError, Tx};

/// One step of a component's tables, in both dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// 1, 2, 3, ... without gaps.
    pub version: u32,
    /// A short description, recorded with the migration.
    pub name: &'static str,
    /// `;`-separated statements for SQLite.
    pub sqlite: &'static str,
    /// `;`-separated statements for PostgreSQL.
    pub postgres: &'static str,
}

impl Migration {
    /// A migration whose SQL is the same on both backends.
    pub const fn portable(version: u32, name: &'static str, sql: &'static str) -> Migration {
        Migration {
            version,
            name,
            sqlite: sql,
            postgres: sql,
        }
    }

    fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS evc_migrations (
    component  TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    name       TEXT   NOT NULL,
    checksum   TEXT   NOT NULL,
    applied_at TEXT   NOT NULL,
    PRIMARY KEY (component, version)
)";

fn substitute(sql: &str, params: &[(&str, &str)]) -> String {
    let mut s = sql.to_string();
    for (k, v) in params {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

fn checksum(sql: &str) -> String {
    Sha256::digest(sql.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Database {
    /// Applies `component`'s missing migrations and returns its schema version.
    pub async fn migrate(
        &self,
        component: &str,
        migrations: &[Migration],
    ) -> Result<u32, StorageError> {
        self.migrate_with(component, migrations, &[]).await
    }

    /// Like [`Database::migrate`], with `{name}` placeholders in the SQL replaced by `params`
    /// (for components whose table names are configurable; put the names in `component` too).
    pub async fn migrate_with(
        &self,
        component: &str,
        migrations: &[Migration],
        params: &[(&str, &str)],
    ) -> Result<u32, StorageError> {
        for (i, m) in migrations.iter().enumerate() {
            if m.version as usize != i + 1 {
                return Err(StorageError::MigrationsOutOfOrder {
                    component: component.to_string(),
                    position: i + 1,
                    found: m.version,
                });
            }
        }
        let dialect = self.dialect();
        let mut tx = self.serialized("evc-storage:migrations").await?;
        tx.exec(LEDGER, &[]).await?;
        let applied = tx
            .rows(
                "SELECT version, name, checksum FROM evc_migrations WHERE component = $1 ORDER BY version",
                &args![component],
            )
            .await?;
        let known = migrations.len() as u32;
        let mut done = 0u32;
        for row in &applied {
            let version = row.i64(0)? as u32;
            let Some(m) = migrations
                .get(version as usize - 1)
                .filter(|_| version >= 1)
            else {
                return Err(StorageError::DatabaseNewer {
                    component: component.to_string(),
                    version,
                    known,
                });
            };
            let expected = checksum(&substitute(m.sql(dialect), params));
            let recorded = row.str(2)?;
            if recorded != expected {
                return Err(StorageError::MigrationChanged {
                    component: component.to_string(),
                    version,
                    name: row.str(1)?,
                    applied: recorded,
                    expected,
                });
            }
            done = done.max(version);
        }
        for m in migrations.iter().skip(done as usize) {
            let sql = substitute(m.sql(dialect), params);
            tx.script(&sql).await?;
            tx.exec(
                "INSERT INTO evc_migrations (component, version, name, checksum, applied_at) VALUES ($1, $2, $3, $4, $5)",
                &args![component, m.version, m.name, checksum(&sql), now_rfc3339()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(known)
    }

    /// The highest applied migration of `component`, or None if it has none (or the ledger
    /// does not exist yet).
    pub async fn schema_version(&self, component: &str) -> Result<Option<u32>, StorageError> {
        let mut tx = self.read().await?;
        let exists_sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'evc_migrations'"
            }
            Dialect::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'evc_migrations' AND table_schema = current_schema()"
            }
        };
        let exists = tx
            .row(exists_sql, &[])
            .await?
            .map(|r| r.i64(0))
            .transpose()?;
        if exists != Some(1) {
            return Ok(None);
        }
        let row = tx
            .row(
                "SELECT MAX(version) FROM evc_migrations WHERE component = $1",
                &args![component],
            )
            .await?;
        Ok(row
            .map(|r| r.opt_i64(0))
            .transpose()?
            .flatten()
            .map(|v| v as u32))
    }
}

impl Tx {
    /// Forgets every recorded migration of `component` (for code that drops a component's
    /// tables to recreate them, like a read-model rebuild), in this transaction.
    pub async fn forget_migrations(&mut self, component: &str) -> Result<(), StorageError> {
        self.exec(LEDGER, &[]).await?;
        self.exec(
            "DELETE FROM evc_migrations WHERE component = $1",
            &args![component],
        )
        .await?;
        Ok(())
    }
}

fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    // Seconds since the epoch are enough for a ledger; no date library needed here.
    format!("{}.{:03}Z", d.as_secs(), d.subsec_millis())
}
