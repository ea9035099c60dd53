//! A batch of deliveries in one transaction: decoded first, then the markers of its events (one
//! [`ProcessedStore::mark_processed_batch`] call) and the handler over the new ones (its
//! set-based [`Handler::handle_batch`] if it has one, else `handle` per event) in one store
//! transaction, committed once, then settled in order. A failing `handle_batch` names no event:
//! the batch is then tried again event by event, which finds it.
//!
//! A duplicate (its marker already there, committed earlier or earlier in the same batch)
//! skips its handler; a poison message ends the transaction before it and is dead-lettered on
//! its own once the events before it are settled, the events after it following. When a
//! handler fails, the transaction is rolled back and the events before the failing one are
//! tried again without it (they commit and are acked; their handlers run again, in the new
//! transaction); the failing one then goes on alone, as a single delivery would (the failed
//! try is its first attempt: retried with backoff, then dead-lettered); the events after it follow in a new batch, so a shard's deliveries are
//! settled in order and nothing after a delivery is acked before it. A database outage rolls
//! the whole batch back and tries it again after a backoff; a commit refused for a reason no
//! event can be blamed for makes the batch go one event per transaction.

use std::collections::VecDeque;
use std::time::Instant;

use evc_transport::{Delivery, Transport};
use tracing::Instrument as _;

use super::{consume_span, BatchPoint, EventConsumer, Outcome};
use crate::handler::is_connection_error;
use crate::metrics::Counters;
use crate::{ConsumedEvent, Handler, HandlerError, MessageMeta, ProcessedRecord, ProcessedStore};

/// One delivery of a batch, decoded (or what becomes of it when it cannot be).
struct Item<E> {
    d: Delivery,
    span: tracing::Span,
    event: Result<E, Outcome>,
    /// Its handler failed so in a batch that was rolled back: its first attempt.
    failed: Option<HandlerError>,
}

/// What became of one delivery in a committed batch.
enum Done {
    Processed,
    Duplicate,
    /// Not an event: its dead letter is settled in its place.
    Poison,
}

enum BatchAttempt {
    Committed(Vec<Done>),
    /// The handler of the batch's `n`th event failed so; the transaction was rolled back.
    FailedAt(usize, HandlerError),
    /// [`Handler::handle_batch`] failed so, naming no event; rolled back.
    SetBasedFailed(HandlerError),
    /// The database refused the batch for no event's fault; rolled back.
    Unattributed(String),
    /// The database was unreachable; rolled back.
    Transient(String),
}

