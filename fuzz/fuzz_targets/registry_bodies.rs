//! The registry's request bodies: arbitrary bytes as the JSON body of the routes that take one
//! (register, look-up, compatibility, config, mode; schema text, references, metadata, rule
//! sets), sent through the real evc-registry router with memory storage. Every answer is a
//! Confluent answer: never a panic, never a 500 (a 500 means the server failed, not the
//! client). The protocol types round-trip through JSON unchanged.
#![no_main]

use std::cell::RefCell;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use evc_registry::{Registry, ServerConfig, StorageUrl};
use evc_registry_api::{
    CompatibilityCheck, ConfigUpdate, Metadata, ModeBody, RegisterSchemaRequest, RuleSet,
};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

evc_fuzz::use_guard!();

/// Inputs served by one registry before a fresh one replaces it (its tables only grow).
const FRESH_EVERY: u32 = 2_000;

/// A schema other requests can reference (`{"name": "com.acme.Base", "subject": "base",
/// "version": 1}`).
const BASE: &str = r#"{"type":"record","name":"Base","namespace":"com.acme","fields":[{"name":"id","type":"string"}]}"#;

struct State {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    served: u32,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

async fn fresh_router() -> axum::Router {
    let config = ServerConfig::new(([127, 0, 0, 1], 0).into(), StorageUrl::Memory);
    let registry = Registry::open(&config)
        .await
        .expect("a memory registry opens");
    let router = evc_registry::router(registry);
    let (status, body) = send(
        &router,
        Method::POST,
        "/subjects/base/versions",
        serde_json::to_vec(&RegisterSchemaRequest::schema(BASE)).expect("json"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "registering the base schema: {body}"
    );
    router
}

async fn send(
    router: &axum::Router,
    method: Method,
    uri: &str,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", evc_registry_api::CONTENT_TYPE_V1)
        .body(Body::from(body))
        .expect("a request");
    let resp = router
        .clone()
        .oneshot(req)
        .await
        .expect("the router answers");
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn round_trip<T>(data: &[u8])
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = serde_json::from_slice::<T>(data) {
        let text = serde_json::to_vec(&v).expect("a parsed body serializes");
        let again: T = serde_json::from_slice(&text).expect("a serialized body parses");
        assert_eq!(again, v);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    round_trip::<RegisterSchemaRequest>(body);
    round_trip::<ConfigUpdate>(body);
    round_trip::<ModeBody>(body);
    round_trip::<CompatibilityCheck>(body);
    round_trip::<Metadata>(body);
    round_trip::<RuleSet>(body);

    let subject = ["orders-value", "base", "s1", "s2"][usize::from(which >> 4) % 4];
    let (method, uri) = match which % 8 {
        0 | 1 => (Method::POST, format!("/subjects/{subject}/versions")),
        2 => (
            Method::POST,
            format!("/subjects/{subject}/versions?normalize=true"),
        ),
        3 => (Method::POST, format!("/subjects/{subject}")),
        4 => (
            Method::POST,
            format!("/compatibility/subjects/{subject}/versions/latest?verbose=true"),
        ),
        5 => (Method::PUT, format!("/config/{subject}")),
        6 => (Method::PUT, format!("/mode/{subject}")),
        _ => (
            Method::POST,
            format!("/compatibility/subjects/{subject}/versions"),
        ),
    };
    STATE.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.as_ref().is_none_or(|s| s.served >= FRESH_EVERY) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let router = rt.block_on(fresh_router());
            *cell = Some(State {
                rt,
                router,
                served: 0,
            });
        }
        let state = cell.as_mut().expect("set above");
        state.served += 1;
        let (status, answer) =
            state
                .rt
                .block_on(send(&state.router, method.clone(), &uri, body.to_vec()));
        assert!(
            status != StatusCode::INTERNAL_SERVER_ERROR,
            "{method} {uri} answered 500: {answer}"
        );
    });
});
