//! A CQRS read model of orders: one denormalized row per order in `order_summaries`.
//!
//! **Owns:** the [`Projector`], an `evc-consumer` [`Handler`] of [`OrderEvent`] on SQLite and
//! PostgreSQL that keeps the table up to date inside the consumer's transaction;
//! [`rebuild`], which replays the event store (from position 1) into a fresh table with the
//! same rules; the query functions [`summaries`] and [`summary`].
//!
//! **Does not own:** consuming, offsets and deduplication (`evc-consumer`: the handler's
//! writes commit together with the processed-event marker, so a redelivered event is skipped
//! and never counted twice), the event store, the order's rules (`evc-order`).
//!
//! # Table
//!
//! | column          | type                | meaning                                          |
//! |-----------------|---------------------|--------------------------------------------------|
//! | `order_id`      | TEXT PK             | UUID string                                      |
//! | `customer_id`   | TEXT                |                                                  |
//! | `status`        | TEXT                | `created`, `paid` or `shipped`                   |
//! | `final`         | BOOLEAN             | true only once shipped: a reader sees that any other row is still in progress |
//! | `item_count`    | BIGINT              | sum of the items' quantities                     |
//! | `total_minor`   | BIGINT              | sum of quantity × unit price, minor units        |
//! | `currency`      | TEXT                | ISO 4217                                         |
//! | `last_event_at` | BIGINT              | `occurred_at` of the last applied event, µs since the epoch |
//! | `event_count`   | BIGINT              | events applied (a duplicate would show here)     |
//!
//! The same statements run live and on rebuild, so a rebuild of a store whose events were all
//! consumed gives the same rows. An event for an order without an `OrderCreated` row (which
//! per-key ordering rules out) is a permanent handler error: dead-lettered, never silently
//! dropped.

use std::str::FromStr;

use evc_avro::chrono::{DateTime, Utc};
use evc_consumer::{Handler, HandlerError, MessageMeta};
use evc_eventstore::{EventStore, StoreError};
use evc_wire::{Deserializer, WireError};
use order_events::OrderEvent;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::Transaction;
use uuid::Uuid;

/// The default table name.
pub const DEFAULT_TABLE: &str = "order_summaries";

/// Where the read model lives.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    /// Connections whose `search_path` is the read model's schema.
    Postgres(PgPool),
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("invalid table name `{0}`: use letters, digits and _")]
    TableName(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error("event at position {position} cannot be decoded: {source}")]
    Decode { position: u64, source: WireError },
    #[error("{event_type} for order {order_id}, which has no summary (no OrderCreated before it)")]
    UnknownOrder {
        order_id: Uuid,
        event_type: &'static str,
    },
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Created,
    Paid,
    Shipped,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Created => "created",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
        }
    }
}

impl FromStr for OrderStatus {
    type Err = ProjectionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "created" => Ok(OrderStatus::Created),
            "paid" => Ok(OrderStatus::Paid),
            "shipped" => Ok(OrderStatus::Shipped),
            other => Err(ProjectionError::Corrupt(format!("status `{other}`"))),
        }
    }
}

/// One row of the read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub order_id: Uuid,
    pub customer_id: String,
    pub status: OrderStatus,
    /// True only when shipped; otherwise the order is still in progress.
    pub is_final: bool,
    pub item_count: i64,
    pub total_minor: i64,
    pub currency: String,
    pub last_event_at: DateTime<Utc>,
    pub event_count: i64,
}

fn checked(table: &str) -> Result<String, ProjectionError> {
    let mut chars = table.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(table.to_string())
    } else {
        Err(ProjectionError::TableName(table.to_string()))
    }
}

/// The projector: an `evc-consumer` handler maintaining `table`.
#[derive(Debug, Clone)]
pub struct Projector {
    table: String,
}

impl Projector {
    /// A projector of [`DEFAULT_TABLE`].
    pub fn new() -> Projector {
        Projector {
            table: DEFAULT_TABLE.to_string(),
        }
    }

    /// A projector of another table (letters, digits and `_`).
    pub fn with_table(table: &str) -> Result<Projector, ProjectionError> {
        Ok(Projector {
            table: checked(table)?,
        })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table if missing.
    pub async fn create_table(&self, db: &Db) -> Result<(), ProjectionError> {
        let t = &self.table;
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                order_id      TEXT    PRIMARY KEY,
                customer_id   TEXT    NOT NULL,
                status        TEXT    NOT NULL CHECK (status IN ('created', 'paid', 'shipped')),
                final         BOOLEAN NOT NULL,
                item_count    BIGINT  NOT NULL,
                total_minor   BIGINT  NOT NULL,
                currency      TEXT    NOT NULL,
                last_event_at BIGINT  NOT NULL,
                event_count   BIGINT  NOT NULL
            )"
        );
        match db {
            Db::Sqlite(pool) => {
                sqlx::query(&ddl).execute(pool).await?;
            }
            Db::Postgres(pool) => {
                sqlx::query(&ddl).execute(pool).await?;
            }
        };
        Ok(())
    }
}