impl<E, S, H, T> EventConsumer<E, S, H, T>
where
    E: ConsumedEvent,
    S: ProcessedStore,
    H: Handler<E, S::Db>,
    T: Transport + 'static,
{
    /// Processes and settles `batch` (see the [module](self) docs); `false` when the consumer
    /// stops (what is not settled then is delivered again).
    pub(super) async fn run_batch(&self, sub: &mut T::Subscription, batch: Vec<Delivery>) -> bool {
        let mut items = VecDeque::with_capacity(batch.len());
        for d in batch {
            let span = consume_span(&d, &self.config.group_id);
            let event = self.decode(&d).instrument(span.clone()).await;
            if matches!(event, Err(Outcome::Stop)) {
                return false;
            }
            items.push_back(Item {
                d,
                span,
                event,
                failed: None,
            });
        }
        // How many of the front items the next transaction takes.
        let mut limit = items.len();
        let mut waits = 0;
        // The handler's set-based path failed on the front items: event by event until they
        // are committed.
        let mut per_event = false;
        while !items.is_empty() {
            // A poison message ends the transaction before it, and is dead-lettered alone.
            let poison = items.iter().position(|i| i.event.is_err());
            let n = limit
                .min(poison.unwrap_or(usize::MAX))
                .clamp(1, items.len());
            if n == 1 || items.front().is_some_and(|i| i.failed.is_some()) {
                let Item {
                    d,
                    span,
                    event,
                    failed,
                } = items.pop_front().expect("not empty");
                let outcome = match event {
                    Ok(event) => {
                        self.handle(&event, &d, failed)
                            .instrument(span.clone())
                            .await
                    }
                    Err(outcome) => outcome,
                };
                if !self.settle(sub, &d, outcome).instrument(span).await {
                    return false;
                }
                limit = items.len();
                continue;
            }
            match self.attempt_batch(items.range(..n), per_event).await {
                BatchAttempt::Committed(done) => {
                    waits = 0;
                    per_event = false;
                    self.control.at(BatchPoint::AfterCommit { events: n });
                    // Counted once committed, before any ack (a crash may come between).
                    for (item, done) in items.range(..n).zip(&done) {
                        match done {
                            Done::Processed => Counters::inc(&self.counters.processed),
                            Done::Duplicate => {
                                Counters::inc(&self.counters.duplicates);
                                tracing::debug!(parent: &item.span, topic = %item.d.topic, position = %item.d.position, "duplicate event skipped");
                            }
                            Done::Poison => {}
                        }
                    }
                    for (k, (item, done)) in items.drain(..n).zip(done).enumerate() {
                        let outcome = match done {
                            Done::Processed | Done::Duplicate => Outcome::Ack,
                            Done::Poison => item.event.err().unwrap_or(Outcome::Ack),
                        };
                        if !self
                            .settle(sub, &item.d, outcome)
                            .instrument(item.span)
                            .await
                        {
                            return false;
                        }
                        self.control.at(BatchPoint::Settled {
                            acked: k + 1,
                            events: n,
                        });
                    }
                    limit = items.len();
                }
                BatchAttempt::FailedAt(at, error) => {
                    // Counted as its first attempt; the events before it go first, then it
                    // goes on alone.
                    items[at].failed = Some(error);
                    limit = at;
                }
                BatchAttempt::SetBasedFailed(error) => {
                    tracing::debug!(error = %error, events = n, "the handler's batch failed; trying its events one by one to find the failing one");
                    per_event = true;
                }
                BatchAttempt::Unattributed(reason) => {
                    tracing::warn!(error = %reason, events = n, "the batch's transaction failed; going on one event per transaction");
                    limit = 1;
                }
                BatchAttempt::Transient(reason) => {
                    waits += 1;
                    Counters::inc(&self.counters.transient_retries);
                    tracing::warn!(error = %reason, events = n, "database unavailable; retrying the batch");
                    if !self.pause(self.config.transient_retry.delay(waits)).await {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// One transaction over `items`: the markers of its events in one call, then the
    /// handler over the new ones (set-based through [`Handler::handle_batch`] unless
    /// `per_event`, else one event after the other); committed once.
    async fn attempt_batch<'a>(
        &self,
        items: impl ExactSizeIterator<Item = &'a Item<E>>,
        per_event: bool,
    ) -> BatchAttempt
    where
        E: 'a,
    {
        let items: Vec<&Item<E>> = items.collect();
        let n = items.len();
        let mut tx = match self.store.begin().await {
            Ok(tx) => tx,
            Err(e) => return db_failure(e),
        };
        let metas: Vec<Option<MessageMeta>> = items
            .iter()
            .map(|item| {
                item.event.as_ref().ok().map(|event| {
                    let mut meta = self.meta(event, &item.d);
                    meta.attempt = 1;
                    meta
                })
            })
            .collect();
        let records: Vec<ProcessedRecord<'_>> = metas
            .iter()
            .flatten()
            .map(|meta| ProcessedRecord {
                group: &meta.group,
                event_key: &meta.event_key,
                event_type: meta.event_type,
                topic: &meta.topic,
                partition: meta.partition,
                offset: meta.offset,
                position: &meta.position,
            })
            .collect();
        let fresh = match self.store.mark_processed_batch(&mut tx, &records).await {
            Ok(fresh) if fresh.len() == records.len() => fresh,
            Ok(_) => {
                let _ = tx.rollback().await;
                return BatchAttempt::Unattributed(
                    "the processed-events store answered for a different number of events".into(),
                );
            }
            Err(e) => {
                let _ = tx.rollback().await;
                return db_failure(e);
            }
        };
        // What becomes of each item, and the new events the handler is given (item index).
        let mut done = Vec::with_capacity(n);
        let mut todo: Vec<(usize, &E, &MessageMeta)> = Vec::with_capacity(n);
        let mut fresh = fresh.into_iter();
        for (k, (item, meta)) in items.iter().zip(&metas).enumerate() {
            match (&item.event, meta) {
                (Ok(event), Some(meta)) => {
                    if fresh.next() == Some(true) {
                        done.push(Done::Processed);
                        todo.push((k, event, meta));
                    } else {
                        done.push(Done::Duplicate);
                    }
                }
                _ => done.push(Done::Poison),
            }
        }
        let started = Instant::now();
        let set_based = if per_event || todo.is_empty() {
            None
        } else {
            let events: Vec<(&E, &MessageMeta)> = todo.iter().map(|(_, e, m)| (*e, *m)).collect();
            self.handler
                .handle_batch(&mut tx, &events)
                .instrument(tracing::debug_span!(
                    "evc.handle_batch",
                    events = events.len()
                ))
                .await
        };
        match set_based {
            Some(Ok(())) => {
                // One figure per event: the batch's time shared out.
                let each = started.elapsed().as_secs_f64() / todo.len() as f64;
                for _ in &todo {
                    self.counters.handler_seconds.observe(each);
                }
            }
            Some(Err(e)) => {
                let _ = tx.rollback().await;
                return if e.is_transient() {
                    BatchAttempt::Transient(e.to_string())
                } else {
                    BatchAttempt::SetBasedFailed(e)
                };
            }
            None => {
                for (k, event, meta) in &todo {
                    let started = Instant::now();
                    let handled = self
                        .handler
                        .handle(&mut tx, event, meta)
                        .instrument(items[*k].span.clone())
                        .await;
                    self.counters
                        .handler_seconds
                        .observe(started.elapsed().as_secs_f64());
                    if let Err(e) = handled {
                        let _ = tx.rollback().await;
                        return if e.is_transient() {
                            BatchAttempt::Transient(e.to_string())
                        } else {
                            BatchAttempt::FailedAt(*k, e)
                        };
                    }
                }
            }
        }
        self.control.at(BatchPoint::BeforeCommit { events: n });
        match tx.commit().await {
            Ok(()) => BatchAttempt::Committed(done),
            Err(e) => db_failure(e),
        }
    }
}

fn db_failure(e: sqlx::Error) -> BatchAttempt {
    if is_connection_error(&e) {
        BatchAttempt::Transient(e.to_string())
    } else {
        BatchAttempt::Unattributed(e.to_string())
    }
}
