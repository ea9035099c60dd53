//! The order domain's read model: one denormalized row per order in `order_summaries`.
//!
//! A [`ReadModel`] of [`OrderEvent`] for `evc-projection`: live through its `Projector` (an
//! idempotent consumer handler), or replayed from the event store by `evc_projection::rebuild`
//! with the same statements, so a rebuild of a store whose events were all consumed gives the
//! same rows.
//!
//! | column          | type    | meaning                                          |
//! |-----------------|---------|--------------------------------------------------|
//! | `order_id`      | TEXT PK | UUID string                                      |
//! | `customer_id`   | TEXT    |                                                  |
//! | `status`        | TEXT    | `created`, `placed`, `paid`, `shipped` or `cancelled` |
//! | `final`         | BOOLEAN | true once shipped or cancelled: a reader sees that any other row is still in progress |
//! | `item_count`    | BIGINT  | sum of the items' quantities                     |
//! | `total_minor`   | BIGINT  | sum of quantity × unit price, minor units        |
//! | `currency`      | TEXT    | ISO 4217                                         |
//! | `last_event_at` | BIGINT  | `occurred_at` of the last applied event, µs since the epoch |
//! | `event_count`   | BIGINT  | events applied (a duplicate would show here)     |
//! | `cancel_reason` | TEXT    | why it was cancelled (NULL unless cancelled)     |
//! | `failed_step`   | TEXT    | the fulfillment step that failed (NULL unless fulfillment cancelled it) |
//!
//! Users see `placed` and `paid` as "processing" ([`OrderStatus::shown_as`]): fulfillment is
//! still running. Migration 2 added `placed`, `cancelled` and the two cancellation columns
//! (SQLite rebuilds the table to change its `CHECK`; PostgreSQL alters it).
//!
//! An event for an order without an `OrderCreated` row (which per-key ordering rules out) is
//! refused: the consumer dead-letters it, it is never silently dropped.

use std::str::FromStr;

use evc_avro::chrono::{DateTime, Utc};
use evc_projection::{checked_table, ProjectionError, ReadModel};
use evc_storage::{args, Arg, Database, Migration, Row, StorageError, TxRef};
use order_events::OrderEvent;
use uuid::Uuid;

/// The default table name.
pub const DEFAULT_TABLE: &str = "order_summaries";

const MIGRATIONS: &[Migration] = &[
    Migration::portable(
        1,
        "order summaries",
        "CREATE TABLE IF NOT EXISTS {table} (
        order_id      TEXT    PRIMARY KEY,
        customer_id   TEXT    NOT NULL,
        status        TEXT    NOT NULL CHECK (status IN ('created', 'paid', 'shipped')),
        final         BOOLEAN NOT NULL,
        item_count    BIGINT  NOT NULL,
        total_minor   BIGINT  NOT NULL,
        currency      TEXT    NOT NULL,
        last_event_at BIGINT  NOT NULL,
        event_count   BIGINT  NOT NULL
    )",
    ),
    Migration {
        version: 2,
        name: "order summaries: placed, cancelled, cancellation reason and failed step",
        sqlite: "CREATE TABLE {table}_m2 (
        order_id      TEXT    PRIMARY KEY,
        customer_id   TEXT    NOT NULL,
        status        TEXT    NOT NULL
                      CHECK (status IN ('created', 'placed', 'paid', 'shipped', 'cancelled')),
        final         BOOLEAN NOT NULL,
        item_count    BIGINT  NOT NULL,
        total_minor   BIGINT  NOT NULL,
        currency      TEXT    NOT NULL,
        last_event_at BIGINT  NOT NULL,
        event_count   BIGINT  NOT NULL,
        cancel_reason TEXT,
        failed_step   TEXT
    );
    INSERT INTO {table}_m2 (order_id, customer_id, status, final, item_count, total_minor,
        currency, last_event_at, event_count)
        SELECT order_id, customer_id, status, final, item_count, total_minor, currency,
        last_event_at, event_count FROM {table};
    DROP TABLE {table};
    ALTER TABLE {table}_m2 RENAME TO {table}",
        postgres: "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_status_check;
    ALTER TABLE {table} ADD CONSTRAINT {table}_status_check
        CHECK (status IN ('created', 'placed', 'paid', 'shipped', 'cancelled'));
    ALTER TABLE {table} ADD COLUMN cancel_reason TEXT;
    ALTER TABLE {table} ADD COLUMN failed_step TEXT",
    },
];