impl Default for Projector {
    fn default() -> Self {
        Projector::new()
    }
}

enum Arg {
    Text(String),
    Int(i64),
}

/// The one statement applying `event` (with `?` placeholders), and whether it must touch a row.
fn statement(table: &str, event: &OrderEvent) -> (String, Vec<Arg>, bool) {
    let touch = |set: &str, id: Uuid, at: DateTime<Utc>, mut args: Vec<Arg>| {
        args.push(Arg::Int(at.timestamp_micros()));
        args.push(Arg::Text(id.to_string()));
        (
            format!(
                "UPDATE {table} SET {set}, last_event_at = ?, event_count = event_count + 1 \
                 WHERE order_id = ?"
            ),
            args,
            true,
        )
    };
    match event {
        OrderEvent::OrderCreated(e) => (
            format!(
                "INSERT INTO {table} (order_id, customer_id, status, final, item_count, \
                 total_minor, currency, last_event_at, event_count) \
                 VALUES (?, ?, 'created', FALSE, 0, 0, ?, ?, 1) ON CONFLICT (order_id) DO NOTHING"
            ),
            vec![
                Arg::Text(e.order_id.to_string()),
                Arg::Text(e.customer_id.clone()),
                Arg::Text(e.currency.clone()),
                Arg::Int(e.occurred_at.timestamp_micros()),
            ],
            false,
        ),
        OrderEvent::ItemAdded(e) => {
            let q = i64::from(e.quantity);
            touch(
                "item_count = item_count + ?, total_minor = total_minor + ?",
                e.order_id,
                e.occurred_at,
                vec![
                    Arg::Int(q),
                    Arg::Int(q.saturating_mul(e.unit_price.amount_minor)),
                ],
            )
        }
        OrderEvent::OrderPaid(e) => touch("status = 'paid'", e.order_id, e.occurred_at, vec![]),
        OrderEvent::OrderShipped(e) => touch(
            "status = 'shipped', final = TRUE",
            e.order_id,
            e.occurred_at,
            vec![],
        ),
    }
}

fn order_id(event: &OrderEvent) -> Uuid {
    match event {
        OrderEvent::OrderCreated(e) => e.order_id,
        OrderEvent::ItemAdded(e) => e.order_id,
        OrderEvent::OrderPaid(e) => e.order_id,
        OrderEvent::OrderShipped(e) => e.order_id,
    }
}

fn event_type(event: &OrderEvent) -> &'static str {
    match event {
        OrderEvent::OrderCreated(_) => "OrderCreated",
        OrderEvent::ItemAdded(_) => "ItemAdded",
        OrderEvent::OrderPaid(_) => "OrderPaid",
        OrderEvent::OrderShipped(_) => "OrderShipped",
    }
}

/// `?` placeholders to PostgreSQL's `$n`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Applies `event` to `table` on SQLite, in `tx`.
pub async fn apply_sqlite(
    tx: &mut Transaction<'static, Sqlite>,
    table: &str,
    event: &OrderEvent,
) -> Result<(), ProjectionError> {
    let (sql, args, must_touch) = statement(table, event);
    let mut q = sqlx::query(&sql);
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s),
            Arg::Int(i) => q.bind(i),
        };
    }
    let done = q.execute(&mut **tx).await?;
    check_touched(must_touch, done.rows_affected(), event)
}

/// Applies `event` to `table` on PostgreSQL, in `tx`.
pub async fn apply_postgres(
    tx: &mut Transaction<'static, Postgres>,
    table: &str,
    event: &OrderEvent,
) -> Result<(), ProjectionError> {
    let (sql, args, must_touch) = statement(table, event);
    let sql = numbered(&sql);
    let mut q = sqlx::query(&sql);
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s),
            Arg::Int(i) => q.bind(i),
        };
    }
    let done = q.execute(&mut **tx).await?;
    check_touched(must_touch, done.rows_affected(), event)
}

fn check_touched(must: bool, rows: u64, event: &OrderEvent) -> Result<(), ProjectionError> {
    if must && rows == 0 {
        Err(ProjectionError::UnknownOrder {
            order_id: order_id(event),
            event_type: event_type(event),
        })
    } else {
        Ok(())
    }
}

