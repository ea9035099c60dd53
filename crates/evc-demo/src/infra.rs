//! The demo's plumbing: its databases (SQLite files or one PostgreSQL schema), its broker
//! (librdkafka's mock cluster, a real Kafka, Redis Streams or RabbitMQ, by URL), consumer
//! settings and waiting for a condition.

use super::*;

/// The databases of one run.
pub(crate) enum Storage {
    Sqlite {
        events: SqlitePool,
        projection: SqlitePool,
        saga: SqlitePool,
        saga_consumer: SqlitePool,
    },
    Postgres {
        pool: PgPool,
        schema: String,
    },
}

impl Storage {
    pub(crate) async fn sqlite(dir: &Path) -> anyhow::Result<Storage> {
        Ok(Storage::Sqlite {
            events: sqlite_pool(&dir.join("events.db")).await?,
            projection: sqlite_pool(&dir.join("projection.db")).await?,
            saga: sqlite_pool(&dir.join("saga.db")).await?,
            saga_consumer: sqlite_pool(&dir.join("saga-consumer.db")).await?,
        })
    }

    pub(crate) async fn postgres(url: &str) -> anyhow::Result<Storage> {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .with_context(|| format!("connecting to {}", evc_telemetry::redact_url(url)))?;
        let schema = format!("evc_demo_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .with_context(|| format!("creating schema {schema}"))?;
        admin.close().await;
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.options([("search_path", schema.as_str())]))
            .await?;
        Ok(Storage::Postgres { pool, schema })
    }

    pub(crate) fn describe(&self, dir: Option<&Path>) -> String {
        match (self, dir) {
            (Storage::Sqlite { .. }, Some(d)) => format!("SQLite files in {}", d.display()),
            (Storage::Sqlite { .. }, None) => "SQLite".into(),
            (Storage::Postgres { schema, .. }, _) => format!("PostgreSQL, schema {schema}"),
        }
    }

    pub(crate) async fn event_store(&self) -> anyhow::Result<EventStore> {
        Ok(match self {
            Storage::Sqlite { events, .. } => {
                EventStore::with_database(Db::from_sqlite_pool(events.clone())).await?
            }
            Storage::Postgres { pool, .. } => {
                EventStore::with_database(Db::from_postgres_pool(pool.clone())).await?
            }
        })
    }

    pub(crate) fn projection_db(&self) -> Db {
        match self {
            Storage::Sqlite { projection, .. } => Db::from_sqlite_pool(projection.clone()),
            Storage::Postgres { pool, .. } => Db::from_postgres_pool(pool.clone()),
        }
    }

    /// The saga state, in the saga consumer's database (its handler starts sagas in the
    /// consumer's transaction).
    pub(crate) async fn saga_store(&self) -> anyhow::Result<SagaStore> {
        let db = match self {
            Storage::Sqlite { saga_consumer, .. } => Db::from_sqlite_pool(saga_consumer.clone()),
            Storage::Postgres { pool, .. } => Db::from_postgres_pool(pool.clone()),
        };
        Ok(SagaStore::open(db).await?)
    }

    /// The simulated participants' tables.
    pub(crate) async fn participants(&self) -> anyhow::Result<SimulatedServices> {
        let db = match self {
            Storage::Sqlite { saga, .. } => Db::from_sqlite_pool(saga.clone()),
            Storage::Postgres { pool, .. } => Db::from_postgres_pool(pool.clone()),
        };
        Ok(SimulatedServices::open(db).await?)
    }
}

pub(crate) async fn sqlite_pool(path: &Path) -> anyhow::Result<SqlitePool> {
    let db = Db::open_sqlite(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(db.sqlite_pool().expect("a SQLite database").clone())
}

/// Hands `inner` only the events of this run's orders: on a real broker, `orders` may hold
/// other runs' events, which a fresh consumer group reads from the beginning.
pub(crate) struct OnlyOrders<H> {
    pub(crate) orders: Vec<Uuid>,
    pub(crate) inner: H,
}

impl<DB: Database, H: Handler<OrderEvent, DB>> Handler<OrderEvent, DB> for OnlyOrders<H> {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, DB>,
        event: &OrderEvent,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        if self.orders.contains(&order_id_of(event)) {
            self.inner.handle(tx, event, meta).await
        } else {
            Ok(())
        }
    }
}

type ConsumerTask = tokio::task::JoinHandle<Result<Metrics, evc_consumer::ConsumeError>>;