/// Where an order is in its life, as the read model shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OrderStatus {
    Created,
    Placed,
    Paid,
    Shipped,
    Cancelled,
}

impl OrderStatus {
    /// As stored in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Created => "created",
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// As a customer sees it: `open`, `processing` (placed or paid: fulfillment is still
    /// running), `shipped` or `cancelled`.
    pub fn shown_as(self) -> &'static str {
        match self {
            OrderStatus::Created => "open",
            OrderStatus::Placed | OrderStatus::Paid => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// Shipped or cancelled: nothing more happens to the order.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Shipped | OrderStatus::Cancelled)
    }
}

/// A row of the read model that cannot be read back (an edited database).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptSummary {
    #[error("unknown status `{0}`")]
    Status(String),
    #[error("order id `{0}` is not a UUID")]
    OrderId(String),
    #[error("last_event_at {0} µs is out of range")]
    LastEventAt(i64),
}

impl FromStr for OrderStatus {
    type Err = CorruptSummary;
    fn from_str(s: &str) -> Result<Self, CorruptSummary> {
        match s {
            "created" => Ok(OrderStatus::Created),
            "placed" => Ok(OrderStatus::Placed),
            "paid" => Ok(OrderStatus::Paid),
            "shipped" => Ok(OrderStatus::Shipped),
            "cancelled" => Ok(OrderStatus::Cancelled),
            other => Err(CorruptSummary::Status(other.to_string())),
        }
    }
}

/// One row of the read model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub order_id: Uuid,
    pub customer_id: String,
    pub status: OrderStatus,
    /// True once shipped or cancelled; otherwise the order is still in progress.
    pub is_final: bool,
    pub item_count: i64,
    pub total_minor: i64,
    pub currency: String,
    pub last_event_at: DateTime<Utc>,
    pub event_count: i64,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// The fulfillment step that failed, when fulfillment cancelled it.
    pub failed_step: Option<String>,
}

/// An event for an order the read model has no row for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {order_id} has no summary (no OrderCreated before it)")]
pub struct UnknownOrder {
    pub order_id: Uuid,
}

/// The `order_summaries` read model (or the same on another table).
#[derive(Debug, Clone)]
pub struct OrderSummaries {
    table: String,
}

impl Default for OrderSummaries {
    fn default() -> Self {
        OrderSummaries {
            table: DEFAULT_TABLE.to_string(),
        }
    }
}

impl OrderSummaries {
    /// The model on [`DEFAULT_TABLE`].
    pub fn new() -> OrderSummaries {
        OrderSummaries::default()
    }

