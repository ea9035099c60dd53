//! The aggregate: state, fold and decisions. No I/O.

use evc_avro::chrono::{DateTime, Utc};
use evc_avro::uuid::Uuid;
use order_events::order_created::v2::{Address, SalesChannel};
use order_events::order_paid::v2::{Money as PaidMoney, PaymentMethod};
use order_events::order_placed::v1::{Money as PlacedMoney, OrderLine};
use order_events::{
    item_added, ItemAdded, OrderCancelled, OrderCreated, OrderEvent, OrderPaid, OrderPlaced,
    OrderShipped,
};

/// Where an order is in its life:
///
/// ```text
/// Created --PlaceOrder--> Placed --PayOrder--> Paid --ShipOrder--> Shipped
///    |                      |                   |                    |
///    +------CancelOrder-----+-------------------+   (only with its shipment cancelled)
///                           v
///                       Cancelled
/// ```
///
/// The customer may cancel only an open (created) order; from `Placed` on, only fulfillment
/// cancels, after undoing what it did ([`OrderError::FulfillmentRunning`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Open: items can be added.
    Created,
    /// Checked out: items and total are fixed; fulfillment runs.
    Placed,
    /// Fulfillment captured the payment.
    Paid,
    /// Fulfillment created the shipment.
    Shipped,
    /// Final: fulfillment failed and was undone, or the customer cancelled.
    Cancelled,
}

/// One `ItemAdded`, as a line of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub sku: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

/// The state of an order that exists.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderState {
    pub id: Uuid,
    pub customer_id: String,
    pub currency: String,
    pub channel: SalesChannel,
    pub shipping_address: Option<Address>,
    pub status: Status,
    pub items: Vec<Item>,
    /// Sum of `quantity * unit_price_minor` over the items, in minor units of `currency`.
    pub total_minor: i64,
    /// What was paid (once paid).
    pub paid_minor: Option<i64>,
    /// The payment provider's reference (once paid).
    pub payment_reference: Option<String>,
    pub tracking_number: Option<String>,
    /// Why it was cancelled, and the fulfillment step that failed (once cancelled).
    pub cancellation: Option<(String, Option<String>)>,
}

