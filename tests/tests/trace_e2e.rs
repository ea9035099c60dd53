//! One trace from a command through the outbox relay, librdkafka's mock cluster and an
//! idempotent consumer to the saga's steps, seen by an in-memory span exporter: every hop is a
//! child of the one before it (parent span ids asserted), all in the command's trace. Beside
//! it, the producer → consumer link, and a malformed `traceparent` ignored (new trace, DEBUG
//! line, the message processed, nothing dead-lettered). And JSON log lines: one written by a
//! handler inside the consumer's span carries the message's trace id and the span's id, even
//! under a `warn` filter.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evc_consumer::{ConsumerConfig, EventConsumer, MetricsHandle, SqliteStore, DEFAULT_TABLE};
use evc_eventstore::EventStore;
use evc_order::fulfillment::{self, FulfillmentParticipants, SagaStarter};
use evc_order::{AddItem, Command, CreateOrder, OrderService, PlaceOrder};
use evc_outbox::{Relay, RelayConfig};
use evc_producer::{EventProducer, ProducerConfig};
use evc_registry_client::RegistryClient;
use evc_saga::simulated::SimulatedServices;
use evc_saga::{RunnerConfig, SagaRunner, SagaStatus, SagaStore};
use evc_storage::Database;
use evc_wire::{Deserializer, Serializer};
use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use order_events::order_created::v2::SalesChannel;
use order_events::{OrderCreated, OrderEvent};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;
use uuid::Uuid;

/// Keeps every log line's message with its level (to see the DEBUG line of a bad header).
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<(tracing::Level, String)>>>);

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
    fn on_event(&self, event: &tracing::Event<'_>, _cx: tracing_subscriber::layer::Context<'_, S>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), m.0));
    }
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

