//! The consuming loop.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use evc_registry_client::RegistryClient;
use evc_wire::Deserializer;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tokio::sync::watch;

use crate::dlq::{
    classify, dead_letter_headers, DeadLetter, DecodeFailure, Stage, NULL_VALUE_CLASS,
};
use crate::handler::is_connection_error;
use crate::metrics::{Counters, Metrics, MetricsHandle};
use crate::{
    ConsumeError, ConsumedEvent, ConsumerConfig, Handler, HandlerError, MessageMeta,
    ProcessedRecord, ProcessedStore,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    Running,
    Stopping,
    Crashing,
}

/// Stops a running [`EventConsumer`] from another task.
#[derive(Debug, Clone)]
pub struct Control(Arc<watch::Sender<RunState>>);

impl Control {
    fn new() -> Control {
        Control(Arc::new(watch::channel(RunState::Running).0))
    }

    /// Graceful shutdown: the message being processed is finished (a backoff wait is cut
    /// short, leaving its message unstored, to be redelivered), stored offsets are committed,
    /// the group is left, and [`EventConsumer::run`] returns.
    pub fn shutdown(&self) {
        self.0.send_if_modified(|s| {
            let running = *s == RunState::Running;
            if running {
                *s = RunState::Stopping;
            }
            running
        });
    }

    /// For tests (feature `test-hooks`): stops like a killed process would, at the next point
    /// the loop waits, with nothing further stored and nothing committed (not even on the
    /// revoke of leaving the group): what the last commit covered is all the group keeps.
    #[cfg(feature = "test-hooks")]
    pub fn simulate_crash(&self) {
        self.0.send_replace(RunState::Crashing);
    }

    pub fn is_stopping(&self) -> bool {
        *self.0.borrow() != RunState::Running
    }

    fn state(&self) -> RunState {
        *self.0.borrow()
    }

    async fn stopped(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|s| *s != RunState::Running).await;
    }
}

/// The rdkafka context: commits stored offsets when partitions are revoked.
pub(crate) struct EvcContext {
    counters: Arc<Counters>,
    crashed: AtomicBool,
    /// An offset was stored since the last successful commit.
    dirty: AtomicBool,
}

impl EvcContext {
    /// Commits the stored offsets (when any was stored since the last commit, or always on
    /// revoke).
    fn commit(
        &self,
        consumer: &impl Consumer<Self>,
        mode: CommitMode,
        on_revoke: bool,
    ) -> Result<(), KafkaError> {
        let was_dirty = self.dirty.swap(false, Ordering::SeqCst);
        if !was_dirty && !on_revoke {
            return Ok(());
        }
        match consumer.commit_consumer_state(mode) {
            Ok(()) => {
                Counters::inc(&self.counters.commits);
                if on_revoke {
                    Counters::inc(&self.counters.revoke_commits);
                }
                Ok(())
            }
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => {
                self.dirty.fetch_or(was_dirty, Ordering::SeqCst);
                Err(e)
            }
        }
    }
}

impl ClientContext for EvcContext {}

impl ConsumerContext for EvcContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(revoked) = rebalance {
            if self.crashed.load(Ordering::SeqCst) {
                return;
            }
            // Runs inside the poll of `recv`, between two messages: everything stored is done.
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => {
                    Counters::inc(&self.counters.commits);
                    Counters::inc(&self.counters.revoke_commits);
                    tracing::info!(
                        partitions = revoked.count(),
                        "committed stored offsets on revoke"
                    );
                }
                Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => tracing::warn!(error = %e, "commit on revoke failed"),
            }
        }
    }
}

enum Flow {
    /// The message is done (processed, duplicate or dead-lettered): store its offset.
    Done,
    /// Shutting down before the message was done: leave its offset unstored.
    Stop,
}

enum Attempt {
    Processed,
    Duplicate,
    Failed(HandlerError),
    Transient(String),
}

/// A typed consumer (see the [crate] docs): decodes each message into `E`, runs the handler
/// `H` in a transaction of the processed-events store `S`, retries, dead-letters, and stores
/// the offset only once a message is done.
pub struct EventConsumer<E, S, H> {
    consumer: StreamConsumer<EvcContext>,
    dlq: FutureProducer,
    deserializer: Arc<Deserializer>,
    store: S,
    handler: H,
    config: ConsumerConfig,
    topics: Vec<String>,
    counters: Arc<Counters>,
    control: Control,
    _event: PhantomData<fn() -> E>,
}