fn handler_error(e: ProjectionError) -> HandlerError {
    match e {
        ProjectionError::Database(e) => e.into(),
        other => {
            HandlerError::new("evc_projection::ProjectionError", other.to_string()).permanent()
        }
    }
}

impl Handler<OrderEvent, Sqlite> for Projector {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        event: &OrderEvent,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        apply_sqlite(tx, &self.table, event)
            .await
            .map_err(handler_error)
    }
}

impl Handler<OrderEvent, Postgres> for Projector {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        event: &OrderEvent,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        apply_postgres(tx, &self.table, event)
            .await
            .map_err(handler_error)
    }
}

/// Drops `table` (if any), creates it fresh and replays every event of `store` from position 1
/// into it, in one transaction per batch of 500 events; answers how many events were applied.
/// Give it a table other than the live one to compare, or the live one while its consumer is
/// stopped (its processed-events markers stay valid: the rebuilt rows contain those events).
pub async fn rebuild(
    store: &EventStore,
    deserializer: &Deserializer,
    db: &Db,
    table: &str,
) -> Result<u64, ProjectionError> {
    let projector = Projector::with_table(table)?;
    let drop = format!("DROP TABLE IF EXISTS {}", projector.table);
    match db {
        Db::Sqlite(pool) => {
            sqlx::query(&drop).execute(pool).await?;
        }
        Db::Postgres(pool) => {
            sqlx::query(&drop).execute(pool).await?;
        }
    };
    projector.create_table(db).await?;
    let mut from = 1;
    let mut applied = 0;
    loop {
        let batch = store.read_all(from, 500).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            return Ok(applied);
        };
        let mut events = Vec::with_capacity(batch.len());
        for e in &batch {
            let event = deserializer
                .deserialize_topic::<OrderEvent>(&e.payload)
                .await
                .map_err(|source| ProjectionError::Decode {
                    position: e.position,
                    source,
                })?;
            events.push(event);
        }
        match db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for e in &events {
                    apply_sqlite(&mut tx, table, e).await?;
                }
                tx.commit().await?;
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for e in &events {
                    apply_postgres(&mut tx, table, e).await?;
                }
                tx.commit().await?;
            }
        }
        applied += events.len() as u64;
        from = last + 1;
    }
}

type Row = (String, String, String, bool, i64, i64, String, i64, i64);

const COLUMNS: &str = "order_id, customer_id, status, final, item_count, total_minor, currency, \
                       last_event_at, event_count";

fn from_row(r: Row) -> Result<OrderSummary, ProjectionError> {
    Ok(OrderSummary {
        order_id: r
            .0
            .parse()
            .map_err(|e| ProjectionError::Corrupt(format!("order id `{}`: {e}", r.0)))?,
        customer_id: r.1,
        status: r.2.parse()?,
        is_final: r.3,
        item_count: r.4,
        total_minor: r.5,
        currency: r.6,
        last_event_at: DateTime::from_timestamp_micros(r.7)
            .ok_or_else(|| ProjectionError::Corrupt(format!("last_event_at {}", r.7)))?,
        event_count: r.8,
    })
}

/// Every summary of `table`, by order id.
pub async fn summaries(db: &Db, table: &str) -> Result<Vec<OrderSummary>, ProjectionError> {
    let table = checked(table)?;
    let sql = format!("SELECT {COLUMNS} FROM {table} ORDER BY order_id");
    let rows: Vec<Row> = match db {
        Db::Sqlite(pool) => sqlx::query_as(&sql).fetch_all(pool).await?,
        Db::Postgres(pool) => sqlx::query_as(&sql).fetch_all(pool).await?,
    };
    rows.into_iter().map(from_row).collect()
}

/// The summary of one order, if it is projected.
pub async fn summary(
    db: &Db,
    table: &str,
    order_id: Uuid,
) -> Result<Option<OrderSummary>, ProjectionError> {
    let table = checked(table)?;
    let id = order_id.to_string();
    let row: Option<Row> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM {table} WHERE order_id = ?"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM {table} WHERE order_id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        }
    };
    row.map(from_row).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_names() {
        assert_eq!(
            numbered("a = ?, b = ? WHERE c = ?"),
            "a = $1, b = $2 WHERE c = $3"
        );
        assert!(Projector::with_table("order_summaries_2").is_ok());
        assert!(Projector::with_table("x; DROP TABLE y").is_err());
        assert!(Projector::with_table("").is_err());
        assert_eq!("paid".parse::<OrderStatus>().unwrap(), OrderStatus::Paid);
        assert!("PAID".parse::<OrderStatus>().is_err());
    }
}
