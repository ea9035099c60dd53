//! Arbitrary bytes never panic: every message is decoded or refused with a typed error.

mod common;

use std::sync::LazyLock;

use common::*;
use evc_wire::{frame, unframe, Deserializer, FrameError, Serializer, WireError};
use order_events::{v1, v2, OrderEvent};
use proptest::prelude::*;
use tokio::runtime::Runtime;

struct Fixture {
    rt: Runtime,
    consumer: Deserializer,
    /// Valid messages of every kind, to mutate.
    samples: Vec<Vec<u8>>,
    ids: Vec<u32>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = fresh_mock();
    let producer = Serializer::new(client.clone()).auto_register(true);
    let samples = rt.block_on(async {
        vec![
            producer.serialize(&created_v1()).await.unwrap(),
            producer.serialize(&created_v2()).await.unwrap(),
            producer.serialize(&item_added()).await.unwrap(),
            producer
                .serialize(&order_paid(Some("0.1200")))
                .await
                .unwrap(),
        ]
    });
    let ids = samples
        .iter()
        .map(|s| unframe(s).unwrap().schema_id)
        .collect();
    Fixture {
        rt,
        consumer: Deserializer::new(client),
        samples,
        ids,
    }
});

/// Runs every decoder over `bytes`; none may panic, and framing errors must be the right ones.
fn decode_all(bytes: &[u8]) {
    let f = &*FIXTURE;
    let results = f.rt.block_on(async {
        [
            f.consumer
                .deserialize::<v2::OrderCreated>(bytes)
                .await
                .map(|_| ()),
            f.consumer
                .deserialize::<v1::OrderCreated>(bytes)
                .await
                .map(|_| ()),
            f.consumer
                .deserialize_topic::<OrderEvent>(bytes)
                .await
                .map(|_| ()),
            f.consumer.decode_json(bytes).await.map(|_| ()),
        ]
    });
    for r in results {
        if let Err(e) = &r {
            assert!(!e.to_string().is_empty());
        }
        match (r, bytes) {
            (Err(WireError::Frame(FrameError::WrongMagicByte { found })), [first, ..]) => {
                assert_eq!(found, *first)
            }
            (Err(WireError::Frame(FrameError::TooShort { len })), _) => {
                assert!(len < 5 && len == bytes.len())
            }
            (Err(WireError::Frame(e)), _) => panic!("{e:?} for {bytes:?}"),
            (Ok(()), _) | (Err(_), _) => {
                assert!(bytes.len() >= 5 && bytes[0] == 0, "{bytes:?} was accepted")
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        decode_all(&bytes);
    }

    #[test]
    fn arbitrary_bodies_under_known_ids(
        which in 0usize..4,
        body in proptest::collection::vec(any::<u8>(), 0..96),
    ) {
        decode_all(&frame(FIXTURE.ids[which], &body));
    }

    #[test]
    fn mutated_valid_messages(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut msg = FIXTURE.samples[which].clone();
        for (at, byte) in flips {
            // leave the header alone half of the time, to reach the body decoders
            let last = msg.len() - 1;
            let i = at.index(msg.len()).max(5 * usize::from(byte % 2 == 0)).min(last);
            msg[i] ^= byte | 1;
        }
        if truncate {
            msg.truncate(cut.index(msg.len() + 1));
        }
        decode_all(&msg);
    }

    #[test]
    fn frames_round_trip(id in any::<u32>(), body in proptest::collection::vec(any::<u8>(), 0..32)) {
        let framed = frame(id, &body);
        let back = unframe(&framed).unwrap();
        prop_assert_eq!(back.schema_id, id);
        prop_assert_eq!(back.body, &body[..]);
    }
}

#[test]
fn the_samples_decode() {
    for s in &FIXTURE.samples {
        FIXTURE
            .rt
            .block_on(FIXTURE.consumer.deserialize_topic::<OrderEvent>(s))
            .unwrap();
    }
}

/// Found by `cargo xtask fuzz` (wire_frame): `decode_json` (what `evc tail` prints) handed the
/// body straight to apache-avro, which allocates what a length prefix says before reading the
/// bytes (45 MB for a 70-byte message). The body is now read by evc's bounded reader first.
#[test]
fn decode_json_refuses_a_length_prefix_beyond_the_message() {
    let f = &*FIXTURE;
    // OrderCreated v1: event_id is the first field, a string: declare 45 MB, send 8 bytes.
    let mut body = Vec::new();
    evc_avro::binary::write_long(&mut body, 45_000_000);
    body.extend_from_slice(b"3f2504e0");
    let msg = frame(f.ids[0], &body);
    let err = f.rt.block_on(f.consumer.decode_json(&msg)).unwrap_err();
    match err {
        WireError::Decode { id, source } => {
            assert_eq!(id, f.ids[0]);
            assert!(
                !matches!(source, evc_avro::DecodeError::Avro(_)),
                "refused by evc's reader, before apache-avro allocates: {source}"
            );
        }
        other => panic!("{other}"),
    }
}