impl<E, S, H> EventConsumer<E, S, H>
where
    E: ConsumedEvent,
    S: ProcessedStore,
    H: Handler<E, S::Db>,
{
    /// A consumer reading writer schemas from `registry`.
    pub fn new(
        config: ConsumerConfig,
        registry: RegistryClient,
        store: S,
        handler: H,
    ) -> Result<Self, ConsumeError> {
        Self::with_deserializer(
            config,
            Arc::new(Deserializer::new(registry)),
            store,
            handler,
        )
    }

    /// A consumer sharing a deserializer (and so its writer-schema cache) with others.
    pub fn with_deserializer(
        config: ConsumerConfig,
        deserializer: Arc<Deserializer>,
        store: S,
        handler: H,
    ) -> Result<Self, ConsumeError> {
        let counters = Arc::new(Counters::default());
        let context = EvcContext {
            counters: counters.clone(),
            crashed: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
        };
        let consumer: StreamConsumer<EvcContext> = config
            .consumer_config()?
            .create_with_context(context)
            .map_err(ConsumeError::Kafka)?;
        let dlq: FutureProducer = config
            .dlq_producer_config()?
            .create()
            .map_err(ConsumeError::Kafka)?;
        let topics = if config.topics.is_empty() {
            vec![E::default_topic().to_string()]
        } else {
            config.topics.clone()
        };
        Ok(EventConsumer {
            consumer,
            dlq,
            deserializer,
            store,
            handler,
            config,
            topics,
            counters,
            control: Control::new(),
            _event: PhantomData,
        })
    }

    /// Stops the consumer from elsewhere.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Reads the counters while the consumer runs.
    pub fn metrics(&self) -> MetricsHandle {
        MetricsHandle(self.counters.clone())
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Consumes until [`Control::shutdown`]; answers the final counters.
    ///
    /// Messages are processed one at a time, in the order the consumer receives them, so the
    /// messages of one partition are handled strictly in offset order. Rebalance callbacks run
    /// between two messages (inside the poll), so the commit on revoke covers exactly the
    /// messages that are done.
    pub async fn run(self) -> Result<Metrics, ConsumeError> {
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&topics)
            .map_err(ConsumeError::Kafka)?;
        let mut tick = tokio::time::interval(self.config.commit_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let received = tokio::select! {
                biased;
                _ = self.control.stopped() => break,
                _ = tick.tick() => {
                    self.commit(CommitMode::Async);
                    continue;
                }
                m = self.consumer.recv() => m,
            };
            let m = match received {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "Kafka consumer error");
                    if !self.pause(Duration::from_millis(100)).await {
                        break;
                    }
                    continue;
                }
            };
            match self.process(&m).await {
                Flow::Done => {
                    if let Err(e) = self.consumer.store_offset_from_message(&m) {
                        // The partition was taken away meanwhile: its new owner gets the
                        // message again, and the processed-events store makes that harmless.
                        tracing::warn!(error = %e, topic = m.topic(), partition = m.partition(), offset = m.offset(), "could not store the offset");
                    } else {
                        self.consumer.context().dirty.store(true, Ordering::SeqCst);
                    }
                }
                Flow::Stop => break,
            }
        }
        Ok(self.finish().await)
    }

    async fn finish(self) -> Metrics {
        if self.control.state() == RunState::Crashing {
            self.consumer
                .context()
                .crashed
                .store(true, Ordering::SeqCst);
        } else {
            self.final_commit().await;
        }
        let metrics = MetricsHandle(self.counters.clone()).snapshot();
        let EventConsumer { consumer, dlq, .. } = self;
        // Closing leaves the group (polling until librdkafka is done): off the async workers.
        let _ = tokio::task::spawn_blocking(move || {
            drop(consumer);
            drop(dlq);
        })
        .await;
        metrics
    }

    fn commit(&self, mode: CommitMode) {
        if let Err(e) = self.consumer.context().commit(&self.consumer, mode, false) {
            tracing::warn!(error = %e, "offset commit failed");
        }
    }

    /// The shutdown commit. A group in the middle of a rebalance (another member joining or
    /// leaving) may refuse it; the consumer then keeps polling, so that it can take part in the
    /// rebalance, and tries again, for up to [`ConsumerConfig::shutdown_timeout`]. Messages
    /// received meanwhile are not handled and not stored: they are redelivered later.
    async fn final_commit(&self) {
        let deadline = tokio::time::Instant::now() + self.config.shutdown_timeout;
        loop {
            match self
                .consumer
                .context()
                .commit(&self.consumer, CommitMode::Sync, false)
            {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "shutdown commit refused; polling and retrying");
                    let _ = tokio::time::timeout(Duration::from_millis(100), self.consumer.recv())
                        .await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "shutdown commit failed: the uncommitted messages will be redelivered");
                    return;
                }
            }
        }
    }

    /// Waits `d`, or less when the consumer is stopped: `false` then.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.control.stopped() => false,
        }
    }

    async fn process(&self, m: &BorrowedMessage<'_>) -> Flow {
        let Some(payload) = m.payload() else {
            return self
                .dead_letter(
                    m,
                    Stage::Deserialize,
                    NULL_VALUE_CLASS,
                    "the record has no value (a tombstone): it is not an event",
                    1,
                )
                .await;
        };
        let mut waits = 0;
        let event = loop {
            match E::decode(&self.deserializer, payload).await {
                Ok(e) => break e,
                Err(e) => match classify(&e) {
                    DecodeFailure::Poison { class } => {
                        return self
                            .dead_letter(m, Stage::Deserialize, class, &e.to_string(), 1)
                            .await
                    }
                    DecodeFailure::Transient => {
                        waits += 1;
                        Counters::inc(&self.counters.transient_retries);
                        tracing::warn!(error = %e, topic = m.topic(), partition = m.partition(), offset = m.offset(), "schema registry unavailable; retrying");
                        if !self.pause(self.config.transient_retry.delay(waits)).await {
                            return Flow::Stop;
                        }
                    }
                },
            }
        };

        let event_key = match event.event_id() {
            Some(id) => id.to_string(),
            None => format!("{}/{}/{}", m.topic(), m.partition(), m.offset()),
        };
        let mut meta = MessageMeta {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp().to_millis(),
            key: m.key().map(<[u8]>::to_vec),
            event_key,
            event_type: event.event_type(),
            group: self.config.group_id.clone(),
            attempt: 0,
        };
        let mut waits = 0;
        loop {
            meta.attempt += 1;
            match self.attempt(&event, &meta).await {
                Attempt::Processed => {
                    Counters::inc(&self.counters.processed);
                    return Flow::Done;
                }
                Attempt::Duplicate => {
                    Counters::inc(&self.counters.duplicates);
                    tracing::debug!(event = %meta.event_key, "duplicate event skipped");
                    return Flow::Done;
                }
                Attempt::Transient(reason) => {
                    meta.attempt -= 1;
                    waits += 1;
                    Counters::inc(&self.counters.transient_retries);
                    tracing::warn!(error = %reason, event = %meta.event_key, "database unavailable; retrying");
                    if !self.pause(self.config.transient_retry.delay(waits)).await {
                        return Flow::Stop;
                    }
                }
                Attempt::Failed(err) => {
                    let attempts = meta.attempt;
                    if err.is_permanent() || attempts >= self.config.handler_retry.max_attempts {
                        return self
                            .dead_letter(m, Stage::Handle, err.class(), err.message(), attempts)
                            .await;
                    }
                    Counters::inc(&self.counters.retried);
                    tracing::warn!(error = %err, event = %meta.event_key, attempt = attempts, "handler failed; retrying");
                    if !self.pause(self.config.handler_retry.delay(attempts)).await {
                        return Flow::Stop;
                    }
                }
            }
        }
    }

    /// One try: marker first, then the handler, one transaction.
    async fn attempt(&self, event: &E, meta: &MessageMeta) -> Attempt {
        let record = ProcessedRecord {
            group: &meta.group,
            event_key: &meta.event_key,
            event_type: meta.event_type,
            topic: &meta.topic,
            partition: meta.partition,
            offset: meta.offset,
        };
        let mut tx = match self.store.begin().await {
            Ok(tx) => tx,
            Err(e) => return database_failure(e),
        };
        match self.store.mark_processed(&mut tx, &record).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = tx.rollback().await;
                return Attempt::Duplicate;
            }
            Err(e) => {
                let _ = tx.rollback().await;
                return database_failure(e);
            }
        }
        match self.handler.handle(&mut tx, event, meta).await {
            Ok(()) => match tx.commit().await {
                Ok(()) => Attempt::Processed,
                Err(e) => database_failure(e),
            },
            Err(e) => {
                let _ = tx.rollback().await;
                if e.is_transient() {
                    Attempt::Transient(e.to_string())
                } else {
                    Attempt::Failed(e)
                }
            }
        }
    }

    /// Writes the message to its dead-letter topic, retrying until the broker has it (or the
    /// consumer stops: the message is then not done and comes back).
    async fn dead_letter(
        &self,
        m: &BorrowedMessage<'_>,
        stage: Stage,
        class: &str,
        message: &str,
        attempts: u32,
    ) -> Flow {
        let topic = self.config.dlq_topic_for(m.topic());
        let original = m.headers().map(|h| h.detach());
        let headers = dead_letter_headers(
            original.as_ref(),
            &DeadLetter {
                topic: m.topic(),
                partition: m.partition(),
                offset: m.offset(),
                timestamp: m.timestamp(),
                group: &self.config.group_id,
                stage,
                class,
                message,
                attempts,
            },
        );
        let mut waits = 0;
        loop {
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&topic).headers(headers.clone());
            if let Some(k) = m.key() {
                record = record.key(k);
            }
            if let Some(v) = m.payload() {
                record = record.payload(v);
            }
            match self.dlq.send(record, Duration::from_secs(30)).await {
                Ok(d) => {
                    Counters::inc(&self.counters.dead_lettered);
                    tracing::error!(
                        topic = m.topic(), partition = m.partition(), offset = m.offset(),
                        dlq = %topic, dlq_partition = d.partition, dlq_offset = d.offset,
                        stage = stage.as_str(), class, message, attempts,
                        "message dead-lettered"
                    );
                    return Flow::Done;
                }
                Err((e, _)) => {
                    waits += 1;
                    Counters::inc(&self.counters.transient_retries);
                    tracing::warn!(error = %e, dlq = %topic, "could not write the dead letter; retrying");
                    if !self.pause(self.config.transient_retry.delay(waits)).await {
                        return Flow::Stop;
                    }
                }
            }
        }
    }
}

fn database_failure(e: sqlx::Error) -> Attempt {
    if is_connection_error(&e) {
        Attempt::Transient(e.to_string())
    } else {
        Attempt::Failed(HandlerError::from(e))
    }
}