/// The aggregate: `None` state until `OrderCreated`, and the number of events folded (the
/// stream version the next append expects).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Order {
    state: Option<OrderState>,
    version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOrder {
    pub order_id: Uuid,
    pub customer_id: String,
    /// ISO 4217, three upper-case letters.
    pub currency: String,
    pub channel: SalesChannel,
    pub shipping_address: Option<(String, String, String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddItem {
    pub order_id: Uuid,
    pub sku: String,
    pub quantity: i32,
    /// In minor units of the order's currency.
    pub unit_price_minor: i64,
}

/// Checkout: the items and the total are fixed, fulfillment starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub order_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayOrder {
    pub order_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub method: PaymentMethod,
    pub payment_reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipOrder {
    pub order_id: Uuid,
    pub carrier: String,
    pub tracking_number: String,
    pub estimated_delivery: Option<evc_avro::chrono::NaiveDate>,
}

/// Cancel the order: asked for by the customer (`failed_step: None`) while it is still open
/// (created), or by fulfillment after it undid what it had done. Once placed, the order belongs
/// to fulfillment: a customer's cancellation is refused ([`OrderError::FulfillmentRunning`]), so
/// a running saga never finds its order cancelled under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelOrder {
    pub order_id: Uuid,
    pub reason: String,
    /// The fulfillment step that failed.
    pub failed_step: Option<String>,
    /// The shipment was cancelled: the only way a shipped order can still be cancelled
    /// (fulfillment failing after the shipment was created, e.g. at the confirmation).
    pub shipment_cancelled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Create(CreateOrder),
    AddItem(AddItem),
    Place(PlaceOrder),
    Pay(PayOrder),
    Ship(ShipOrder),
    Cancel(CancelOrder),
}

impl Command {
    pub fn order_id(&self) -> Uuid {
        match self {
            Command::Create(c) => c.order_id,
            Command::AddItem(c) => c.order_id,
            Command::Place(c) => c.order_id,
            Command::Pay(c) => c.order_id,
            Command::Ship(c) => c.order_id,
            Command::Cancel(c) => c.order_id,
        }
    }
}

/// A command the order's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrderError {
    #[error("order {0} does not exist")]
    UnknownOrder(Uuid),
    #[error("order {0} already exists")]
    AlreadyCreated(Uuid),
    #[error("the command is for order {command}, but this is order {order}")]
    WrongOrder { order: Uuid, command: Uuid },
    #[error("currency {0:?} is not an ISO 4217 code")]
    InvalidCurrency(String),
    #[error("quantity {0} is not positive")]
    InvalidQuantity(i32),
    #[error("unit price {0} is negative")]
    NegativePrice(i64),
    #[error("the order total would overflow")]
    TotalOverflow,
    #[error("items cannot be added to an order that is {0:?}")]
    ItemsAfterPlacing(Status),
    #[error("an empty order cannot be placed")]
    EmptyOrder,
    #[error("the order is already placed")]
    AlreadyPlaced,
    #[error("an order is paid after it is placed")]
    NotPlaced,
    #[error("the order is already paid")]
    AlreadyPaid,
    #[error("paid {paid} but the total is {total}")]
    WrongAmount { total: i64, paid: i64 },
    #[error("paid in {paid} but the order is in {order}")]
    CurrencyMismatch { order: String, paid: String },
    #[error("an unpaid order cannot be shipped")]
    NotPaid,
    #[error("the order is already shipped")]
    AlreadyShipped,
    #[error("the order is cancelled")]
    Cancelled,
    #[error("a shipped order cannot be cancelled unless its shipment was cancelled")]
    ShippedNotCancelled,
    /// A customer's cancellation (`failed_step: None`) of an order whose fulfillment is running
    /// (placed or paid): from checkout on, only fulfillment cancels, after undoing its steps.
    #[error("the order is being fulfilled: only fulfillment can cancel it now")]
    FulfillmentRunning,
    #[error("the cancellation needs a reason")]
    NoReason,
}

/// Events that do not make an order (a stream that was not written by [`Order::decide`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FoldError {
    #[error("event {event_id} ({kind}) comes before the order was created")]
    BeforeCreation { event_id: Uuid, kind: &'static str },
    #[error("event {event_id} creates order {order} a second time")]
    CreatedTwice { event_id: Uuid, order: Uuid },
    #[error("event {event_id} is for order {event_order}, not {order}")]
    WrongOrder {
        event_id: Uuid,
        order: Uuid,
        event_order: Uuid,
    },
    #[error("event {event_id}: the order total overflows")]
    TotalOverflow { event_id: Uuid },
}

/// Id and time of the event a command produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventMeta {
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
}

impl EventMeta {
    /// A random id and now, at millisecond precision (the events' `timestamp-millis`), so the
    /// event reads back equal.
    pub fn now() -> EventMeta {
        let now = Utc::now();
        EventMeta {
            event_id: Uuid::new_v4(),
            occurred_at: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now),
        }
    }
}

impl Order {
    pub fn new() -> Order {
        Order::default()
    }

