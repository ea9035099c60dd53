//! What the event store suites share: an event, a SQLite store in a temp dir, a PostgreSQL
//! store in its own schema.

#![allow(dead_code)]

use evc_avro::chrono::{DateTime, Utc};
use evc_avro::uuid::Uuid;
use evc_eventstore::{EventStore, NewEvent};
use evc_storage::testing::PgTestSchema;

pub fn event(n: u8) -> NewEvent {
    let at = DateTime::<Utc>::from_timestamp_micros(1_700_000_000_123_456 + i64::from(n)).unwrap();
    NewEvent::new(
        Uuid::new_v4(),
        "com.acme.orders.ItemAdded",
        at,
        evc_wire::frame(40 + u32::from(n), &[n, 1, 2]),
    )
    .unwrap()
}

pub struct Pg {
    pub schema: PgTestSchema,
    pub store: EventStore,
}

impl Pg {
    pub async fn new() -> Pg {
        let schema = PgTestSchema::create("evc_es").await;
        let store = EventStore::with_database(schema.database().await)
            .await
            .unwrap();
        Pg { schema, store }
    }

    pub async fn drop(self) {
        self.store.database().close().await;
        self.schema.drop_schema().await;
    }
}

pub async fn sqlite() -> (tempfile::TempDir, EventStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open_sqlite(dir.path().join("events.db"))
        .await
        .unwrap();
    (dir, store)
}
