//! The generated binary decoders of the order events: arbitrary bytes decode to an event or a
//! typed error, never a panic, and never allocate more than the input can justify (the
//! allocation guard). What decodes and encodes again is a fixed point of encoding.
#![no_main]

use evc_avro::binary::{from_slice, to_vec};
use evc_avro::{AvroBinary, TopicEvent};
use libfuzzer_sys::fuzz_target;
use order_events::OrderEvent;

evc_fuzz::use_guard!();

fn check<T: AvroBinary>(bytes: &[u8]) {
    let decoded = evc_fuzz::guarded(evc_fuzz::budget(bytes.len()), || from_slice::<T>(bytes));
    if let Ok(value) = decoded {
        // The decoder takes what Avro Java's does: a decimal with more digits than its
        // precision is read, and refused (a typed error) only when written again. Whatever
        // does encode must be a fixed point.
        let Ok(once) = to_vec(&value) else {
            return;
        };
        let again = from_slice::<T>(&once).expect("an encoded value decodes");
        assert_eq!(
            to_vec(&again).expect("encodes"),
            once,
            "re-encoding is not stable"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => check::<order_events::v1::OrderCreated>(bytes),
        1 => check::<order_events::v2::OrderCreated>(bytes),
        2 => check::<order_events::v1::ItemAdded>(bytes),
        3 => check::<order_events::v1::OrderPaid>(bytes),
        4 => check::<order_events::v2::OrderPaid>(bytes),
        5 => check::<order_events::v1::OrderShipped>(bytes),
        n => {
            // The topic enum, by full name, as the consumer calls it.
            let name = OrderEvent::FULL_NAMES[usize::from(n) % OrderEvent::FULL_NAMES.len()];
            let name = if n == 7 {
                "com.acme.orders.Unknown"
            } else {
                name
            };
            let _ = evc_fuzz::guarded(evc_fuzz::budget(bytes.len()), || {
                OrderEvent::decode_binary(name, bytes)
            });
        }
    }
});
