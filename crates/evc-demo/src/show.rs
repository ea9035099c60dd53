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
        Status::Placed => OrderStatus::Placed,
        Status::Paid => OrderStatus::Paid,
        Status::Shipped => OrderStatus::Shipped,
        Status::Cancelled => OrderStatus::Cancelled,
    }
}

pub(crate) fn event_name(e: &OrderEvent) -> &'static str {
    match e {
        OrderEvent::OrderCreated(_) => "OrderCreated",
        OrderEvent::ItemAdded(_) => "ItemAdded",
        OrderEvent::OrderPlaced(_) => "OrderPlaced",
        OrderEvent::OrderPaid(_) => "OrderPaid",
        OrderEvent::OrderShipped(_) => "OrderShipped",
        OrderEvent::OrderCancelled(_) => "OrderCancelled",
    }
}

pub(crate) fn event_detail(e: &OrderEvent) -> String {
    match e {
        OrderEvent::OrderCreated(e) => format!(
            "customer {}, {}, channel {:?}{}",
            e.customer_id,
            e.currency,
            e.channel,
            match &e.shipping_address {
                Some(a) => format!(", ships to {}", a.city),
                None => String::new(),
            }
        ),
        OrderEvent::ItemAdded(e) => format!(
            "{} x{} @ {}",
            e.sku,
            e.quantity,
            money(e.unit_price.amount_minor, &e.unit_price.currency)
        ),
        OrderEvent::OrderPlaced(e) => format!(
            "{}, {} lines",
            money(e.total.amount_minor, &e.total.currency),
            e.lines.len()
        ),
        OrderEvent::OrderPaid(e) => format!(
            "{} by {:?}, payment reference {}",
            money(e.amount.amount_minor, &e.amount.currency),
            e.method,
            e.payment_reference.as_deref().unwrap_or("-")
        ),
        OrderEvent::OrderShipped(e) => {
            format!(
                "carrier {}, tracking number {}",
                e.carrier, e.tracking_number
            )
        }
        OrderEvent::OrderCancelled(e) => format!(
            "failed step {}: {}",
            e.failed_step.as_deref().unwrap_or("-"),
            e.reason
        ),
    }
}

pub(crate) fn order_id_of(e: &OrderEvent) -> Uuid {
    evc_order::summary::order_id(e)
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

/// What a saga did, in one line: its steps, and when it compensated, the step that failed and
/// the compensations in the order they ran.
pub(crate) fn saga_line(s: &SagaState) -> String {
    match s.status {
        SagaStatus::Completed => steps(&s.completed, false),
        _ => {
            let failed = fulfillment::STEPS
                .get(s.completed.len())
                .map_or("-", |(step, _)| step);
            format!(
                "{failed} failed; done before: {}; compensated: {}",
                steps(&s.completed, false),
                steps(&s.compensated, true)
            )
        }
    }
}
