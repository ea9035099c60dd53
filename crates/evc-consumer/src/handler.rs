//! What the application plugs in: the handler, what it is told, and how it fails.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;

use sqlx::{Database, Transaction};

/// Where a message came from and how often it has been tried, handed to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    pub topic: String,
    /// The shard it came from (Kafka partition, Redis stream `<topic>:<shard>`, RabbitMQ
    /// queue number).
    pub partition: i32,
    /// Its Kafka offset; -1 on transports whose positions are not numbers (Redis entry ids,
    /// RabbitMQ): see [`MessageMeta::position`].
    pub offset: i64,
    /// Its position in the shard as the transport names it (Kafka offset, Redis entry id,
    /// RabbitMQ message id).
    pub position: String,
    /// The record timestamp (milliseconds since the epoch), when the broker has one.
    pub timestamp: Option<i64>,
    /// The record key (the partition key the producer set).
    pub key: Option<Vec<u8>>,
    /// The message's headers as they arrived (`evc-event-id`, `evc-event-type`, tracing
    /// headers, ...).
    pub headers: evc_transport::Headers,
    /// How many times the transport has delivered it (1 on the first delivery; see
    /// `evc_transport::Capabilities::durable_delivery_count`).
    pub delivery_count: u32,
    /// The deduplication key: the event id, or `topic/shard/position` for an event whose
    /// schema has no id.
    pub event_key: String,
    /// Full name of the event type.
    pub event_type: &'static str,
    /// The consumer group.
    pub group: String,
    /// 1 on the first try, 2 on the first retry, ...
    pub attempt: u32,
}

/// The application's processing of one event.
///
/// `tx` is the transaction the processed-events marker is written in: do the handler's own
/// database writes through it (`sqlx::query(..).execute(&mut **tx)`), and they commit together
/// with the marker after the handler returns `Ok`, or not at all. Do not commit or roll it back
/// yourself. Side effects outside the database (HTTP calls, e-mails) are not covered: they may
/// happen again when a message is redelivered after a failure.
///
/// ```
/// use evc_consumer::{Handler, HandlerError, MessageMeta};
/// use order_events::OrderEvent;
/// use sqlx::{Sqlite, Transaction};
///
/// struct CountOrders;
///
/// impl Handler<OrderEvent, Sqlite> for CountOrders {
///     async fn handle(
///         &self,
///         tx: &mut Transaction<'static, Sqlite>,
///         event: &OrderEvent,
///         _meta: &MessageMeta,
///     ) -> Result<(), HandlerError> {
///         if let OrderEvent::OrderCreated(e) = event {
///             sqlx::query("INSERT INTO orders (id, customer) VALUES (?, ?)")
///                 .bind(e.order_id.to_string())
///                 .bind(&e.customer_id)
///                 .execute(&mut **tx)
///                 .await?; // any std error converts into a (retryable) HandlerError
///         }
///         Ok(())
///     }
/// }
/// ```
///
/// # Batches
///
/// A consumer with a [`batch_size`](crate::ConsumerConfig::batch_size) above 1 hands a batch
/// of events to one transaction. By default it calls [`handle`](Handler::handle) for each
/// event in turn. A handler whose writes are cheaper set-based (one multi-row `INSERT` for
/// the batch instead of one per event) implements [`handle_batch`](Handler::handle_batch)
/// too.
pub trait Handler<E, Db: Database>: Send + Sync + 'static {
    fn handle(
        &self,
        tx: &mut Transaction<'static, Db>,
        event: &E,
        meta: &MessageMeta,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Handles the new events of a batch at once, in the batch's transaction, in delivery
    /// order (events the group processed before are left out). `None`, the default: not
    /// implemented, so the consumer calls [`handle`](Handler::handle) per event.
    /// `Some(Ok(()))`: every event of `events` is handled. `Some(Err(_))`: the transaction is
    /// rolled back and the batch tried again through [`handle`](Handler::handle), event by
    /// event, which finds the failing event (retried and dead-lettered alone, as always) and
    /// commits the others; a transient error (database unreachable) retries the batch after
    /// a backoff instead.
    ///
    /// It must do what [`handle`](Handler::handle) would do for each event, in order.
    ///
    /// ```
    /// use evc_consumer::{Handler, HandlerError, MessageMeta};
    /// use order_events::OrderEvent;
    /// use sqlx::{Postgres, Transaction};
    ///
    /// struct AuditLog;
    ///
    /// impl Handler<OrderEvent, Postgres> for AuditLog {
    ///     async fn handle(
    ///         &self,
    ///         tx: &mut Transaction<'static, Postgres>,
    ///         _event: &OrderEvent,
    ///         meta: &MessageMeta,
    ///     ) -> Result<(), HandlerError> {
    ///         sqlx::query("INSERT INTO audit (event_key) VALUES ($1)")
    ///             .bind(&meta.event_key)
    ///             .execute(&mut **tx)
    ///             .await?;
    ///         Ok(())
    ///     }
    ///
    ///     // one round trip per batch instead of one per event
    ///     async fn handle_batch(
    ///         &self,
    ///         tx: &mut Transaction<'static, Postgres>,
    ///         events: &[(&OrderEvent, &MessageMeta)],
    ///     ) -> Option<Result<(), HandlerError>> {
    ///         let keys: Vec<&str> = events.iter().map(|(_, m)| m.event_key.as_str()).collect();
    ///         let done = sqlx::query("INSERT INTO audit (event_key) SELECT * FROM UNNEST($1::text[])")
    ///             .bind(keys)
    ///             .execute(&mut **tx)
    ///             .await;
    ///         Some(done.map(|_| ()).map_err(HandlerError::from))
    ///     }
    /// }
    /// ```
    fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Db>,
        events: &[(&E, &MessageMeta)],
    ) -> impl Future<Output = Option<Result<(), HandlerError>>> + Send {
        let _ = (tx, events);
        std::future::ready(None)
    }
}

