//! The resolver (writer data rewritten as reader data): arbitrary bytes through a resolver
//! between two versions of an order event, then the reader's generated decoder; and arbitrary
//! bytes through resolvers between the codegen corpus's schemas (every Avro type, logical
//! types, recursion, unions, defaults). Always a datum or a typed error, never a panic, never
//! an allocation the input cannot justify.
#![no_main]

use std::sync::LazyLock;

use evc_avro::resolve::{decode_resolved, Resolver};
use evc_schema::Schema;
use libfuzzer_sys::fuzz_target;
use order_events::{v1, v2};

evc_fuzz::use_guard!();

fn parse(text: &str) -> Schema {
    Schema::parse(text).expect("a checked-in schema parses")
}

fn order(file: &str) -> Schema {
    let (_, text) = evc_fuzz::ORDER_SCHEMAS
        .iter()
        .find(|(f, _)| *f == file)
        .expect("a known order schema");
    parse(text)
}

struct Order {
    created_1_2: Resolver,
    created_2_1: Resolver,
    paid_1_2: Resolver,
    paid_2_1: Resolver,
}

static ORDER: LazyLock<Order> = LazyLock::new(|| {
    let (c1, c2) = (order("OrderCreated/v1.avsc"), order("OrderCreated/v2.avsc"));
    let (p1, p2) = (order("OrderPaid/v1.avsc"), order("OrderPaid/v2.avsc"));
    Order {
        created_1_2: Resolver::new(&c1, &c2).expect("v1 → v2 resolves"),
        created_2_1: Resolver::new(&c2, &c1).expect("v2 → v1 resolves"),
        paid_1_2: Resolver::new(&p1, &p2).expect("v1 → v2 resolves"),
        paid_2_1: Resolver::new(&p2, &p1).expect("v2 → v1 resolves"),
    }
});

/// The codegen corpus's schemas, read once from the checkout.
static CORPUS: LazyLock<Vec<Schema>> = LazyLock::new(|| {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/codegen-corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/codegen-corpus is readable")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "avsc"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| Schema::parse(&std::fs::read_to_string(p).ok()?).ok())
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let [which, w, r, bytes @ ..] = data else {
        return;
    };
    let budget = evc_fuzz::budget(bytes.len());
    let o = &*ORDER;
    match which % 5 {
        0 => {
            let _ = evc_fuzz::guarded(budget, || {
                decode_resolved::<v2::OrderCreated>(&o.created_1_2, bytes)
            });
        }
        1 => {
            let _ = evc_fuzz::guarded(budget, || {
                decode_resolved::<v1::OrderCreated>(&o.created_2_1, bytes)
            });
        }
        2 => {
            let _ = evc_fuzz::guarded(budget, || {
                decode_resolved::<v2::OrderPaid>(&o.paid_1_2, bytes)
            });
        }
        3 => {
            let _ = evc_fuzz::guarded(budget, || {
                decode_resolved::<v1::OrderPaid>(&o.paid_2_1, bytes)
            });
        }
        _ => {
            let corpus = &*CORPUS;
            let writer = &corpus[usize::from(*w) % corpus.len()];
            let reader = &corpus[usize::from(*r) % corpus.len()];
            let Ok(resolver) = Resolver::new(writer, reader) else {
                return;
            };
            let mut out = Vec::new();
            let mut input = bytes;
            let _ = evc_fuzz::guarded(budget, || resolver.transcode(&mut input, &mut out));
        }
    }
});
