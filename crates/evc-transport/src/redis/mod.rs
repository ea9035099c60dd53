//! Redis Streams (feature `redis`): a topic of N shards is N streams `<topic>:<shard>`.
//!
//! | concept | Redis |
//! |---|---|
//! | topic | streams `<topic>:0` … `<topic>:<N-1>`; the shard count in the hash `<topic>:meta` |
//! | key → shard | Kafka's murmur2 partitioner ([`crate::hash`]), so a key has the same shard number as on Kafka |
//! | message | one entry: fields `k` (key), `p` (payload), `h:<name>` per header, in order |
//! | publish confirmation | the `XADD` reply (the entry id); `MAXLEN ~`/`MINID ~` trimming per [`Retention`] |
//! | group | a consumer group of that name on every shard stream, created at `0` (everything retained) |
//! | shard owner | a lease `<topic>:<shard>:owner:<group>` (`SET NX PX`), renewed every third of its time; members register in the sorted set `<topic>:members:<group>` and each takes its fair share (⌈N / members⌉), giving back idle shards beyond it |
//! | delivery | `XREADGROUP … >` on the owned shards; entries stay pending until `XACK` |
//! | nack | the entry stays pending and is handed out again after the delay; `XCLAIM` to self raises its delivery count in Redis |
//! | dead member | its leases expire; the new owner takes the shard's pending entries with `XAUTOCLAIM` (delivery counts from `XPENDING`) before reading new ones |
//! | lease lapsed under a live member | fencing: the member tracks each lease's end by its own clock (renewal send time + lease time), renews one within a third of its end before reading or handing out more of it (the shard is lost at once if another member holds it) and bounds a blocking read to end before it; the owner `XCLAIM`s, before each read, its shards' entries pending under any other consumer (a stale owner's late read or nack) and hands them out in id order before newer ones |
//! | `next` dropped mid-read | the `XREADGROUP … BLOCK` goes on in Redis and still assigns entries to the member; its next `next` re-reads its own pending entries on the blocking reads' connection (Redis runs them after that read) before giving any shard back; a takeover's claim stays due until it completed |
//! | dead letter | `MULTI`: `XADD <topic>.dlq` (the entry with `evc.dlq.*` header fields) + `XACK`: both or neither |
//! | replay | the dead-letter stream from the cursor `<topic>.dlq:replayed`, each entry re-published and the cursor moved in one `MULTI` |
//!
//! Not for Redis Cluster as is (a dead letter's `MULTI` spans two keys in different slots).
//! Retention trims entries whether or not every group read them: an entry trimmed while
//! pending is reported and acknowledged (it is gone), so size retention to outlast outages.

mod entries;
mod lag;
mod lease;
mod subscription;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError};

use crate::hash::shard_for;
use crate::message::now_millis;
use crate::{
    check_name, dlq_name, replay_headers, Capabilities, Delivery, Outgoing, Receipt, ReplayReport,
    SubscribeOptions, Transport, TransportError, TransportKind,
};

pub use subscription::RedisSubscription;

const KIND: TransportKind = TransportKind::Redis;

/// How long a topic stream keeps entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retention {
    /// Never trimmed by evc.
    Unbounded,
    /// About this many entries per shard (`XADD … MAXLEN ~ n`).
    MaxLen(u64),
    /// Entries younger than this (`XADD … MINID ~ <now - age>`).
    MaxAge(Duration),
}

/// How to reach Redis and keep topics.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    pub url: String,
    pub retention: Retention,
    /// Longest wait of one `XREADGROUP … BLOCK`.
    pub block: Duration,
    /// How long one command may take before it counts as failed.
    pub response_timeout: Duration,
}

impl RedisOptions {
    /// `url` as the redis crate takes it; unbounded retention; 500 ms blocking reads.
    pub fn new(url: impl Into<String>) -> RedisOptions {
        RedisOptions {
            url: url.into(),
            retention: Retention::Unbounded,
            block: Duration::from_millis(500),
            response_timeout: Duration::from_secs(10),
        }
    }

    pub fn retention(mut self, retention: Retention) -> RedisOptions {
        self.retention = retention;
        self
    }
}

/// The Redis Streams transport (see the [module](self) docs).
pub struct RedisTransport {
    client: Client,
    conn: MultiplexedConnection,
    options: RedisOptions,
    shards: Mutex<HashMap<String, u32>>,
}

pub(crate) fn stream(topic: &str, shard: u32) -> String {
    format!("{topic}:{shard}")
}

fn meta(topic: &str) -> String {
    format!("{topic}:meta")
}

fn replay_cursor(topic: &str) -> String {
    format!("{}:replayed", dlq_name(topic))
}

pub(crate) fn unavailable(url: &str, e: RedisError) -> TransportError {
    TransportError::Unavailable {
        kind: KIND,
        endpoint: url.to_string(),
        source: Box::new(e),
    }
}

/// A command failure: the connection's trouble is transient, anything else a refusal.
pub(crate) fn failed(
    url: &str,
    operation: &'static str,
    target: &str,
    e: RedisError,
) -> TransportError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal() {
        unavailable(url, e)
    } else {
        TransportError::broker(KIND, operation, target, e)
    }
}

