//! The consuming loop: batches of deliveries from the transport, processing, settling.
//!
//! Processing a delivery ([`EventConsumer::process`]) decides what becomes of it (an
//! [`Outcome`]) without touching the subscription; the loop then settles it (ack, dead letter,
//! or nothing when stopping). A batch of several ([`batch`]) is processed in one transaction
//! and settled in order after it commits; the subscription hands out at most a batch's worth
//! of unsettled deliveries per shard, each shard's in order, so each key's order is kept.

mod batch;
mod control;

use control::RunState;
pub use control::{BatchPoint, Control};

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use evc_registry_client::RegistryClient;
use evc_telemetry::{HeaderExtractor, TraceContext};
use evc_transport::{
    AnyTransport, DeadLetterReason, Delivery, LazyTransport, SubscribeOptions, Subscription,
    Transport, TransportError,
};
use evc_wire::Deserializer;
use tracing::Instrument as _;

use crate::dlq::{classify, DecodeFailure, Stage, NULL_VALUE_CLASS};
use crate::handler::is_connection_error;
use crate::metrics::{Counters, Metrics, MetricsHandle};
use crate::{
    ConsumeError, ConsumedEvent, ConsumerConfig, Handler, HandlerError, MessageMeta,
    ProcessedRecord, ProcessedStore,
};

/// What becomes of a delivery once processed.
enum Outcome {
    /// Done (processed or a duplicate): ack it.
    Ack,
    /// Give up on it: to `<topic>.dlq` with this reason.
    DeadLetter(DeadLetterReason),
    /// Stopping before it was done: leave it unsettled (it is delivered again).
    Stop,
}

enum Attempt {
    Processed,
    Duplicate,
    Failed(HandlerError),
    Transient(String),
}

/// A typed consumer (see the [crate] docs): decodes each delivery into `E`, runs the handler
/// `H` in a transaction of the processed-events store `S`, retries, dead-letters, and acks a
/// delivery only once it is done, over the transport `T` (by default the one the
/// configuration's broker URL names).
pub struct EventConsumer<E, S, H, T: Transport = AnyTransport> {
    transport: LazyTransport<T>,
    deserializer: Arc<Deserializer>,
    store: S,
    handler: H,
    config: ConsumerConfig,
    topics: Vec<String>,
    counters: Arc<Counters>,
    control: Control,
    _event: PhantomData<fn() -> E>,
}

impl<E, S, H> EventConsumer<E, S, H, AnyTransport>
where
    E: ConsumedEvent,
    S: ProcessedStore,
    H: Handler<E, S::Db>,
{
    /// A consumer of the broker [`ConsumerConfig::new`] names, reading writer schemas from
    /// `registry`.
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
        let transport = config.transport()?;
        Ok(Self::assemble(
            transport,
            config,
            deserializer,
            store,
            handler,
        ))
    }
}

