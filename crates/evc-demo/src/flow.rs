//! The demo's story, once its infrastructure runs: the commands, the fulfillment sagas, each
//! order's state timeline, the schema-evolution readers, the read model and the replay.

use super::*;

/// The story: commands, fulfillment, each order's timeline, schema evolution, the read model
/// and the replay, printed to `out` and recorded in `report`.
pub(crate) async fn flow(
    out: &mut dyn Write,
    c: &Ctx<'_>,
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    // --- commands ---------------------------------------------------------------------------
    writeln!(out, "\n== Commands (CreateOrder, AddItem, PlaceOrder)")?;
    for (id, plan) in c.orders.iter().zip(&PLANS) {
        let create = CreateOrder {
            order_id: *id,
            customer_id: plan.customer.into(),
            currency: CURRENCY.into(),
            channel: SalesChannel::Web,
            shipping_address: Some((
                "1 Main Street".into(),
                plan.city.into(),
                "10001".into(),
                "FR".into(),
            )),
        };
        if plan.old_shop {
            create_with_old_shop(c.service, c.old_serializer, &create).await?;
        } else {
            c.service.execute(&Command::Create(create)).await?;
        }
        let mut total = 0;
        for (sku, quantity, price) in plan.items {
            c.service
                .execute(&Command::AddItem(AddItem {
                    order_id: *id,
                    sku: (*sku).into(),
                    quantity: *quantity,
                    unit_price_minor: *price,
                }))
                .await?;
            total += i64::from(*quantity) * price;
        }
        c.service
            .execute(&Command::Place(PlaceOrder { order_id: *id }))
            .await?;
        writeln!(
            out,
            "  order {}  {:<6} created by the {} shop, {} items, placed: {}{}",
            short(*id),
            plan.customer,
            if plan.old_shop { "old" } else { "new" },
            plan.items.len(),
            money(total, CURRENCY),
            if plan.fail_shipment {
                "  (fault injected: the shipping service rejects it)"
            } else {
                ""
            }
        )?;
    }
    report.orders = c.orders.len();
    let n = c.relay.catch_up().await?;
    report.published += n;
    writeln!(out, "  relay published {n} events to `{TOPIC}`")?;

    // --- fulfillment ------------------------------------------------------------------------
    writeln!(
        out,
        "\n== Fulfillment (one saga per OrderPlaced; its step results become PayOrder, ShipOrder, \
         CancelOrder)"
    )?;
    let published = AtomicUsize::new(0);
    let sagas: Vec<SagaState> = wait_for("every order to be shipped or cancelled", || async {
        published.fetch_add(c.relay.catch_up().await?, Ordering::Relaxed);
        let mut sagas = Vec::new();
        for id in c.orders {
            let Some(s) = c.saga_store.find(*id).await? else {
                return Ok(None);
            };
            let order = c.service.load(*id).await?;
            let done = matches!(
                order.state().map(|s| s.status),
                Some(Status::Shipped | Status::Cancelled)
            );
            if !s.status.is_final() || !done {
                return Ok(None);
            }
            sagas.push(s);
        }
        Ok(Some(sagas))
    })
    .await?;
    // what the hooks appended last
    published.fetch_add(c.relay.catch_up().await?, Ordering::Relaxed);
    let n = published.load(Ordering::Relaxed);
    report.published += n;
    report.sagas_completed = count(&sagas, SagaStatus::Completed);
    report.sagas_compensated = count(&sagas, SagaStatus::Compensated);
    for s in &sagas {
        writeln!(
            out,
            "  order {}  saga {:<11}  {}",
            short(s.saga_id),
            s.status.name(),
            saga_line(s)
        )?;
    }
    writeln!(out, "  relay published {n} more events")?;

    let store = c.service.store();
    let events = store.last_position().await?;
    report.events = events;
    wait_for(
        "the read model and both readers to apply every event",
        || async {
            let applied: i64 = OrderSummaries::with_table(READ_MODEL)?
                .all(c.projection_db)
                .await?
                .iter()
                .map(|s| s.event_count)
                .sum();
            let reads = all_reads(c.reader_dbs).await?;
            let per = |r: &str| reads.iter().filter(|x| x.reader == r).count() as u64;
            Ok(
                (applied as u64 >= events && per("v1") >= events && per("latest") >= events)
                    .then_some(()),
            )
        },
    )
    .await?;

    // --- per order timeline -----------------------------------------------------------------
    writeln!(
        out,
        "\n== Orders (state timeline from the event store: schema id and the vN each event was \
         written with)"
    )?;
    let deserializer = Deserializer::new(c.registry.clone());
    let effects = c.services.effects(None).await?;
    for ((id, plan), saga) in c.orders.iter().zip(&PLANS).zip(&sagas) {
        writeln!(out, "  order {}  {}", short(*id), plan.customer)?;
        writeln!(
            out,
            "    {:>3}  {:<14}  {:>6}  {:<9}  {:<10}  DETAIL",
            "POS", "EVENT", "SCHEMA", "STATE", "SHOWN AS"
        )?;
        let mut order = Order::new();
        let mut kinds = Vec::new();
        for r in store.read_stream(&evc_order::stream_id(*id)).await? {
            let event: OrderEvent = deserializer
                .deserialize_topic(&r.payload)
                .await
                .with_context(|| format!("decoding the event at position {}", r.position))?;
            order
                .apply(&event)
                .with_context(|| format!("folding the event at position {}", r.position))?;
            let (name, version) = c.written.get(&r.schema_id).copied().ok_or_else(|| {
                anyhow!(
                    "event at position {} has schema id {}, which is not in the pushed history",
                    r.position,
                    r.schema_id
                )
            })?;
            kinds.push(format!("{name} v{version}"));
            let status = order.state().map(|s| status_of(s.status));
            writeln!(
                out,
                "    {:>3}  {:<14}  {:>6}  {:<9}  {:<10}  {}",
                r.position,
                name,
                format!("{} v{version}", r.schema_id),
                status.map_or("-", |s| s.as_str()),
                status.map_or("-", |s| s.shown_as()),
                event_detail(&event)
            )?;
        }
        let state = order
            .state()
            .ok_or_else(|| anyhow!("order {id} has no events"))?;
        writeln!(out, "    saga {}: {}", saga.status.name(), saga_line(saga))?;
        let now = status_of(state.status);
        match &state.cancellation {
            Some((reason, _)) => writeln!(out, "    now: {} (final): {reason}", now.as_str())?,
            None if now.is_final() => writeln!(out, "    now: {} (final)", now.as_str())?,
            None => writeln!(
                out,
                "    now: {} (shown as {})",
                now.as_str(),
                now.shown_as()
            )?,
        }
        match state.status {
            Status::Shipped => report.shipped += 1,
            Status::Cancelled => report.cancelled += 1,
            _ => {}
        }
        report.order_reports.push(OrderReport {
            order_id: *id,
            customer: plan.customer.into(),
            status: now.as_str().into(),
            cancellation: state.cancellation.clone(),
            events: kinds,
            saga: saga.status.name().into(),
            effects: effects
                .iter()
                .filter(|e| e.saga_id == id.to_string())
                .map(|e| format!("{}:{}", e.service, e.effect))
                .collect(),
        });
    }

    // --- schema evolution -------------------------------------------------------------------
    writeln!(
        out,
        "\n== Schema evolution (one topic; OrderCreated written with v1 and v2; two readers)"
    )?;
    let by = |old: bool| {
        PLANS
            .iter()
            .filter(|p| p.old_shop == old)
            .map(|p| p.customer)
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(
        out,
        "  OrderCreated v1 written by the old shop ({}), v2 by the new one ({})",
        by(true),
        by(false)
    )?;
    let reads = all_reads(c.reader_dbs).await?;
    for (reader, types) in [("v1", "v1 types"), ("latest", "latest types")] {
        let mine: Vec<&Read> = reads.iter().filter(|r| r.reader == reader).collect();
        report.reads.push((reader.to_string(), mine.len()));
        writeln!(
            out,
            "  reader on {types:<12}  read {} of {events} events",
            mine.len()
        )?;
        for (id, plan) in c.orders.iter().zip(&PLANS) {
            if let Some(r) = mine
                .iter()
                .find(|r| r.order_id == id.to_string() && r.event_type == "OrderCreated")
            {
                writeln!(out, "    {:<6} OrderCreated: {}", plan.customer, r.seen)?;
            }
        }
    }

    // --- read model -------------------------------------------------------------------------
    let live = OrderSummaries::with_table(READ_MODEL)?
        .all(c.projection_db)
        .await?;
    report.summaries = live.len();
    writeln!(out, "\n== Read model ({READ_MODEL})")?;
    writeln!(
        out,
        "  {:<8}  {:<8}  {:<9}  {:<10}  {:<5}  {:>5}  {:>14}  {:>6}  REASON",
        "ORDER", "CUSTOMER", "STATUS", "SHOWN AS", "FINAL", "ITEMS", "TOTAL", "EVENTS"
    )?;
    let by_id: HashMap<Uuid, &OrderSummary> = live.iter().map(|s| (s.order_id, s)).collect();
    for id in c.orders {
        let Some(s) = by_id.get(id) else {
            writeln!(out, "  {:<8}  (missing)", short(*id))?;
            continue;
        };
        writeln!(
            out,
            "  {:<8}  {:<8}  {:<9}  {:<10}  {:<5}  {:>5}  {:>14}  {:>6}  {}",
            short(s.order_id),
            s.customer_id,
            s.status.as_str(),
            s.status.shown_as(),
            if s.is_final { "yes" } else { "no" },
            s.item_count,
            money(s.total_minor, &s.currency),
            s.event_count,
            s.cancel_reason.as_deref().unwrap_or("-")
        )?;
    }

    // --- replay -----------------------------------------------------------------------------
    writeln!(out, "\n== Replay (fold every order from the event store)")?;
    writeln!(
        out,
        "  {:<8}  {:<9}  {:>5}  {:>14}  = READ MODEL",
        "ORDER", "STATUS", "ITEMS", "TOTAL"
    )?;
    let mut all_match = live.len() == c.orders.len();
    for id in c.orders {
        let order = c.service.load(*id).await?;
        let state = order
            .state()
            .ok_or_else(|| anyhow!("order {id} has no events"))?;
        let items: i64 = state.items.iter().map(|i| i64::from(i.quantity)).sum();
        let status = status_of(state.status);
        let same = by_id.get(id).is_some_and(|s| {
            s.status == status
                && s.is_final == status.is_final()
                && s.item_count == items
                && s.total_minor == state.total_minor
                && s.currency == state.currency
                && s.customer_id == state.customer_id
                && s.event_count as u64 == order.version()
                && s.cancel_reason.as_ref() == state.cancellation.as_ref().map(|x| &x.0)
                && s.failed_step.as_ref() == state.cancellation.as_ref().and_then(|x| x.1.as_ref())
        });
        all_match &= same;
        writeln!(
            out,
            "  {:<8}  {:<9}  {:>5}  {:>14}  {}",
            short(*id),
            status.as_str(),
            items,
            money(state.total_minor, &state.currency),
            if same { "yes" } else { "NO" }
        )?;
    }
    let replay_model = OrderSummaries::with_table(REPLAY_TABLE)?;
    let replayed = rebuild(store, &deserializer, c.projection_db, &replay_model).await?;
    let rebuilt = replay_model.all(c.projection_db).await?;
    let rebuild_same = rebuilt == live;
    all_match &= rebuild_same && replayed == events;
    writeln!(
        out,
        "  rebuild of {READ_MODEL} from {replayed} stored events {} the live table",
        if rebuild_same {
            "equals"
        } else {
            "DIFFERS FROM"
        }
    )?;
    writeln!(
        out,
        "  {}",
        if all_match {
            "state replay equals the read model"
        } else {
            "STATE REPLAY DIFFERS FROM THE READ MODEL"
        }
    )?;
    report.replay_matches = all_match;
    Ok(())
}

fn count(sagas: &[SagaState], status: SagaStatus) -> usize {
    sagas.iter().filter(|s| s.status == status).count()
}

async fn all_reads(dbs: &[Db]) -> anyhow::Result<Vec<Read>> {
    let mut all = Vec::new();
    for db in dbs {
        all.extend(reads(db).await?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_money_and_ids() {
        assert_eq!(money(1250, "EUR"), "12.50 EUR");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        let id = Uuid::parse_str("0123abcd-0000-0000-0000-000000000000").unwrap();
        assert_eq!(short(id), "0123abcd");
        assert_eq!(steps(&[], false), "-");
        let done = [
            fulfillment::RESERVE_INVENTORY.to_string(),
            fulfillment::CHARGE_PAYMENT.to_string(),
        ];
        assert_eq!(steps(&done, false), "reserve_inventory > charge_payment");
        assert_eq!(steps(&done, true), "release_inventory > refund_payment");
    }
}