/// A handler failure: retried with backoff, then dead-lettered; or, when
/// [`permanent`](HandlerError::permanent), dead-lettered at once.
///
/// Any `std::error::Error` converts into it with `?`; its class (the `evc.dlq.error.class`
/// header of the dead letter) is then the error's Rust type name. A database error of the
/// connection kind (I/O, pool timed out or closed) is treated as transient: retried without
/// limit and never dead-lettered, since the database being unreachable says nothing about the
/// message.
pub struct HandlerError {
    class: String,
    message: String,
    permanent: bool,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl HandlerError {
    /// A retryable failure of class `class` (e.g. `"billing::CustomerUnknown"`).
    pub fn new(class: impl Into<String>, message: impl Into<String>) -> HandlerError {
        HandlerError {
            class: class.into(),
            message: message.into(),
            permanent: false,
            source: None,
        }
    }

    /// Marks the failure as permanent: retrying cannot help (an invalid command, a business
    /// rule), so the message goes to the dead-letter topic at once.
    pub fn permanent(mut self) -> HandlerError {
        self.permanent = true;
        self
    }

    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    pub fn class(&self) -> &str {
        &self.class
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error it was made from, if any.
    pub fn source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// A database connection failure (retried without limit, never dead-lettered).
    pub fn is_transient(&self) -> bool {
        self.source
            .as_deref()
            .and_then(|e| e.downcast_ref::<sqlx::Error>())
            .is_some_and(is_connection_error)
    }
}

pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    fn from(e: E) -> HandlerError {
        HandlerError {
            class: std::any::type_name::<E>().to_string(),
            message: e.to_string(),
            permanent: false,
            source: Some(Box::new(e)),
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("class", &self.class)
            .field("message", &self.message)
            .field("permanent", &self.permanent)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_kinds() {
        let e: HandlerError = std::io::Error::other("disk full").into();
        assert_eq!(e.class(), "std::io::error::Error");
        assert_eq!(e.message(), "disk full");
        assert!(!e.is_permanent() && !e.is_transient());
        let e = HandlerError::new("billing::Rejected", "no such customer").permanent();
        assert!(e.is_permanent());
        assert_eq!(e.to_string(), "billing::Rejected: no such customer");
        let e: HandlerError = sqlx::Error::PoolTimedOut.into();
        assert!(e.is_transient());
        let e: HandlerError = sqlx::Error::RowNotFound.into();
        assert!(!e.is_transient());
    }
}