impl<E, S, H, T> EventConsumer<E, S, H, T>
where
    E: ConsumedEvent,
    S: ProcessedStore,
    H: Handler<E, S::Db>,
    T: Transport + 'static,
{
    /// A consumer over a transport you made (any implementation of
    /// [`evc_transport::Transport`]); the configuration's broker URL and Kafka settings are
    /// not used.
    pub fn over(
        transport: Arc<T>,
        config: ConsumerConfig,
        deserializer: Arc<Deserializer>,
        store: S,
        handler: H,
    ) -> Self {
        Self::assemble(
            LazyTransport::ready(transport),
            config,
            deserializer,
            store,
            handler,
        )
    }

    fn assemble(
        transport: LazyTransport<T>,
        config: ConsumerConfig,
        deserializer: Arc<Deserializer>,
        store: S,
        handler: H,
    ) -> Self {
        let topics = if config.topics.is_empty() {
            vec![E::default_topic().to_string()]
        } else {
            config.topics.clone()
        };
        EventConsumer {
            transport,
            deserializer,
            store,
            handler,
            config,
            topics,
            counters: Arc::new(Counters::default()),
            control: Control::new(),
            _event: PhantomData,
        }
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

    /// Makes sure the group receives what is published to its topics from now on (on RabbitMQ
    /// a group's queues must exist before publishing; Kafka and Redis groups start at the
    /// oldest retained message anyway). [`EventConsumer::run`] does it too.
    pub async fn declare_groups(&self) -> Result<(), ConsumeError> {
        let transport = self.transport.get().await?;
        for topic in &self.topics {
            transport
                .declare_group(topic, &self.config.group_id)
                .await?;
        }
        Ok(())
    }

    /// Consumes until [`Control::shutdown`]; answers the final counters.
    ///
    /// Joins the group on each topic (declaring the group first, so on RabbitMQ its queues
    /// exist), then handles batches of up to [`ConsumerConfig::batch_size`] deliveries in the
    /// order the subscriptions hand them out, each batch in one transaction, acked in order
    /// after it commits: a shard hands out at most a batch's worth of unsettled deliveries, in
    /// order, so the messages of one key are handled strictly in order. With a batch size of 1
    /// each delivery is its own transaction.
    pub async fn run(self) -> Result<Metrics, ConsumeError> {
        self.declare_groups().await?;
        let transport = self.transport.get().await?.clone();
        let mut subs = Vec::with_capacity(self.topics.len());
        for topic in &self.topics {
            let options = SubscribeOptions::new(&self.config.group_id)
                .takeover_after(self.config.takeover_after)
                .prefetch(self.config.prefetch)
                .lag_interval(self.config.lag_interval)
                .window(self.config.batch_size);
            let sub = transport.subscribe(topic, options).await?;
            self.counters.watch(sub.stats());
            subs.push(sub);
        }
        let (max, linger) = (
            usize::from(self.config.batch_size.max(1)),
            self.config.batch_linger,
        );
        let mut waits = 0;
        loop {
            let (i, next) = tokio::select! {
                biased;
                _ = self.control.stopped() => break,
                n = next_of(&mut subs, max, linger) => n,
            };
            let mut batch = match next {
                Ok(batch) => {
                    waits = 0;
                    batch
                }
                Err(e) if e.is_transient() => {
                    waits += 1;
                    Counters::inc(&self.counters.transient_retries);
                    tracing::warn!(error = %e, "broker unavailable; retrying");
                    if !self.pause(self.config.transient_retry.delay(waits)).await {
                        break;
                    }
                    continue;
                }
                Err(e) => {
                    self.finish(subs).await;
                    return Err(e.into());
                }
            };
            if batch.len() > 1 {
                if !self.run_batch(&mut subs[i], batch).await {
                    break;
                }
                continue;
            }
            let Some(d) = batch.pop() else { continue };
            let span = consume_span(&d, &self.config.group_id);
            let outcome = self.process(&d).instrument(span.clone()).await;
            if !self
                .settle(&mut subs[i], &d, outcome)
                .instrument(span)
                .await
            {
                break;
            }
        }
        Ok(self.finish(subs).await)
    }

    async fn finish(&self, subs: Vec<T::Subscription>) -> Metrics {
        if self.control.state() == RunState::Crashing {
            // A killed process: nothing more is recorded. Dropping a Kafka consumer leaves
            // its group (polling until librdkafka is done): off the async workers.
            let _ = tokio::task::spawn_blocking(move || drop(subs)).await;
        } else {
            for sub in subs {
                if let Err(e) = sub.close().await {
                    tracing::warn!(error = %e, "closing the subscription failed: what was acked since the last commit will be delivered again");
                }
            }
        }
        self.metrics().snapshot()
    }

    /// Settles `d` per `outcome`; `false` when the consumer stops.
    async fn settle(&self, sub: &mut T::Subscription, d: &Delivery, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Ack => {
                if self.control.take_crash_before_ack() {
                    self.control.0.send_replace(RunState::Crashing);
                    return false;
                }
                if let Err(e) = sub.ack(d).await {
                    // The message is done in the database: a redelivery is a duplicate.
                    tracing::warn!(error = %e, topic = %d.topic, shard = d.shard, position = %d.position, "could not ack; it may be delivered again");
                }
                true
            }
            Outcome::DeadLetter(reason) => self.dead_letter(sub, d, &reason).await,
            Outcome::Stop => false,
        }
    }

    /// Waits `d`, or less when the consumer is stopped: `false` then.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.control.stopped() => false,
        }
    }

    /// Decodes `d` and runs the handler (with retries) in the idempotency transaction;
    /// answers what to do with `d`. Touches no subscription.
    async fn process(&self, d: &Delivery) -> Outcome {
        match self.decode(d).await {
            Ok(event) => self.handle(&event, d, None).await,
            Err(outcome) => outcome,
        }
    }

    /// Decodes `d`, retrying while the registry is unreachable; a poison message answers its
    /// dead letter, a stop while retrying [`Outcome::Stop`].
    async fn decode(&self, d: &Delivery) -> Result<E, Outcome> {
        if d.payload.is_empty() {
            return Err(poison(
                NULL_VALUE_CLASS,
                "the message has no value (a tombstone or an empty payload): it is not an event",
            ));
        }
        let mut waits = 0;
        loop {
            match E::decode(&self.deserializer, &d.payload).await {
                Ok(e) => return Ok(e),
                Err(e) => match classify(&e) {
                    DecodeFailure::Poison { class } => return Err(poison(class, &e.to_string())),
                    DecodeFailure::Transient => {
                        waits += 1;
                        Counters::inc(&self.counters.transient_retries);
                        tracing::warn!(error = %e, topic = %d.topic, shard = d.shard, position = %d.position, "schema registry unavailable; retrying");
                        if !self.pause(self.config.transient_retry.delay(waits)).await {
                            return Err(Outcome::Stop);
                        }
                    }
                },
            }
        }
    }

    /// What the handler is told about `d`, before its first attempt.
    fn meta(&self, event: &E, d: &Delivery) -> MessageMeta {
        let event_key = match event.event_id() {
            Some(id) => id.to_string(),
            None => format!("{}/{}/{}", d.topic, d.shard, d.position),
        };
        MessageMeta {
            topic: d.topic.clone(),
            partition: d.shard as i32,
            offset: d.position.parse().unwrap_or(-1),
            position: d.position.clone(),
            timestamp: d.timestamp,
            key: d.key.clone(),
            headers: d.headers.clone(),
            delivery_count: d.delivery_count,
            event_key,
            event_type: event.event_type(),
            group: self.config.group_id.clone(),
            attempt: 0,
        }
    }

    /// Runs the handler on `event` (with retries) in the idempotency transaction; `failed`:
    /// its first attempt was made already (in a batch) and failed so.
    async fn handle(&self, event: &E, d: &Delivery, failed: Option<HandlerError>) -> Outcome {
        let mut meta = self.meta(event, d);
        let mut waits = 0;
        let mut done = failed.map(|e| {
            meta.attempt = 1;
            Attempt::Failed(e)
        });
        loop {
            let attempt = match done.take() {
                Some(a) => a,
                None => {
                    meta.attempt += 1;
                    self.attempt(event, &meta).await
                }
            };
            match attempt {
                Attempt::Processed => {
                    Counters::inc(&self.counters.processed);
                    return Outcome::Ack;
                }
                Attempt::Duplicate => {
                    Counters::inc(&self.counters.duplicates);
                    tracing::debug!(event = %meta.event_key, "duplicate event skipped");
                    return Outcome::Ack;
                }
                Attempt::Transient(reason) => {
                    meta.attempt -= 1;
                    waits += 1;
                    Counters::inc(&self.counters.transient_retries);
                    tracing::warn!(error = %reason, event = %meta.event_key, "database unavailable; retrying");
                    if !self.pause(self.config.transient_retry.delay(waits)).await {
                        return Outcome::Stop;
                    }
                }
                Attempt::Failed(err) => {
                    let attempts = meta.attempt;
                    if err.is_permanent() || attempts >= self.config.handler_retry.max_attempts {
                        return Outcome::DeadLetter(
                            DeadLetterReason::new(err.class(), err.message(), attempts)
                                .stage(Stage::Handle.as_str()),
                        );
                    }
                    Counters::inc(&self.counters.retried);
                    tracing::warn!(error = %err, event = %meta.event_key, attempt = attempts, "handler failed; retrying");
                    if !self.pause(self.config.handler_retry.delay(attempts)).await {
                        return Outcome::Stop;
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
            position: &meta.position,
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
        let started = Instant::now();
        let attempt = match self.handler.handle(&mut tx, event, meta).await {
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
        };
        self.counters
            .handler_seconds
            .observe(started.elapsed().as_secs_f64());
        attempt
    }

    /// Dead-letters `d` (to `<topic>.dlq`, confirmed by the broker, then acked), retrying
    /// until the broker has it; `false` when the consumer stops first (the message is then
    /// not settled and comes back).
    async fn dead_letter(
        &self,
        sub: &mut T::Subscription,
        d: &Delivery,
        reason: &DeadLetterReason,
    ) -> bool {
        let mut waits = 0;
        loop {
            match sub.dead_letter(d, reason).await {
                Ok(()) => {
                    Counters::inc(&self.counters.dead_lettered);
                    tracing::warn!(
                        group = %self.config.group_id,
                        topic = %d.topic, shard = d.shard, position = %d.position,
                        stage = reason.stage.as_deref().unwrap_or(""), class = %reason.class,
                        message = %reason.message, attempts = reason.attempts,
                        "message dead-lettered"
                    );
                    return true;
                }
                Err(e @ TransportError::NotOutstanding { .. }) => {
                    // Its shard moved to another member meanwhile, which delivers it again.
                    tracing::warn!(error = %e, "dead letter not written: the delivery is no longer ours");
                    return true;
                }
                Err(e) => {
                    waits += 1;
                    Counters::inc(&self.counters.transient_retries);
                    tracing::warn!(error = %e, topic = %d.topic, "could not write the dead letter; retrying");
                    if !self.pause(self.config.transient_retry.delay(waits)).await {
                        return false;
                    }
                }
            }
        }
    }
}

/// The span a delivery is processed and settled in: a child of the trace context in its
/// headers (the producer's or the relay's span), else the root of a new trace. A malformed
/// `traceparent` is ignored with a DEBUG line (W3C Trace Context: start a new trace); it never
/// fails or dead-letters the message.
fn consume_span(d: &Delivery, group: &str) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "evc.consume",
        group = %group,
        topic = %d.topic,
        shard = d.shard,
        position = %d.position,
    );
    if span.is_disabled() {
        // no subscriber wants it: nothing to continue, nothing to parse
        return span;
    }
    match TraceContext::extract(&Carried(&d.headers)) {
        Ok(Some(parent)) => {
            parent.set_parent_of(&span);
        }
        Ok(None) => {}
        Err(e) => span.in_scope(|| {
            tracing::debug!(error = %e, topic = %d.topic, shard = d.shard, position = %d.position,
                "malformed trace context ignored; the message starts a new trace")
        }),
    }
    span
}

/// A delivery's headers, as the trace context reads them.
struct Carried<'a>(&'a evc_transport::Headers);

