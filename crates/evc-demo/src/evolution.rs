//! Schema evolution, live: the schema directory's whole history pushed to the registry (as
//! `evc registry push` does in CI), an "old" shop that still writes `OrderCreated` v1, and two
//! readers of `orders`, one built on the v1 types and one on the latest.

use super::*;

use evc_avro::{AvroSchema, Event};
use evc_eventstore::{ExpectedVersion, NewEvent};
use evc_order::{stream_id, EventMeta, Order};
use evc_storage::TxRef;
use order_events::v1;

/// One published schema version, as `schemas/<namespace>/<Name>/vN.avsc` holds it (the
/// generated types carry each version's text, subject and number).
pub(crate) struct Published {
    pub(crate) name: &'static str,
    pub(crate) subject: &'static str,
    pub(crate) version: u32,
    pub(crate) schema: &'static str,
}

macro_rules! published {
    ($($t:ty),* $(,)?) => {
        [$(Published {
            name: <$t as AvroSchema>::FULL_NAME,
            subject: <$t as Event>::SUBJECT,
            version: <$t as Event>::VERSION,
            schema: <$t as AvroSchema>::SCHEMA_JSON,
        }),*]
    };
}

/// Every version of every event of `orders`, oldest first per subject (what
/// `schemas/com.acme.orders/` holds; a test keeps the two equal).
pub(crate) fn history() -> Vec<Published> {
    use order_events::*;
    published![
        order_created::v1::OrderCreated,
        order_created::v2::OrderCreated,
        item_added::v1::ItemAdded,
        order_placed::v1::OrderPlaced,
        order_paid::v1::OrderPaid,
        order_paid::v2::OrderPaid,
        order_shipped::v1::OrderShipped,
        order_cancelled::v1::OrderCancelled,
    ]
    .into_iter()
    .collect()
}

/// The compatibility level of every subject of `orders` (`schemas/evc.toml`).
pub(crate) const COMPATIBILITY: &str = "FULL_TRANSITIVE";

