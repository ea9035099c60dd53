//! The consumer's side of the wire: arbitrary bytes as a Confluent-framed message, read by
//! evc-wire's `Deserializer` (frame, writer schema by id from a registry holding every order
//! schema version, resolution to the latest version, the generated decoder) and by
//! `decode_json` (what `evc tail` prints). A typed error or a value, never a panic or an
//! allocation the input cannot justify; `unframe` and `frame` are inverse.
#![no_main]

use std::sync::LazyLock;

use evc_registry_client::RegistryClient;
use evc_wire::Deserializer;
use libfuzzer_sys::fuzz_target;
use order_events::OrderEvent;

evc_fuzz::use_guard!();

struct Reader {
    rt: tokio::runtime::Runtime,
    de: Deserializer,
}

static READER: LazyLock<Reader> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = RegistryClient::new("mock://fuzz-wire").expect("the mock registry");
    rt.block_on(async {
        for (file, text) in evc_fuzz::ORDER_SCHEMAS {
            let name = file.split('/').next().expect("Type/vN.avsc");
            let subject = format!("orders-com.acme.orders.{name}");
            client
                .register(&subject, text)
                .await
                .expect("the order schemas register");
        }
    });
    Reader {
        rt,
        de: Deserializer::new(client),
    }
});

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = evc_wire::unframe(data) {
        assert_eq!(evc_wire::frame(f.schema_id, f.body), data);
    }
    let r = &*READER;
    let budget = evc_fuzz::budget(data.len());
    r.rt.block_on(async {
        // The writer schema comes from the registry (allocations the input does not decide):
        // fetch it before the guarded decode, and leave ids the registry does not hold alone
        // (each would only ask the registry again), so the time goes to the decoders.
        if let Ok(id) = evc_wire::schema_id(data) {
            if r.de.writer_schema(id).await.is_err() {
                return;
            }
        }
        let _ = evc_fuzz::guarded(budget, || {
            futures_block_on(r.de.deserialize_topic::<OrderEvent>(data))
        });
        let _ = evc_fuzz::guarded(budget, || futures_block_on(r.de.decode_json(data)));
    });
});

/// Polls a future that does not wait on I/O (every writer schema is cached) to completion.
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}