async fn wait_processed(handle: &MetricsHandle, n: u64) {
    let started = Instant::now();
    while handle.snapshot().processed + handle.snapshot().dead_lettered < n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            handle.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// current_thread: the consumer task runs on this thread, under this test's subscriber
#[tokio::test(flavor = "current_thread")]
async fn one_trace_from_the_command_through_relay_and_consumer_to_the_saga_steps() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let lines = Lines::default();
    let subscriber = tracing_subscriber::registry()
        .with(evc_telemetry::tracing_layer(&provider))
        .with(lines.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("orders", 3, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let registry = RegistryClient::new(&format!("mock://trace-{}", Uuid::new_v4())).unwrap();
    let serializer = || Serializer::new(registry.clone()).auto_register(true);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("app.db"))
        .await
        .unwrap();
    let events = EventStore::with_database(db.clone()).await.unwrap();
    let service = OrderService::new(
        events.clone(),
        serializer(),
        Deserializer::new(registry.clone()),
    );

    // the commands: the first in a span of the caller's (as an HTTP handler's would be), the
    // others without one; each runs in an `evc.command` span of the service's own
    let order = Uuid::new_v4();
    let commands = [
        Command::Create(CreateOrder {
            order_id: order,
            customer_id: "c".into(),
            currency: "EUR".into(),
            channel: SalesChannel::Web,
            shipping_address: None,
        }),
        Command::AddItem(AddItem {
            order_id: order,
            sku: "a".into(),
            quantity: 2,
            unit_price_minor: 500,
        }),
        Command::Place(PlaceOrder { order_id: order }),
    ];
    for (i, c) in commands.iter().enumerate() {
        if i == 0 {
            service
                .execute(c)
                .instrument(tracing::info_span!("request"))
                .await
                .unwrap();
        } else {
            service.execute(c).await.unwrap();
        }
    }
    let stored = events.read_all(1, 10).await.unwrap();
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|e| e.trace.is_some()), "{stored:?}");

    let relay = Relay::new(
        events.clone(),
        &ProducerConfig::new(&bootstrap),
        RelayConfig::new("trace-relay", "orders"),
    )
    .await
    .unwrap();
    assert_eq!(relay.catch_up().await.unwrap(), 3);

    // the producer's send, in a span of its caller's
    let producer =
        EventProducer::with_serializer(&ProducerConfig::new(&bootstrap), serializer()).unwrap();
    let other = Uuid::new_v4();
    let created = |order_id| OrderCreated {
        event_id: Uuid::new_v4(),
        order_id,
        occurred_at: evc_avro::chrono::Utc::now(),
        customer_id: "d".into(),
        currency: "EUR".into(),
        channel: SalesChannel::Web,
        shipping_address: None,
    };
    producer
        .send_to("orders", &created(other))
        .instrument(tracing::info_span!("send"))
        .await
        .unwrap();

    // a message whose traceparent is malformed, written by another client
    let bad = created(Uuid::new_v4());
    let value = serializer()
        .serialize_topic(&OrderEvent::from(bad.clone()))
        .await
        .unwrap();
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let key = bad.order_id.to_string();
    raw.send(
        FutureRecord::to("orders")
            .key(&key)
            .payload(&value)
            .headers(OwnedHeaders::new().insert(Header {
                key: "traceparent",
                value: Some("00-not-a-trace-context-at-all"),
            })),
        Duration::from_secs(10),
    )
    .await
    .unwrap();

    let services = SimulatedServices::open(db.clone()).await.unwrap();
    let definition = fulfillment::definition(
        FulfillmentParticipants {
            inventory: services.participant("inventory"),
            payment: services.participant("payment"),
            shipping: services.participant("shipping"),
            notification: services.participant("notification"),
        },
        Duration::from_secs(5),
    );
    let sagas = SagaStore::open(db.clone()).await.unwrap();
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(&bootstrap, format!("trace-{}", Uuid::new_v4()))
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500"),
        registry.clone(),
        SqliteStore::with_pool(db.sqlite_pool().unwrap().clone(), DEFAULT_TABLE)
            .await
            .unwrap(),
        SagaStarter::new(sagas.clone(), definition.clone()),
    )
    .unwrap();
    let control = consumer.control();
    let handle = consumer.metrics();
    let task = tokio::spawn(consumer.run());
    wait_processed(&handle, 5).await;
    control.shutdown();
    let metrics = task.await.unwrap().unwrap();
    assert_eq!((metrics.processed, metrics.dead_lettered), (5, 0));

    SagaRunner::new(sagas.clone(), RunnerConfig::new("trace-runner"))
        .register(definition)
        .unwrap()
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(
        sagas.load(order).await.unwrap().status,
        SagaStatus::Completed
    );

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let commands = named(&spans, "evc.command");
    let relayed = named(&spans, "evc.relay.publish");
    let consumed = named(&spans, "evc.consume");
    let steps = named(&spans, "saga.step");
    assert_eq!((commands.len(), relayed.len()), (3, 3));
    assert_eq!(consumed.len(), 5, "one per delivery");
    assert_eq!(steps.len(), 4);

    // the service's command spans: named, the first a child of the caller's span, the others
    // the roots of their traces
    let names: Vec<_> = commands
        .iter()
        .filter_map(|s| attribute(s, "command"))
        .collect();
    assert_eq!(names, ["CreateOrder", "AddItem", "PlaceOrder"], "{names:?}");
    assert!(commands
        .iter()
        .all(|s| attribute(s, "order_id") == Some(order.to_string())));
    let request = named(&spans, "request")[0];
    assert_eq!(commands[0].parent_span_id, request.span_context.span_id());
    assert_eq!(
        commands[0].span_context.trace_id(),
        request.span_context.trace_id()
    );
    assert!(commands[1..]
        .iter()
        .all(|s| s.parent_span_id == SpanId::INVALID));

    // command → relay → consumer, for each event
    for command in &commands {
        let trace = command.span_context.trace_id();
        let relay = relayed
            .iter()
            .find(|s| s.span_context.trace_id() == trace)
            .expect("the relay's span is in the command's trace");
        assert_eq!(relay.parent_span_id, command.span_context.span_id());
        let consume = consumed
            .iter()
            .find(|s| s.span_context.trace_id() == trace)
            .expect("the consumer's span is in the command's trace");
        assert_eq!(consume.parent_span_id, relay.span_context.span_id());
    }
    // … → saga steps: children of the span that handled OrderPlaced (the last command's)
    let placed = commands
        .iter()
        .max_by_key(|s| s.start_time)
        .unwrap()
        .span_context
        .trace_id();
    let consume_placed = consumed
        .iter()
        .find(|s| s.span_context.trace_id() == placed)
        .unwrap();
    for step in &steps {
        assert_eq!(step.span_context.trace_id(), placed);
        assert_eq!(step.parent_span_id, consume_placed.span_context.span_id());
    }
    let names: Vec<_> = steps.iter().filter_map(|s| attribute(s, "step")).collect();
    assert_eq!(
        names,
        [
            "reserve_inventory",
            "charge_payment",
            "create_shipment",
            "send_confirmation"
        ],
        "{names:?}"
    );

    // producer → consumer
    let send = named(&spans, "send")[0];
    let publish = named(&spans, "evc.publish")[0];
    assert_eq!(publish.parent_span_id, send.span_context.span_id());
    assert_eq!(
        publish.span_context.trace_id(),
        send.span_context.trace_id()
    );
    let consume_sent = consumed
        .iter()
        .find(|s| s.span_context.trace_id() == send.span_context.trace_id())
        .expect("the consumer continued the producer's trace");
    assert_eq!(consume_sent.parent_span_id, publish.span_context.span_id());

    // the malformed header: a trace of its own, a DEBUG line, processed as usual
    let known: Vec<_> = commands
        .iter()
        .chain([&send])
        .map(|s| s.span_context.trace_id())
        .collect();
    let fresh: Vec<_> = consumed
        .iter()
        .filter(|s| !known.contains(&s.span_context.trace_id()))
        .collect();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].parent_span_id, SpanId::INVALID);
    relay.close(Duration::from_secs(10)).await.unwrap();
    let lines = lines.0.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|(level, m)| *level == tracing::Level::DEBUG
                && m.contains("malformed trace context ignored")),
        "{lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|(level, _)| *level == tracing::Level::ERROR),
        "{lines:?}"
    );
}