/// A consumer of `group` on `broker` (any broker URL; the librdkafka settings apply to Kafka
/// only).
pub(crate) fn consumer_config(broker: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::new(broker, group)
        .commit_interval(Duration::from_millis(200))
        .takeover_after(Duration::from_secs(6))
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
}

/// Starts a consumer of `orders` with `handler` on the right store, its group declared first
/// (on RabbitMQ a group receives only what is published after its queues exist); answers its
/// control and task. Its counters are exported by `exporter`.
pub(crate) async fn spawn_consumer<S, H>(
    exporter: &ConsumerExporter,
    config: ConsumerConfig,
    registry: &RegistryClient,
    store: S,
    handler: H,
) -> anyhow::Result<(evc_consumer::Control, ConsumerTask)>
where
    S: evc_consumer::ProcessedStore,
    H: Handler<OrderEvent, S::Db>,
{
    let group = config.group_id().to_string();
    let consumer =
        EventConsumer::<OrderEvent, _, _>::new(config, registry.clone(), store, handler)?;
    exporter.add(&group, TOPIC, consumer.metrics());
    consumer.declare_groups().await?;
    let control = consumer.control();
    Ok((control, tokio::spawn(consumer.run())))
}

/// The broker: the mock cluster (kept alive here) or a real one.
pub(crate) struct Broker {
    pub(crate) _mock: Option<MockCluster<'static, DefaultProducerContext>>,
    /// The broker URL every producer and consumer of the run is given: a Kafka bootstrap
    /// list, `redis://...` or `amqp://...`.
    pub(crate) bootstrap: String,
    /// What it is, for the banner: `Kafka`, `Redis Streams`, `RabbitMQ`, or librdkafka's mock
    /// cluster.
    pub(crate) kind: &'static str,
}

/// The broker `url` names (default: librdkafka's mock cluster), with `orders` declared
/// ([`PARTITIONS`] shards) and its dead-letter destination.
pub(crate) async fn broker(url: Option<&str>) -> anyhow::Result<Broker> {
    let endpoint = url
        .map(evc_transport::Endpoint::parse)
        .transpose()
        .context("--broker")?;
    if let Some(
        evc_transport::Endpoint::Redis { url } | evc_transport::Endpoint::RabbitMq { url },
    ) = &endpoint
    {
        use evc_transport::Transport;
        let transport = evc_transport::AnyTransport::connect(url)
            .await
            .with_context(|| format!("connecting to {}", evc_telemetry::redact_url(url)))?;
        transport
            .declare_topic(TOPIC, PARTITIONS as u32)
            .await
            .with_context(|| {
                format!("declaring `{TOPIC}` on {}", evc_telemetry::redact_url(url))
            })?;
        let kind = match &endpoint {
            Some(evc_transport::Endpoint::Redis { .. }) => "Redis Streams",
            _ => "RabbitMQ",
        };
        return Ok(Broker {
            _mock: None,
            bootstrap: url.clone(),
            kind,
        });
    }
    let bootstrap = match &endpoint {
        Some(evc_transport::Endpoint::Kafka { bootstrap }) => Some(bootstrap.as_str()),
        _ => None,
    };
    let Some(bootstrap) = bootstrap else {
        let mock = MockCluster::new(1).context("starting librdkafka's mock cluster")?;
        mock.create_topic(TOPIC, PARTITIONS, 1)?;
        mock.create_topic(DLQ_TOPIC, PARTITIONS, 1)?;
        let bootstrap = mock.bootstrap_servers();
        return Ok(Broker {
            _mock: Some(mock),
            bootstrap,
            kind: "librdkafka mock cluster",
        });
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating the Kafka admin client")?;
    let topics = [
        NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1)),
        NewTopic::new(DLQ_TOPIC, PARTITIONS, TopicReplication::Fixed(1)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = tokio::time::timeout(WAIT, admin.create_topics(&topics, &options))
        .await
        .map_err(|_| anyhow!("creating topics on {bootstrap}: no answer within {WAIT:?}"))?
        .with_context(|| format!("creating topics on {bootstrap}"))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => bail!("creating topic {topic} on {bootstrap}: {code}"),
        }
    }
    Ok(Broker {
        _mock: None,
        bootstrap: bootstrap.to_string(),
        kind: "Kafka",
    })
}

/// Polls `check` every 50 ms until it answers `Some`, failing after [`WAIT`].
pub(crate) async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if started.elapsed() > WAIT {
            bail!("timed out after {WAIT:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