    /// Folds `events` from the empty order.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a OrderEvent>) -> Result<Order, FoldError> {
        let mut order = Order::new();
        for e in events {
            order.apply(e)?;
        }
        Ok(order)
    }

    /// `None` until the order is created.
    pub fn state(&self) -> Option<&OrderState> {
        self.state.as_ref()
    }

    /// The number of events folded.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Folds one event into the state. Events are facts: the only refusals are streams that
    /// cannot be an order (an event before creation, a second creation, another order's
    /// event, a total beyond `i64`).
    pub fn apply(&mut self, event: &OrderEvent) -> Result<(), FoldError> {
        match event {
            OrderEvent::OrderCreated(e) => {
                if let Some(s) = &self.state {
                    return Err(FoldError::CreatedTwice {
                        event_id: e.event_id,
                        order: s.id,
                    });
                }
                self.state = Some(OrderState {
                    id: e.order_id,
                    customer_id: e.customer_id.clone(),
                    currency: e.currency.clone(),
                    channel: e.channel,
                    shipping_address: e.shipping_address.clone(),
                    status: Status::Created,
                    items: Vec::new(),
                    total_minor: 0,
                    paid_minor: None,
                    payment_reference: None,
                    tracking_number: None,
                    cancellation: None,
                });
            }
            OrderEvent::ItemAdded(e) => {
                let s = self.existing(e.event_id, e.order_id, "ItemAdded")?;
                let line = i64::from(e.quantity)
                    .checked_mul(e.unit_price.amount_minor)
                    .and_then(|l| l.checked_add(s.total_minor))
                    .ok_or(FoldError::TotalOverflow {
                        event_id: e.event_id,
                    })?;
                s.total_minor = line;
                s.items.push(Item {
                    sku: e.sku.clone(),
                    quantity: e.quantity,
                    unit_price_minor: e.unit_price.amount_minor,
                });
            }
            OrderEvent::OrderPlaced(e) => {
                let s = self.existing(e.event_id, e.order_id, "OrderPlaced")?;
                s.status = Status::Placed;
            }
            OrderEvent::OrderPaid(e) => {
                let s = self.existing(e.event_id, e.order_id, "OrderPaid")?;
                s.status = Status::Paid;
                s.paid_minor = Some(e.amount.amount_minor);
                s.payment_reference = e.payment_reference.clone();
            }
            OrderEvent::OrderShipped(e) => {
                let s = self.existing(e.event_id, e.order_id, "OrderShipped")?;
                s.status = Status::Shipped;
                s.tracking_number = Some(e.tracking_number.clone());
            }
            OrderEvent::OrderCancelled(e) => {
                let s = self.existing(e.event_id, e.order_id, "OrderCancelled")?;
                s.status = Status::Cancelled;
                s.cancellation = Some((e.reason.clone(), e.failed_step.clone()));
            }
        }
        self.version += 1;
        Ok(())
    }

    fn existing(
        &mut self,
        event_id: Uuid,
        event_order: Uuid,
        kind: &'static str,
    ) -> Result<&mut OrderState, FoldError> {
        let s = self
            .state
            .as_mut()
            .ok_or(FoldError::BeforeCreation { event_id, kind })?;
        if s.id != event_order {
            return Err(FoldError::WrongOrder {
                event_id,
                order: s.id,
                event_order,
            });
        }
        Ok(s)
    }

    /// Validates `command` against the state and returns the event it produces (not applied).
    pub fn decide(&self, command: &Command, meta: EventMeta) -> Result<OrderEvent, OrderError> {
        let EventMeta {
            event_id,
            occurred_at,
        } = meta;
        let order_id = command.order_id();
        let state = match (&self.state, command) {
            (Some(s), Command::Create(_)) if s.id == order_id => {
                return Err(OrderError::AlreadyCreated(order_id))
            }
            (Some(s), _) if s.id != order_id => {
                return Err(OrderError::WrongOrder {
                    order: s.id,
                    command: order_id,
                })
            }
            (None, Command::Create(c)) => {
                if !is_currency(&c.currency) {
                    return Err(OrderError::InvalidCurrency(c.currency.clone()));
                }
                return Ok(OrderEvent::OrderCreated(OrderCreated {
                    event_id,
                    order_id,
                    occurred_at,
                    customer_id: c.customer_id.clone(),
                    currency: c.currency.clone(),
                    channel: c.channel,
                    shipping_address: c.shipping_address.clone().map(
                        |(line1, city, postal_code, country)| Address {
                            line1,
                            city,
                            postal_code,
                            country,
                        },
                    ),
                }));
            }
            (None, _) => return Err(OrderError::UnknownOrder(order_id)),
            (Some(s), _) => s,
        };
        match command {
            Command::Create(_) => Err(OrderError::AlreadyCreated(order_id)),
            Command::AddItem(c) => {
                if state.status != Status::Created {
                    return Err(OrderError::ItemsAfterPlacing(state.status));
                }
                if c.quantity <= 0 {
                    return Err(OrderError::InvalidQuantity(c.quantity));
                }
                if c.unit_price_minor < 0 {
                    return Err(OrderError::NegativePrice(c.unit_price_minor));
                }
                i64::from(c.quantity)
                    .checked_mul(c.unit_price_minor)
                    .and_then(|l| l.checked_add(state.total_minor))
                    .ok_or(OrderError::TotalOverflow)?;
                Ok(OrderEvent::ItemAdded(ItemAdded {
                    event_id,
                    order_id,
                    occurred_at,
                    sku: c.sku.clone(),
                    quantity: c.quantity,
                    unit_price: item_added::v1::Money {
                        amount_minor: c.unit_price_minor,
                        currency: state.currency.clone(),
                    },
                }))
            }
            Command::Place(_) => {
                match state.status {
                    Status::Created => {}
                    Status::Cancelled => return Err(OrderError::Cancelled),
                    _ => return Err(OrderError::AlreadyPlaced),
                }
                if state.items.is_empty() {
                    return Err(OrderError::EmptyOrder);
                }
                Ok(OrderEvent::OrderPlaced(OrderPlaced {
                    event_id,
                    order_id,
                    occurred_at,
                    total: PlacedMoney {
                        amount_minor: state.total_minor,
                        currency: state.currency.clone(),
                    },
                    lines: state
                        .items
                        .iter()
                        .map(|i| OrderLine {
                            sku: i.sku.clone(),
                            quantity: i.quantity,
                        })
                        .collect(),
                }))
            }
            Command::Pay(c) => {
                match state.status {
                    Status::Placed => {}
                    Status::Created => return Err(OrderError::NotPlaced),
                    Status::Cancelled => return Err(OrderError::Cancelled),
                    Status::Paid | Status::Shipped => return Err(OrderError::AlreadyPaid),
                }
                if c.currency != state.currency {
                    return Err(OrderError::CurrencyMismatch {
                        order: state.currency.clone(),
                        paid: c.currency.clone(),
                    });
                }
                if c.amount_minor != state.total_minor {
                    return Err(OrderError::WrongAmount {
                        total: state.total_minor,
                        paid: c.amount_minor,
                    });
                }
                Ok(OrderEvent::OrderPaid(OrderPaid {
                    event_id,
                    order_id,
                    occurred_at,
                    amount: PaidMoney {
                        amount_minor: c.amount_minor,
                        currency: c.currency.clone(),
                    },
                    method: c.method,
                    payment_reference: c.payment_reference.clone(),
                    tax_rate: None,
                }))
            }
            Command::Ship(c) => match state.status {
                Status::Created | Status::Placed => Err(OrderError::NotPaid),
                Status::Shipped => Err(OrderError::AlreadyShipped),
                Status::Cancelled => Err(OrderError::Cancelled),
                Status::Paid => Ok(OrderEvent::OrderShipped(OrderShipped {
                    event_id,
                    order_id,
                    occurred_at,
                    carrier: c.carrier.clone(),
                    tracking_number: c.tracking_number.clone(),
                    estimated_delivery: c.estimated_delivery,
                })),
            },
            Command::Cancel(c) => {
                match state.status {
                    Status::Cancelled => return Err(OrderError::Cancelled),
                    Status::Shipped if !c.shipment_cancelled => {
                        return Err(OrderError::ShippedNotCancelled)
                    }
                    Status::Placed | Status::Paid if c.failed_step.is_none() => {
                        return Err(OrderError::FulfillmentRunning)
                    }
                    _ => {}
                }
                if c.reason.trim().is_empty() {
                    return Err(OrderError::NoReason);
                }
                Ok(OrderEvent::OrderCancelled(OrderCancelled {
                    event_id,
                    order_id,
                    occurred_at,
                    reason: c.reason.clone(),
                    failed_step: c.failed_step.clone(),
                }))
            }
        }
    }

    /// [`decide`](Order::decide), then apply the event.
    pub fn execute(
        &mut self,
        command: &Command,
        meta: EventMeta,
    ) -> Result<OrderEvent, OrderError> {
        let event = self.decide(command, meta)?;
        // `decide` only produces events that fold.
        if let Err(e) = self.apply(&event) {
            unreachable!("a decided event does not fold: {e}");
        }
        Ok(event)
    }
}

fn is_currency(c: &str) -> bool {
    c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())
}
