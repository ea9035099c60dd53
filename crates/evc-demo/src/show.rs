//! How the demo prints events, orders, money and sagas.

use super::*;

pub(crate) fn short(id: Uuid) -> String {
    id.simple().to_string()[..8].to_string()
}

pub(crate) fn money(minor: i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", minor / 100, (minor % 100).abs())
}

pub(crate) fn status_of(s: Status) -> OrderStatus {
    match s {
        Status::Created => OrderStatus::Created,
        Status::Paid => OrderStatus::Paid,
        Status::Shipped => OrderStatus::Shipped,
    }
}

pub(crate) fn event_name(e: &OrderEvent) -> &'static str {
    match e {
        OrderEvent::OrderCreated(_) => "OrderCreated",
        OrderEvent::ItemAdded(_) => "ItemAdded",
        OrderEvent::OrderPaid(_) => "OrderPaid",
        OrderEvent::OrderShipped(_) => "OrderShipped",
    }
}

pub(crate) fn event_detail(e: &OrderEvent) -> String {
    match e {
        OrderEvent::OrderCreated(e) => format!("customer {}, {}", e.customer_id, e.currency),
        OrderEvent::ItemAdded(e) => format!(
            "{} x{} @ {}",
            e.sku,
            e.quantity,
            money(e.unit_price.amount_minor, &e.unit_price.currency)
        ),
        OrderEvent::OrderPaid(e) => format!(
            "{} by {:?}",
            money(e.amount.amount_minor, &e.amount.currency),
            e.method
        ),
        OrderEvent::OrderShipped(e) => format!("{} {}", e.carrier, e.tracking_number),
    }
}

pub(crate) fn order_id_of(e: &OrderEvent) -> Uuid {
    match e {
        OrderEvent::OrderCreated(e) => e.order_id,
        OrderEvent::ItemAdded(e) => e.order_id,
        OrderEvent::OrderPaid(e) => e.order_id,
        OrderEvent::OrderShipped(e) => e.order_id,
    }
}

/// `a > b > c`, or `-`; with `compensation`, the steps' compensation names.
pub(crate) fn steps(steps: &[String], compensation: bool) -> String {
    if steps.is_empty() {
        return "-".into();
    }
    steps
        .iter()
        .map(|s| match fulfillment::compensation_of(s) {
            Some(undo) if compensation => undo,
            _ => s.as_str(),
        })
        .collect::<Vec<_>>()
        .join(" > ")
}