impl RedisTransport {
    pub async fn connect(options: RedisOptions) -> Result<RedisTransport, TransportError> {
        let client = Client::open(options.url.as_str()).map_err(|e| {
            TransportError::invalid(KIND, format!("URL `{}`", options.url), e.to_string())
        })?;
        let conn = connection(&client, &options, options.response_timeout).await?;
        Ok(RedisTransport {
            client,
            conn,
            options,
            shards: Mutex::default(),
        })
    }

    /// The shard count of `topic`, from the cache or from `<topic>:meta`.
    async fn shard_count(&self, topic: &str) -> Result<u32, TransportError> {
        if let Some(n) = self.shards.lock().expect("not poisoned").get(topic) {
            return Ok(*n);
        }
        let mut conn = self.conn.clone();
        let n: Option<u32> = redis::cmd("HGET")
            .arg(meta(topic))
            .arg("shards")
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(&self.options.url, "HGET", &meta(topic), e))?;
        let n = n.ok_or_else(|| TransportError::UnknownTopic {
            kind: KIND,
            topic: topic.to_string(),
        })?;
        self.shards
            .lock()
            .expect("not poisoned")
            .insert(topic.to_string(), n);
        Ok(n)
    }

    fn xadd(&self, topic: &str, shard: u32, m: &Outgoing) -> redis::Cmd {
        let mut c = redis::cmd("XADD");
        c.arg(stream(topic, shard));
        match self.options.retention {
            Retention::Unbounded => {}
            Retention::MaxLen(n) => {
                c.arg("MAXLEN").arg("~").arg(n);
            }
            Retention::MaxAge(age) => {
                let min = now_millis().saturating_sub(age.as_millis() as i64).max(0);
                c.arg("MINID").arg("~").arg(format!("{min}-0"));
            }
        }
        c.arg("*");
        entries::fields(&mut c, m.key.as_bytes(), &m.payload, &m.headers);
        c
    }
}

