//! `evc produce` input lines: any text as one line, handled as `evc produce` handles it
//! (JSON; `type`, `key`, an optional `schema_id`; `value` through `evc_wire::json_to_avro` to
//! apache-avro's encoder), with the order schemas as the registry's ids 1 to 6. A line is
//! produced or refused with a typed error, never a panic; what `json_to_avro` accepts
//! encodes, decodes with the generated decoder of that version, and prints back (as `evc
//! tail` prints it) to JSON that encodes to the same bytes.
#![no_main]

use std::sync::LazyLock;

use evc_avro::binary::from_slice;
use evc_avro::DecodeError;
use libfuzzer_sys::fuzz_target;
use order_events::{v1, v2};
use serde_json::Value as Json;

evc_fuzz::use_guard!();

struct Writer {
    model: evc_schema::Schema,
    avro: evc_avro::apache_avro::Schema,
}

/// The registry as `evc produce` would see it: id `i + 1` is `ORDER_SCHEMAS[i]`.
static WRITERS: LazyLock<Vec<Writer>> = LazyLock::new(|| {
    evc_fuzz::ORDER_SCHEMAS
        .iter()
        .map(|(_, text)| {
            let model = evc_schema::Schema::parse(text).expect("an order schema parses");
            let avro = evc_avro::load_model(&model).expect("an order schema loads");
            Writer { model, avro }
        })
        .collect()
});

/// The generated decoder of the version with registry id `id`.
fn generated_decode(id: usize, bytes: &[u8]) -> Result<(), DecodeError> {
    match id {
        1 => from_slice::<v1::OrderCreated>(bytes).map(drop),
        2 => from_slice::<v2::OrderCreated>(bytes).map(drop),
        3 => from_slice::<v1::ItemAdded>(bytes).map(drop),
        4 => from_slice::<v1::OrderPaid>(bytes).map(drop),
        5 => from_slice::<v2::OrderPaid>(bytes).map(drop),
        6 => from_slice::<v1::OrderShipped>(bytes).map(drop),
        _ => unreachable!("ids 1 to 6"),
    }
}

fn encode(w: &Writer, value: &Json) -> Option<Vec<u8>> {
    let avro = evc_wire::json_to_avro(value, &w.model).ok()?;
    let body = evc_avro::apache_avro::to_avro_datum(&w.avro, avro)
        .unwrap_or_else(|e| panic!("json_to_avro accepted {value} but it does not encode: {e}"));
    Some(body)
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(j) = serde_json::from_str::<Json>(line) else {
        return;
    };
    let (Some(full_name), Some(_key)) = (
        j.get("type").and_then(Json::as_str),
        j.get("key").and_then(Json::as_str),
    ) else {
        return;
    };
    let writers = &*WRITERS;
    let id = match j.get("schema_id").and_then(Json::as_u64) {
        Some(id) if (1..=writers.len() as u64).contains(&id) => id as usize,
        Some(_) => return,
        // The latest version of the type, as the subject look-up finds it.
        None => match writers
            .iter()
            .rposition(|w| w.model.root_name() == full_name)
        {
            Some(i) => i + 1,
            None => return,
        },
    };
    let w = &writers[id - 1];
    if w.model.root_name() != full_name {
        return;
    }
    let Some(value) = j.get("value") else {
        return;
    };
    let Some(body) = encode(w, value) else {
        return;
    };
    generated_decode(id, &body)
        .unwrap_or_else(|e| panic!("{value} encoded by apache-avro does not decode: {e}"));
    let decoded = evc_avro::decode_value(&body, &w.avro, None)
        .unwrap_or_else(|e| panic!("{value} does not decode with apache-avro: {e}"));
    let printed = evc_wire::avro_to_json(&decoded, &w.model);
    let again = encode(w, &printed)
        .unwrap_or_else(|| panic!("the printed form {printed} of {value} is refused"));
    assert_eq!(
        again, body,
        "{value} printed as {printed} encodes differently"
    );
});