    /// The model on another table (letters, digits and `_`).
    pub fn with_table(table: &str) -> Result<OrderSummaries, ProjectionError> {
        Ok(OrderSummaries {
            table: checked_table(table)?,
        })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Every summary, by order id.
    pub async fn all(&self, db: &Database) -> Result<Vec<OrderSummary>, SummaryError> {
        let mut tx = db.read().await?;
        let rows = tx
            .rows(
                &format!("SELECT {COLUMNS} FROM {} ORDER BY order_id", self.table),
                &[],
            )
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The summary of one order, if it is projected.
    pub async fn get(
        &self,
        db: &Database,
        order_id: Uuid,
    ) -> Result<Option<OrderSummary>, SummaryError> {
        let mut tx = db.read().await?;
        let row = tx
            .row(
                &format!("SELECT {COLUMNS} FROM {} WHERE order_id = $1", self.table),
                &args![order_id.to_string()],
            )
            .await?;
        row.as_ref().map(from_row).transpose()
    }
}

/// Reading the read model failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryError {
    #[error("database: {0}")]
    Database(#[from] StorageError),
    #[error("corrupt summary row: {0}")]
    Corrupt(#[from] CorruptSummary),
}

const COLUMNS: &str =
    "order_id, customer_id, status, CAST(CASE WHEN final THEN 1 ELSE 0 END AS BIGINT), \
                       item_count, total_minor, currency, last_event_at, event_count, \
                       cancel_reason, failed_step";

fn from_row(r: &Row) -> Result<OrderSummary, SummaryError> {
    let id = r.str(0)?;
    let at = r.i64(7)?;
    Ok(OrderSummary {
        order_id: id
            .parse()
            .map_err(|_| CorruptSummary::OrderId(id.clone()))?,
        customer_id: r.str(1)?,
        status: r.str(2)?.parse()?,
        is_final: r.i64(3)? != 0,
        item_count: r.i64(4)?,
        total_minor: r.i64(5)?,
        currency: r.str(6)?,
        last_event_at: DateTime::from_timestamp_micros(at)
            .ok_or(CorruptSummary::LastEventAt(at))?,
        event_count: r.i64(8)?,
        cancel_reason: r.opt_str(9)?,
        failed_step: r.opt_str(10)?,
    })
}

/// The statement applying `event`, its arguments, and whether it must touch a row.
fn statement(table: &str, event: &OrderEvent) -> (String, Vec<Arg>, bool) {
    // `set` uses $1.. for its own arguments; the time and the id follow them.
    let touch = |set: &str, id: Uuid, at: DateTime<Utc>, mut args: Vec<Arg>| {
        let n = args.len();
        args.push(at.timestamp_micros().into());
        args.push(id.to_string().into());
        (
            format!(
                "UPDATE {table} SET {set}, last_event_at = ${}, event_count = event_count + 1 \
                 WHERE order_id = ${}",
                n + 1,
                n + 2
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
                 VALUES ($1, $2, 'created', FALSE, 0, 0, $3, $4, 1) ON CONFLICT (order_id) DO NOTHING"
            ),
            vec![
                e.order_id.to_string().into(),
                e.customer_id.as_str().into(),
                e.currency.as_str().into(),
                e.occurred_at.timestamp_micros().into(),
            ],
            false,
        ),
        OrderEvent::ItemAdded(e) => {
            let q = i64::from(e.quantity);
            touch(
                "item_count = item_count + $1, total_minor = total_minor + $2",
                e.order_id,
                e.occurred_at,
                vec![q.into(), q.saturating_mul(e.unit_price.amount_minor).into()],
            )
        }
        OrderEvent::OrderPlaced(e) => touch("status = 'placed'", e.order_id, e.occurred_at, vec![]),
        OrderEvent::OrderPaid(e) => touch("status = 'paid'", e.order_id, e.occurred_at, vec![]),
        OrderEvent::OrderShipped(e) => touch(
            "status = 'shipped', final = TRUE",
            e.order_id,
            e.occurred_at,
            vec![],
        ),
        OrderEvent::OrderCancelled(e) => touch(
            "status = 'cancelled', final = TRUE, cancel_reason = $1, failed_step = $2",
            e.order_id,
            e.occurred_at,
            vec![e.reason.as_str().into(), e.failed_step.clone().into()],
        ),
    }
}

/// The order an event belongs to.
pub fn order_id(event: &OrderEvent) -> Uuid {
    match event {
        OrderEvent::OrderCreated(e) => e.order_id,
        OrderEvent::ItemAdded(e) => e.order_id,
        OrderEvent::OrderPlaced(e) => e.order_id,
        OrderEvent::OrderPaid(e) => e.order_id,
        OrderEvent::OrderShipped(e) => e.order_id,
        OrderEvent::OrderCancelled(e) => e.order_id,
    }
}

impl ReadModel<OrderEvent> for OrderSummaries {
    fn component(&self) -> String {
        format!("evc-order:summaries:{}", self.table)
    }

    fn migrations(&self) -> &'static [Migration] {
        MIGRATIONS
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        vec![("table", self.table.clone())]
    }

    fn tables(&self) -> Vec<String> {
        vec![self.table.clone()]
    }

    async fn apply(&self, tx: &mut TxRef<'_>, event: &OrderEvent) -> Result<(), ProjectionError> {
        let (sql, args, must_touch) = statement(&self.table, event);
        let rows = tx.exec(&sql, &args).await?;
        if must_touch && rows == 0 {
            return Err(ProjectionError::Refused {
                event_type: evc_avro::TopicEvent::full_name(event),
                source: Box::new(UnknownOrder {
                    order_id: order_id(event),
                }),
            });
        }
        Ok(())
    }
}