async fn connection(
    client: &Client,
    options: &RedisOptions,
    response_timeout: Duration,
) -> Result<MultiplexedConnection, TransportError> {
    let config = AsyncConnectionConfig::new()
        .set_response_timeout(Some(response_timeout))
        .set_connection_timeout(Some(Duration::from_secs(5)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| unavailable(&options.url, e))
}

impl Transport for RedisTransport {
    type Subscription = RedisSubscription;

    fn kind(&self) -> TransportKind {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            durable_delivery_count: true,
            balanced_shards: true,
        }
    }

    async fn declare_topic(&self, topic: &str, shards: u32) -> Result<(), TransportError> {
        check_name(KIND, "topic", topic)?;
        if shards == 0 {
            return Err(TransportError::invalid(
                KIND,
                format!("topic `{topic}`"),
                "0 shards",
            ));
        }
        let mut conn = self.conn.clone();
        let url = &self.options.url;
        let (_, found): (bool, u32) = redis::pipe()
            .cmd("HSETNX")
            .arg(meta(topic))
            .arg("shards")
            .arg(shards)
            .cmd("HGET")
            .arg(meta(topic))
            .arg("shards")
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(url, "HSETNX", &meta(topic), e))?;
        if found != shards {
            return Err(TransportError::ShardMismatch {
                kind: KIND,
                topic: topic.to_string(),
                wanted: shards,
                found,
            });
        }
        self.shards
            .lock()
            .expect("not poisoned")
            .insert(topic.to_string(), shards);
        Ok(())
    }

    async fn declare_group(&self, topic: &str, group: &str) -> Result<(), TransportError> {
        check_name(KIND, "group", group)?;
        let shards = self.shard_count(topic).await?;
        let mut conn = self.conn.clone();
        for shard in 0..shards {
            let key = stream(topic, shard);
            let created: Result<(), RedisError> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&key)
                .arg(group)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await;
            match created {
                Ok(()) => {}
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) => return Err(failed(&self.options.url, "XGROUP CREATE", &key, e)),
            }
        }
        Ok(())
    }

    async fn publish(&self, topic: &str, message: Outgoing) -> Result<Receipt, TransportError> {
        let shards = self.shard_count(topic).await?;
        let shard = shard_for(message.key.as_bytes(), shards);
        let mut conn = self.conn.clone();
        let id: String = self
            .xadd(topic, shard, &message)
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(&self.options.url, "XADD", &stream(topic, shard), e))?;
        Ok(Receipt {
            topic: topic.to_string(),
            shard: Some(shard),
            position: Some(id),
        })
    }

    async fn publish_batch(
        &self,
        topic: &str,
        messages: Vec<Outgoing>,
    ) -> Result<Vec<Receipt>, TransportError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let shards = self.shard_count(topic).await?;
        let mut pipe = redis::pipe();
        let mut placed = Vec::with_capacity(messages.len());
        for m in &messages {
            let shard = shard_for(m.key.as_bytes(), shards);
            pipe.add_command(self.xadd(topic, shard, m));
            placed.push(shard);
        }
        let mut conn = self.conn.clone();
        let ids: Vec<String> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(&self.options.url, "XADD", topic, e))?;
        Ok(ids
            .into_iter()
            .zip(placed)
            .map(|(id, shard)| Receipt {
                topic: topic.to_string(),
                shard: Some(shard),
                position: Some(id),
            })
            .collect())
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<RedisSubscription, TransportError> {
        self.declare_group(topic, &options.group).await?;
        let shards = self.shard_count(topic).await?;
        // Blocking reads get a connection of their own, so they hold up no other command.
        let reader = connection(
            &self.client,
            &self.options,
            self.options.block + self.options.response_timeout,
        )
        .await?;
        RedisSubscription::start(
            topic,
            shards,
            options,
            self.conn.clone(),
            reader,
            self.options.clone(),
        )
        .await
    }

    async fn delete_group(&self, topic: &str, group: &str) -> Result<(), TransportError> {
        let shards = self.shard_count(topic).await?;
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for shard in 0..shards {
            pipe.cmd("XGROUP")
                .arg("DESTROY")
                .arg(stream(topic, shard))
                .arg(group)
                .ignore()
                .cmd("DEL")
                .arg(lease::lease_key(topic, shard, group))
                .ignore();
        }
        pipe.cmd("DEL")
            .arg(lease::members_key(topic, group))
            .ignore();
        let _: () = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(&self.options.url, "XGROUP DESTROY", topic, e))?;
        Ok(())
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), TransportError> {
        let shards = self.shard_count(topic).await?;
        let mut conn = self.conn.clone();
        let mut del = redis::cmd("DEL");
        for shard in 0..shards {
            del.arg(stream(topic, shard));
        }
        del.arg(meta(topic))
            .arg(dlq_name(topic))
            .arg(replay_cursor(topic));
        let _: i64 = del
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(&self.options.url, "DEL", topic, e))?;
        self.shards.lock().expect("not poisoned").remove(topic);
        Ok(())
    }

    async fn dead_letters(
        &self,
        topic: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, TransportError> {
        let dlq = dlq_name(topic);
        let mut conn = self.conn.clone();
        let reply: redis::Value = redis::cmd("XRANGE")
            .arg(&dlq)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(limit.max(1))
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(&self.options.url, "XRANGE", &dlq, e))?;
        let mut out = Vec::new();
        for e in entries::parse_entries(&reply, &dlq)? {
            out.push(e.into_delivery(&dlq, 0, 0));
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn replay_dead_letters(&self, topic: &str) -> Result<ReplayReport, TransportError> {
        let dlq = dlq_name(topic);
        let cursor_key = replay_cursor(topic);
        let url = &self.options.url;
        let mut conn = self.conn.clone();
        let (cursor, last): (Option<String>, redis::Value) = redis::pipe()
            .cmd("GET")
            .arg(&cursor_key)
            .cmd("XREVRANGE")
            .arg(&dlq)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(url, "XREVRANGE", &dlq, e))?;
        let mut report = ReplayReport::default();
        let Some(end) = entries::parse_entries(&last, &dlq)?.pop().map(|e| e.id) else {
            return Ok(report);
        };
        let mut from = cursor.unwrap_or_else(|| "0-0".to_string());
        loop {
            let page: redis::Value = redis::cmd("XRANGE")
                .arg(&dlq)
                .arg(format!("({from}"))
                .arg(&end)
                .arg("COUNT")
                .arg(100)
                .query_async(&mut conn)
                .await
                .map_err(|e| failed(url, "XRANGE", &dlq, e))?;
            let page = entries::parse_entries(&page, &dlq)?;
            if page.is_empty() {
                return Ok(report);
            }
            for e in page {
                let target = e
                    .headers
                    .get_str(crate::headers::ORIGINAL_TOPIC)
                    .map(str::to_string)
                    .ok_or_else(|| TransportError::NoReplayTarget {
                        kind: KIND,
                        dlq: dlq.clone(),
                        position: e.id.clone(),
                    })?;
                let shards = self.shard_count(&target).await?;
                let key = e.key.clone().unwrap_or_default();
                let message = Outgoing {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    payload: e.payload.clone(),
                    headers: replay_headers(&e.headers),
                };
                let shard = shard_for(&key, shards);
                let mut add = self.xadd(&target, shard, &message);
                if message.key.as_bytes() != key.as_slice() {
                    // Keep a binary key byte for byte.
                    add = redis::cmd("XADD");
                    add.arg(stream(&target, shard)).arg("*");
                    entries::fields(&mut add, &key, &message.payload, &message.headers);
                }
                let _: () = redis::pipe()
                    .atomic()
                    .add_command(add)
                    .ignore()
                    .cmd("SET")
                    .arg(&cursor_key)
                    .arg(&e.id)
                    .ignore()
                    .query_async(&mut conn)
                    .await
                    .map_err(|err| failed(url, "XADD", &target, err))?;
                *report.replayed.entry(target).or_default() += 1;
                from = e.id;
            }
        }
    }
}
