//! A PostgreSQL harness for tests: each test gets its own schema, dropped afterwards.
//!
//! The server is `EVC_TEST_POSTGRES_URL` or `postgres://postgres@127.0.0.1:5432/test`. A test
//! that needs PostgreSQL fails loudly when it does not answer: it is never skipped.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Database, StorageUrl};

/// The PostgreSQL server tests use.
pub fn postgres_base_url() -> String {
    std::env::var("EVC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A schema of its own on the test server; [`PgTestSchema::drop_schema`] removes it (call it at
/// the end of the test; a failed test leaves the schema for inspection, named in the panic).
#[derive(Debug, Clone)]
pub struct PgTestSchema {
    /// The schema's name: `<prefix>_<pid>_<n>_<nanos>`.
    pub schema: String,
    /// A storage URL with `?schema=` pointing at it.
    pub url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl PgTestSchema {
    /// Creates a fresh schema. Panics, naming the server, when PostgreSQL does not answer.
    pub async fn create(prefix: &str) -> PgTestSchema {
        let base = postgres_base_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let schema = format!(
            "{}_{}_{}_{}",
            prefix.to_ascii_lowercase().replace('-', "_"),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}schema={schema}");
        let db = PgTestSchema::connect_url(&url).await;
        db.close().await;
        PgTestSchema { schema, url }
    }

    /// Opens the schema's database (creating the schema when needed).
    pub async fn database(&self) -> Database {
        PgTestSchema::connect_url(&self.url).await
    }

    async fn connect_url(url: &str) -> Database {
        let parsed = StorageUrl::parse(url).expect("a valid test URL");
        match Database::open(&parsed, "evc-tests").await {
            Ok(db) => db,
            Err(e) => panic!(
                "this test needs PostgreSQL at {} (trust auth; set EVC_TEST_POSTGRES_URL to use another): {e}",
                postgres_base_url()
            ),
        }
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) {
        let db = Database::open_postgres(&postgres_base_url(), None, "evc-tests")
            .await
            .expect("PostgreSQL answered a moment ago");
        let mut tx = db.write().await.expect("begin");
        tx.exec(
            &format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema),
            &[],
        )
        .await
        .expect("drop the test schema");
        tx.commit().await.expect("commit");
        db.close().await;
    }
}