/// A buffer the JSON log layer writes into.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs a WARN line from inside the handler.
struct Noisy;

impl evc_consumer::Handler<OrderEvent, sqlx::Sqlite> for Noisy {
    async fn handle(
        &self,
        _tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        event: &OrderEvent,
        _meta: &evc_consumer::MessageMeta,
    ) -> Result<(), evc_consumer::HandlerError> {
        let OrderEvent::OrderCreated(e) = event else {
            return Ok(());
        };
        tracing::warn!(order_id = %e.order_id, "handled in the message's trace");
        Ok(())
    }
}

// current_thread: the consumer task runs on this thread, under this test's subscriber
#[tokio::test(flavor = "current_thread")]
async fn json_log_lines_inside_a_consumed_message_carry_its_trace_id() {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let buffer = Buffer::default();
    let writer = buffer.clone();
    // `warn`: stricter than the INFO `evc.consume` span, which still gives the line its ids
    let settings = evc_telemetry::LogSettings::new("trace-e2e")
        .format(evc_telemetry::LogFormat::Json)
        .filter(Some("warn".into()));
    let subscriber = tracing_subscriber::registry()
        .with(evc_telemetry::tracing_layer(&provider))
        .with(evc_telemetry::log_layer(&settings, move || writer.clone(), false).unwrap());
    let _default = tracing::subscriber::set_default(subscriber);

    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("orders", 1, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let registry = RegistryClient::new(&format!("mock://json-{}", Uuid::new_v4())).unwrap();
    let order_id = Uuid::new_v4();
    let event = OrderEvent::from(OrderCreated {
        event_id: Uuid::new_v4(),
        order_id,
        occurred_at: evc_avro::chrono::Utc::now(),
        customer_id: "j".into(),
        currency: "EUR".into(),
        channel: SalesChannel::Web,
        shipping_address: None,
    });
    let value = Serializer::new(registry.clone())
        .auto_register(true)
        .serialize_topic(&event)
        .await
        .unwrap();
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let key = order_id.to_string();
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    raw.send(
        FutureRecord::to("orders")
            .key(&key)
            .payload(&value)
            .headers(OwnedHeaders::new().insert(Header {
                key: "traceparent",
                value: Some(traceparent.as_str()),
            })),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    tracing::warn!("a line outside every span");

    let dir = tempfile::tempdir().unwrap();
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(&bootstrap, format!("json-{}", Uuid::new_v4()))
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500"),
        registry.clone(),
        SqliteStore::open(dir.path().join("c.db")).await.unwrap(),
        Noisy,
    )
    .unwrap();
    let control = consumer.control();
    let handle = consumer.metrics();
    let task = tokio::spawn(consumer.run());
    wait_processed(&handle, 1).await;
    control.shutdown();
    task.await.unwrap().unwrap();

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let consume = named(&spans, "evc.consume")[0];
    assert_eq!(consume.span_context.trace_id().to_string(), TRACE);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let handled = lines
        .iter()
        .find(|l| l["message"] == "handled in the message's trace")
        .unwrap_or_else(|| panic!("no handler line in:\n{text}"));
    assert_eq!(handled["trace_id"], TRACE, "{handled}");
    assert_eq!(
        handled["span_id"],
        consume.span_context.span_id().to_string(),
        "the consumer's own span, a child of the message's: {handled}"
    );
    assert_eq!(handled["span"]["name"], "evc.consume", "{handled}");
    assert_eq!(handled["order_id"], order_id.to_string());
    let outside = lines
        .iter()
        .find(|l| l["message"] == "a line outside every span")
        .unwrap_or_else(|| panic!("no outside line in:\n{text}"));
    assert!(outside.get("trace_id").is_none(), "{outside}");
}