/// What the push did: schema id → (event, vN).
pub(crate) type Written = HashMap<u32, (&'static str, u32)>;

/// Registers the history in order, each subject at [`COMPATIBILITY`], and checks that every
/// `vN` is registry version N: a version already there is looked up, a missing one registered
/// only when it becomes version N. A registry whose history differs is an error naming the
/// subject, and nothing is registered for it. Re-running against the same registry registers
/// nothing new.
pub(crate) async fn push_history(
    registry: &RegistryClient,
    out: &mut dyn Write,
) -> anyhow::Result<Written> {
    let mut written = Written::new();
    let mut line: Vec<String> = Vec::new();
    let mut subject = "";
    let history = history();
    for (i, p) in history.iter().enumerate() {
        if p.subject != subject {
            subject = p.subject;
            registry
                .set_compatibility_level(p.subject, COMPATIBILITY)
                .await
                .with_context(|| format!("setting {COMPATIBILITY} on {}", p.subject))?;
        }
        let diverged = |version: u32| {
            anyhow!(
                "{}: v{}.avsc is registry version {version}: the registry's history differs \
                 from the schema directory (compare them with `evc registry diff`)",
                p.subject,
                p.version
            )
        };
        // look up first, so a registry whose history differs is refused before anything is
        // registered in it
        let r = match registry.lookup(p.subject, p.schema).await {
            Ok(found) => found,
            Err(e) if e.is_not_found() => {
                let versions = match registry.versions(p.subject).await {
                    Ok(v) => v,
                    Err(e) if e.is_not_found() => Vec::new(),
                    Err(e) => return Err(e).context(format!("reading {}", p.subject)),
                };
                if versions.len() as u32 + 1 != p.version {
                    return Err(diverged(versions.len() as u32 + 1));
                }
                registry
                    .register(p.subject, p.schema)
                    .await
                    .with_context(|| {
                        format!("registering {} v{} as {}", p.name, p.version, p.subject)
                    })?
            }
            Err(e) => return Err(e).context(format!("looking {} up", p.subject)),
        };
        let version = match r.version {
            Some(v) => v,
            None => registry
                .lookup(p.subject, p.schema)
                .await?
                .version
                .ok_or_else(|| anyhow!("{}: the registry gave no version", p.subject))?,
        };
        if version != p.version {
            return Err(diverged(version));
        }
        written.insert(r.id, (short_name(p.name), p.version));
        line.push(format!("v{} = id {}", p.version, r.id));
        if history.get(i + 1).is_none_or(|n| n.subject != p.subject) {
            writeln!(out, "  {:<42}  {}", p.subject, line.join(", "))?;
            line.clear();
        }
    }
    Ok(written)
}

fn short_name(full: &'static str) -> &'static str {
    full.rsplit('.').next().unwrap_or(full)
}

/// The old shop: a build from before `OrderCreated` v2. It decides with the same aggregate,
/// but writes `OrderCreated` with its v1 types (no channel, no shipping address).
pub(crate) async fn create_with_old_shop(
    service: &OrderService,
    serializer: &Serializer,
    command: &CreateOrder,
) -> anyhow::Result<()> {
    let meta = EventMeta::now();
    let decided = Order::new().decide(&Command::Create(command.clone()), meta)?;
    let OrderEvent::OrderCreated(e) = decided else {
        bail!("CreateOrder decided {decided:?}");
    };
    let old = v1::OrderCreated {
        event_id: e.event_id,
        order_id: e.order_id,
        occurred_at: e.occurred_at,
        customer_id: e.customer_id,
        currency: e.currency,
    };
    let payload = serializer.serialize(&old).await?;
    let new = NewEvent::new(
        old.event_id,
        v1::OrderCreated::FULL_NAME,
        old.occurred_at,
        payload,
    )?
    .with_partition_key(old.order_id.to_string());
    service
        .store()
        .append(&stream_id(old.order_id), ExpectedVersion::NoStream, &[new])
        .await?;
    Ok(())
}

/// Every event of `orders` at version 1: what a consumer built before any v2 existed reads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OrderEventV1 {
    OrderCreated(v1::OrderCreated),
    ItemAdded(v1::ItemAdded),
    OrderPlaced(v1::OrderPlaced),
    OrderPaid(v1::OrderPaid),
    OrderShipped(v1::OrderShipped),
    OrderCancelled(v1::OrderCancelled),
}

macro_rules! each {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            OrderEventV1::OrderCreated($e) => $body,
            OrderEventV1::ItemAdded($e) => $body,
            OrderEventV1::OrderPlaced($e) => $body,
            OrderEventV1::OrderPaid($e) => $body,
            OrderEventV1::OrderShipped($e) => $body,
            OrderEventV1::OrderCancelled($e) => $body,
        }
    };
}

macro_rules! by_name {
    ($name:expr, $t:ident => $body:expr, $other:expr) => {
        match $name {
            "com.acme.orders.OrderCreated" => {
                type $t = v1::OrderCreated;
                $body.map(OrderEventV1::OrderCreated)
            }
            "com.acme.orders.ItemAdded" => {
                type $t = v1::ItemAdded;
                $body.map(OrderEventV1::ItemAdded)
            }
            "com.acme.orders.OrderPlaced" => {
                type $t = v1::OrderPlaced;
                $body.map(OrderEventV1::OrderPlaced)
            }
            "com.acme.orders.OrderPaid" => {
                type $t = v1::OrderPaid;
                $body.map(OrderEventV1::OrderPaid)
            }
            "com.acme.orders.OrderShipped" => {
                type $t = v1::OrderShipped;
                $body.map(OrderEventV1::OrderShipped)
            }
            "com.acme.orders.OrderCancelled" => {
                type $t = v1::OrderCancelled;
                $body.map(OrderEventV1::OrderCancelled)
            }
            other => $other(other),
        }
    };
}

fn unknown<T>(name: &str) -> Result<T, evc_avro::DecodeError> {
    Err(evc_avro::DecodeError::UnknownEvent(name.to_string()))
}

