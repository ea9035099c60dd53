//! Keeping several server processes on one database consistent, and preparing stored data.
//!
//! Every write bumps `evc_changes.counter` in its transaction. On PostgreSQL it also sends a
//! `NOTIFY` on a channel named after the schema the tables live in; each server `LISTEN`s and
//! forgets its cached answers when a notification arrives, or when its listening connection was
//! lost (notifications may have been missed). SQLite files are polled: the counter is read every
//! [`POLL`] and a change forgets the caches. An in-memory store has one process.
//!
//! So a permanent delete, a new version or a config change made through one server is seen by
//! the others within the notification's delivery time (milliseconds on PostgreSQL, at most
//! [`POLL`] on a shared SQLite file) rather than after a restart.

use std::sync::{Arc, Weak};
use std::time::Duration;

use evc_schema::json;
use evc_storage::{Database, StorageUrl, Tx};
use sha2::{Digest, Sha256};

use super::{Inner, Registry, ServiceError};
use crate::canon::{canonical_text, identity_hash};
use crate::store;

/// How often a SQLite file's change counter is read.
pub(crate) const POLL: Duration = Duration::from_millis(500);

/// The NOTIFY channel of a PostgreSQL schema (a short identifier, whatever the schema's name).
pub(crate) fn channel(schema: Option<&str>) -> String {
    let digest = Sha256::digest(schema.unwrap_or("public").as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("evc_registry_{hex}")
}

fn channel_of(url: &StorageUrl) -> Option<String> {
    match url {
        StorageUrl::Postgres { schema, .. } => Some(channel(schema.as_deref())),
        _ => None,
    }
}

/// Runs once when the registry opens: computes the identity of schemas stored by builds from
/// before identities existed, and answers the registry's cluster id.
pub(crate) async fn prepare(db: &Database, max_depth: usize) -> Result<String, ServiceError> {
    let mut tx = db.serialized(store::WRITE_LOCK).await?;
    for row in store::without_identity(&mut tx).await? {
        let doc = json::parse_with_depth(&row.text, max_depth.max(json::DEFAULT_MAX_DEPTH))
            .map_err(|e| ServiceError::Corrupt {
                what: format!("stored schema {} is not JSON: {}", row.id, e.message),
            })?;
        let identity = identity_hash(
            &row.schema_type,
            &canonical_text(&doc),
            &row.refs,
            row.metadata.as_ref(),
            row.rule_set.as_ref(),
        );
        store::set_identity(&mut tx, row.id, &identity).await?;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let fresh: String = Sha256::digest(format!("{nanos}:{}", std::process::id()).as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect();
    let id = store::cluster_id(&mut tx, &fresh).await?;
    tx.commit().await?;
    Ok(id)
}

/// Tells other processes that this transaction changed the registry (PostgreSQL; delivered at
/// commit). The payload names this server, which ignores its own notifications (it forgot its
/// caches when it committed).
pub(crate) async fn notify(
    tx: &mut Tx,
    channel: Option<&str>,
    instance: &str,
) -> Result<(), ServiceError> {
    if let (Some(ch), Tx::Postgres(_)) = (channel, &*tx) {
        tx.exec(
            "SELECT pg_notify($1, $2)",
            &evc_storage::args![ch, instance],
        )
        .await?;
    }
    Ok(())
}

/// A name for this server process's registry, unique enough to tell its notifications apart.
pub(crate) fn instance_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Sha256::digest(format!("{nanos}:{}:{n}", std::process::id()).as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn forget(weak: &Weak<Inner>) -> bool {
    match weak.upgrade() {
        Some(inner) => {
            Registry { inner }.changed();
            true
        }
        None => false,
    }
}

/// Starts watching for other processes' writes (see the module documentation).
pub(crate) async fn watch(
    registry: &Registry,
    url: &StorageUrl,
) -> Option<tokio::task::JoinHandle<()>> {
    let weak = Arc::downgrade(&registry.inner);
    let db = registry.inner.db.clone();
    if let (Some(pool), Some(ch)) = (db.postgres_pool().cloned(), channel_of(url)) {
        let mut listener = match evc_storage::sqlx::postgres::PgListener::connect_with(&pool).await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other servers' writes; caches of this server follow its own writes only");
                return None;
            }
        };
        if let Err(e) = listener.listen(&ch).await {
            tracing::warn!(error = %e, channel = ch, "cannot listen for other servers' writes");
            return None;
        }
        let me = registry.inner.instance.clone();
        return Some(tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    Ok(Some(n)) if n.payload() == me => continue,
                    Ok(Some(_)) => {}
                    // the connection was lost and is re-established by the next call
                    Ok(None) => tracing::debug!("change listener reconnecting"),
                    Err(e) => {
                        tracing::warn!(error = %e, "change listener failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                if !forget(&weak) {
                    return;
                }
            }
        }));
    }
    if matches!(url, StorageUrl::Sqlite(_)) {
        let read = |db: Database| async move {
            match db.read().await {
                Ok(mut tx) => store::changes(&mut tx).await.ok(),
                Err(_) => None,
            }
        };
        // the baseline is read before this server answers anything
        let mut seen = read(db.clone()).await;
        return Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                let now = read(db.clone()).await;
                if now.is_some() && now != seen && !forget(&weak) {
                    return;
                }
                if weak.strong_count() == 0 {
                    return;
                }
                seen = now.or(seen);
            }
        }));
    }
    None
}

impl Registry {
    pub(super) fn channel(&self) -> Option<&str> {
        self.inner.channel.as_deref()
    }
}