impl HeaderExtractor for Carried<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name)
    }
}

fn poison(class: &str, message: &str) -> Outcome {
    Outcome::DeadLetter(DeadLetterReason::new(class, message, 1).stage(Stage::Deserialize.as_str()))
}

fn database_failure(e: sqlx::Error) -> Attempt {
    if is_connection_error(&e) {
        Attempt::Transient(e.to_string())
    } else {
        Attempt::Failed(HandlerError::from(e))
    }
}

type Next<'a> = Pin<Box<dyn Future<Output = Result<Vec<Delivery>, TransportError>> + Send + 'a>>;

/// The next batch of any of `subs` (up to `max`, waiting `linger` for more once it has one),
/// with the index of the subscription that handed it out. Several subscriptions race, so they
/// do not linger: a batch without linger is cancel-safe.
async fn next_of<S: Subscription>(
    subs: &mut [S],
    max: usize,
    linger: Duration,
) -> (usize, Result<Vec<Delivery>, TransportError>) {
    if let [only] = subs {
        return (0, only.next_batch(max, linger).await);
    }
    let mut pending: Vec<Next<'_>> = subs
        .iter_mut()
        .map(|s| Box::pin(s.next_batch(max, Duration::ZERO)) as Next<'_>)
        .collect();
    std::future::poll_fn(|cx| {
        for (i, f) in pending.iter_mut().enumerate() {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                return Poll::Ready((i, r));
            }
        }
        Poll::Pending
    })
    .await
}