impl evc_avro::TopicEvent for OrderEventV1 {
    const TOPIC: &'static str = "orders";
    const FULL_NAMES: &'static [&'static str] = OrderEvent::FULL_NAMES;

    fn full_name(&self) -> &'static str {
        each!(self, e => full_name_of(e))
    }
    fn subject(&self) -> &'static str {
        each!(self, e => subject_of(e))
    }
    fn partition_key(&self) -> String {
        each!(self, e => Event::partition_key(e))
    }
    fn event_id(&self) -> Option<Uuid> {
        each!(self, e => Event::event_id(e))
    }
    fn schema(&self) -> &'static evc_avro::apache_avro::Schema {
        each!(self, e => schema_of(e))
    }
    fn schema_json(&self) -> &'static str {
        each!(self, e => schema_json_of(e))
    }
    fn version(&self) -> u32 {
        1
    }
    fn write_avro(&self, out: &mut Vec<u8>) -> Result<(), evc_avro::EncodeError> {
        each!(self, e => evc_avro::AvroBinary::write_avro(e, out))
    }
    fn to_avro_value(&self) -> Result<evc_avro::apache_avro::types::Value, evc_avro::EncodeError> {
        each!(self, e => evc_avro::AvroValue::to_avro_value(e))
    }
    fn reader_schema(full_name: &str) -> Option<&'static evc_avro::apache_avro::Schema> {
        let found: Result<&'static evc_avro::apache_avro::Schema, ()> = match full_name {
            "com.acme.orders.OrderCreated" => Ok(v1::OrderCreated::schema()),
            "com.acme.orders.ItemAdded" => Ok(v1::ItemAdded::schema()),
            "com.acme.orders.OrderPlaced" => Ok(v1::OrderPlaced::schema()),
            "com.acme.orders.OrderPaid" => Ok(v1::OrderPaid::schema()),
            "com.acme.orders.OrderShipped" => Ok(v1::OrderShipped::schema()),
            "com.acme.orders.OrderCancelled" => Ok(v1::OrderCancelled::schema()),
            _ => Err(()),
        };
        found.ok()
    }
    fn from_avro_value(
        full_name: &str,
        value: evc_avro::apache_avro::types::Value,
    ) -> Result<Self, evc_avro::DecodeError> {
        by_name!(full_name, T => <T as evc_avro::AvroValue>::from_avro_value(value), unknown)
    }
    fn decode_binary(full_name: &str, bytes: &[u8]) -> Result<Self, evc_avro::DecodeError> {
        by_name!(full_name, T => evc_avro::binary::from_slice::<T>(bytes), unknown)
    }
}

fn subject_of<T: Event>(_: &T) -> &'static str {
    T::SUBJECT
}

fn schema_of<T: AvroSchema>(_: &T) -> &'static evc_avro::apache_avro::Schema {
    T::schema()
}

fn schema_json_of<T: AvroSchema>(_: &T) -> &'static str {
    T::SCHEMA_JSON
}

impl OrderEventV1 {
    pub(crate) fn order_id(&self) -> Uuid {
        each!(self, e => e.order_id)
    }

    fn name(&self) -> &'static str {
        each!(self, e => short_name(full_name_of(e)))
    }

    /// What a v1 reader sees of the event.
    fn detail(&self) -> String {
        match self {
            OrderEventV1::OrderCreated(e) => format!("customer {}, {}", e.customer_id, e.currency),
            other => other.name().to_string(),
        }
    }
}

fn full_name_of<T: AvroSchema>(_: &T) -> &'static str {
    T::FULL_NAME
}

/// What a reader saw of an event: its type, and for `OrderCreated` its fields as that reader's
/// types hold them.
pub(crate) trait Seen {
    fn order(&self) -> Uuid;
    fn kind(&self) -> &'static str;
    fn seen(&self) -> String;
}

impl Seen for OrderEventV1 {
    fn order(&self) -> Uuid {
        self.order_id()
    }
    fn kind(&self) -> &'static str {
        self.name()
    }
    fn seen(&self) -> String {
        self.detail()
    }
}

impl Seen for OrderEvent {
    fn order(&self) -> Uuid {
        evc_order::summary::order_id(self)
    }
    fn kind(&self) -> &'static str {
        event_name(self)
    }
    fn seen(&self) -> String {
        match self {
            OrderEvent::OrderCreated(e) => format!(
                "customer {}, {}, channel {:?}, {}",
                e.customer_id,
                e.currency,
                e.channel,
                match &e.shipping_address {
                    Some(a) => format!("ships to {}", a.city),
                    None => "no shipping address".into(),
                }
            ),
            other => event_name(other).to_string(),
        }
    }
}

