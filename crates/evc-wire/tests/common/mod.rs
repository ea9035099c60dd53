#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use evc_avro::chrono::{DateTime, TimeZone, Utc};
use evc_registry_client::{RegistryClient, RetryPolicy};
use order_events::order_created::v2::{Address, SalesChannel};
use order_events::{v1, v2};
use uuid::Uuid;

/// A mock registry of its own for each call.
pub fn fresh_mock() -> RegistryClient {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "wire-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    RegistryClient::new(&format!("mock://{name}")).unwrap()
}

/// A real evc-registry over HTTP on 127.0.0.1 (memory storage).
pub async fn live() -> evc_registry::RunningServer {
    evc_registry::spawn(evc_registry::ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        evc_registry::StorageUrl::Memory,
    ))
    .await
    .unwrap()
}

pub fn http_client(url: &str) -> RegistryClient {
    RegistryClient::builder(url)
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

pub fn at() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_767_225_600_123).unwrap()
}

pub fn created_v1() -> v1::OrderCreated {
    v1::OrderCreated {
        event_id: Uuid::from_u128(1),
        order_id: Uuid::from_u128(2),
        occurred_at: at(),
        customer_id: "cust-7".into(),
        currency: "EUR".into(),
    }
}

pub fn created_v2() -> v2::OrderCreated {
    v2::OrderCreated {
        event_id: Uuid::from_u128(3),
        order_id: Uuid::from_u128(4),
        occurred_at: at(),
        customer_id: "cust-8".into(),
        currency: "SEK".into(),
        channel: SalesChannel::Mobile,
        shipping_address: Some(Address {
            line1: "Storgatan 1".into(),
            city: "Lund".into(),
            postal_code: "22100".into(),
            country: "SE".into(),
        }),
    }
}

pub fn item_added() -> order_events::ItemAdded {
    order_events::ItemAdded {
        event_id: Uuid::from_u128(5),
        order_id: Uuid::from_u128(4),
        occurred_at: at(),
        sku: "SKU-1".into(),
        quantity: 3,
        unit_price: order_events::item_added::v1::Money {
            amount_minor: 1999,
            currency: "SEK".into(),
        },
    }
}

pub fn order_paid(tax_rate: Option<&str>) -> order_events::OrderPaid {
    use order_events::order_paid::v2::{Money, PaymentMethod};
    order_events::OrderPaid {
        event_id: Uuid::from_u128(6),
        order_id: Uuid::from_u128(4),
        occurred_at: at(),
        amount: Money {
            amount_minor: 5997,
            currency: "SEK".into(),
        },
        method: PaymentMethod::Card,
        payment_reference: None,
        tax_rate: tax_rate.map(|t| t.parse().unwrap()),
    }
}