/// A consumer handler that records, in its transaction (with the processed-event marker),
/// what its reader types made of each event: `reader`, order, event type, what it saw.
pub(crate) struct ReadLog {
    pub(crate) reader: &'static str,
    /// This run's orders (on a real broker, `orders` may hold other runs' events).
    pub(crate) orders: Vec<Uuid>,
}

/// The table the readers write.
pub(crate) const READ_LOG: &str = "demo_reads";

pub(crate) async fn create_read_log(db: &Db) -> anyhow::Result<()> {
    let mut tx = db.write().await?;
    tx.exec(
        &format!(
            "CREATE TABLE IF NOT EXISTS {READ_LOG} (reader TEXT NOT NULL, event_key TEXT NOT NULL, \
             order_id TEXT NOT NULL, event_type TEXT NOT NULL, seen TEXT NOT NULL, \
             PRIMARY KEY (reader, event_key))"
        ),
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

impl ReadLog {
    async fn record<E: Seen>(
        &self,
        mut tx: TxRef<'_>,
        event: &E,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        if !self.orders.contains(&event.order()) {
            return Ok(());
        }
        tx.exec(
            &format!(
                "INSERT INTO {READ_LOG} (reader, event_key, order_id, event_type, seen) \
                 VALUES ($1, $2, $3, $4, $5)"
            ),
            &evc_storage::args![
                self.reader,
                meta.event_key.as_str(),
                event.order().to_string(),
                event.kind(),
                event.seen()
            ],
        )
        .await
        .map_err(|e| HandlerError::new("evc_storage::StorageError", e.to_string()))?;
        Ok(())
    }
}

impl<E: Seen + Sync> Handler<E, sqlx::Sqlite> for ReadLog {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, sqlx::Sqlite>,
        event: &E,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.record(TxRef::from(tx), event, meta).await
    }
}

impl<E: Seen + Sync> Handler<E, sqlx::Postgres> for ReadLog {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, sqlx::Postgres>,
        event: &E,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.record(TxRef::from(tx), event, meta).await
    }
}

/// One row of the read log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Read {
    pub(crate) reader: String,
    pub(crate) order_id: String,
    pub(crate) event_type: String,
    pub(crate) seen: String,
}

pub(crate) async fn reads(db: &Db) -> anyhow::Result<Vec<Read>> {
    let mut tx = db.read().await?;
    let rows = tx
        .rows(
            &format!(
                "SELECT reader, order_id, event_type, seen FROM {READ_LOG} \
                 ORDER BY reader, order_id, event_type"
            ),
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Read {
                reader: r.str(0)?,
                order_id: r.str(1)?,
                event_type: r.str(2)?,
                seen: r.str(3)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pushed history is the schema directory's: every `<Name>/vN.avsc`, no more, in
    /// version order per subject.
    #[test]
    fn history_is_the_schema_directory() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/com.acme.orders");
        let mut on_disk = Vec::new();
        for event in std::fs::read_dir(&root).unwrap() {
            let event = event.unwrap();
            let name = event.file_name().to_string_lossy().to_string();
            for file in std::fs::read_dir(event.path()).unwrap() {
                let file = file.unwrap().file_name().to_string_lossy().to_string();
                let n: u32 = file
                    .strip_prefix('v')
                    .and_then(|f| f.strip_suffix(".avsc"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("{name}/{file} is not vN.avsc"));
                on_disk.push((name.clone(), n));
            }
        }
        on_disk.sort();
        let history = history();
        let mut pushed: Vec<(String, u32)> = history
            .iter()
            .map(|p| (short_name(p.name).to_string(), p.version))
            .collect();
        pushed.sort();
        assert_eq!(pushed, on_disk);
        for pair in history.windows(2) {
            if pair[0].subject == pair[1].subject {
                assert_eq!(pair[1].version, pair[0].version + 1, "{}", pair[1].subject);
            }
        }
    }
}
