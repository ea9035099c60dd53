//! The client against a live evc-registry over real HTTP, and against misbehaving servers.

mod common;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use common::*;
use evc_registry_client::{CompatTarget, RegistryClient, RegistryError, RetryPolicy, Version};

#[tokio::test]
async fn every_operation_against_a_live_registry() {
    let server = live(None).await;
    let c = client(&server.url());

    let r1 = c.register("pings-value", PING_V1).await.unwrap();
    assert_eq!(r1.version, Some(1));
    let r2 = c.register("pings-value", PING_V2).await.unwrap();
    assert_eq!(r2.version, Some(2));
    assert_ne!(r1.id, r2.id);

    // the same schema under another subject gets the same id
    let other = c.register("other-value", PING_V1).await.unwrap();
    assert_eq!(other.id, r1.id);

    let looked = c.lookup("pings-value", PING_V1).await.unwrap();
    assert_eq!(looked, r1);

    let s = c.schema_by_id(r2.id).await.unwrap();
    assert_eq!(s.id, r2.id);
    assert_eq!(s.schema_type, "AVRO");
    assert!(s.schema.contains("\"n\""), "{}", s.schema);

    let latest = c.latest_version("pings-value").await.unwrap();
    assert_eq!(
        (latest.subject.as_str(), latest.version, latest.id),
        ("pings-value", 2, r2.id)
    );
    let first = c
        .subject_version("pings-value", Version::Number(1))
        .await
        .unwrap();
    assert_eq!((first.version, first.id), (1, r1.id));

    let ok = c
        .test_compatibility("pings-value", PING_V2, CompatTarget::Subject)
        .await
        .unwrap();
    assert!(ok.is_compatible && ok.messages.is_empty(), "{ok:?}");
    let bad = c
        .test_compatibility(
            "pings-value",
            PING_BAD,
            CompatTarget::Version(Version::Latest),
        )
        .await
        .unwrap();
    assert!(!bad.is_compatible);
    assert!(!bad.messages.is_empty());
    let bad1 = c
        .test_compatibility(
            "pings-value",
            PING_BAD,
            CompatTarget::Version(Version::Number(1)),
        )
        .await
        .unwrap();
    assert!(!bad1.is_compatible);
}

#[tokio::test]
async fn typed_errors_from_a_live_registry() {
    let server = live(None).await;
    let c = client(&server.url());
    c.register("pings-value", PING_V1).await.unwrap();

    match c.register("pings-value", PING_BAD).await {
        Err(RegistryError::Incompatible {
            subject,
            code,
            messages,
        }) => {
            assert_eq!(subject, "pings-value");
            assert!(code == 409 || code == 40901, "{code}");
            assert!(!messages.is_empty() && !messages[0].is_empty());
        }
        other => panic!("{other:?}"),
    }
    match c
        .register("pings-value", r#"{"type":"record","name":"X"}"#)
        .await
    {
        Err(RegistryError::InvalidSchema { code: 42201, .. }) => {}
        other => panic!("{other:?}"),
    }
    match c.schema_by_id(9999).await {
        Err(RegistryError::SchemaNotFound {
            id: Some(9999),
            code: 40403,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    match c.latest_version("nobody").await {
        Err(RegistryError::SubjectNotFound {
            subject,
            code: 40401,
            ..
        }) => assert_eq!(subject, "nobody"),
        other => panic!("{other:?}"),
    }
    match c.subject_version("pings-value", Version::Number(42)).await {
        Err(RegistryError::VersionNotFound {
            version,
            code: 40402,
            ..
        }) => assert_eq!(version, "42"),
        other => panic!("{other:?}"),
    }
    match c.lookup("pings-value", PING_V2).await {
        Err(e @ RegistryError::SchemaNotFound { code: 40403, .. }) => {
            assert!(e.is_not_found());
            assert!(e.to_string().contains("pings-value"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    match c.lookup("nobody", PING_V2).await {
        Err(RegistryError::SubjectNotFound { code: 40401, .. }) => {}
        other => panic!("{other:?}"),
    }
    // none of these was retried: one request each
    assert_eq!(server.rec.count(), 8, "{:#?}", server.rec.paths());
}

#[tokio::test]
async fn the_hot_path_makes_no_http_call() {
    let server = live(None).await;
    let c = client(&server.url());
    let id = c.register("pings-value", PING_V1).await.unwrap().id;
    assert_eq!(server.rec.count(), 1);

    // register, lookup and fetch again: answered from the caches
    assert_eq!(c.register("pings-value", PING_V1).await.unwrap().id, id);
    assert_eq!(server.rec.count(), 1);
    assert_eq!(c.cached_id("pings-value", PING_V1), Some(id));
    assert_eq!(c.cached_id_for_schema(PING_V1), Some(id));

    let looked = c.lookup("other-subject-never-asked", PING_V1).await;
    assert!(looked.is_err());
    assert_eq!(server.rec.count(), 2);

    c.schema_by_id(id).await.unwrap();
    assert_eq!(server.rec.count(), 3);
    for _ in 0..10 {
        c.schema_by_id(id).await.unwrap();
    }
    assert_eq!(server.rec.count(), 3);
    assert!(c.cached_schema(id).is_some());

    // a clone shares the caches
    let c2 = c.clone();
    c2.schema_by_id(id).await.unwrap();
    assert_eq!(server.rec.count(), 3);

    // lookup through a second client: one request, then cached
    let c3 = client(&server.url());
    c3.lookup("pings-value", PING_V1).await.unwrap();
    c3.lookup("pings-value", PING_V1).await.unwrap();
    assert_eq!(server.rec.count(), 4);
    // the lookup answer carried the schema: fetching its id needs no request either
    c3.schema_by_id(id).await.unwrap();
    assert_eq!(server.rec.count(), 4);

    // latest is never cached
    c.latest_version("pings-value").await.unwrap();
    c.latest_version("pings-value").await.unwrap();
    assert_eq!(server.rec.count(), 6);

    c.clear_caches();
    c.schema_by_id(id).await.unwrap();
    assert_eq!(server.rec.count(), 7, "{:#?}", server.rec.paths());
}

#[tokio::test]
async fn failures_are_not_cached() {
    let server = live(None).await;
    let c = client(&server.url());
    c.register("pings-value", PING_V1).await.unwrap();

    assert!(c
        .lookup("pings-value", PING_V2)
        .await
        .unwrap_err()
        .is_not_found());
    assert!(c.cached_id("pings-value", PING_V2).is_none());
    let id = c.register("pings-value", PING_V2).await.unwrap().id;
    assert_eq!(c.lookup("pings-value", PING_V2).await.unwrap().id, id);

    // schema by id: 404 first, then the id exists (registered by someone else)
    let other = client(&server.url());
    let next_id = id + 1;
    assert!(c.schema_by_id(next_id).await.is_err());
    let r = other
        .register("x-value", r#"{"type":"record","name":"X","fields":[]}"#)
        .await
        .unwrap();
    assert_eq!(r.id, next_id);
    assert_eq!(c.schema_by_id(next_id).await.unwrap().id, next_id);

    // a transient failure is not cached either
    server.rec.fail_next(10, 503);
    let strict = RegistryClient::builder(&server.url())
        .retry(fast_retry(1))
        .build()
        .unwrap();
    assert!(strict.schema_by_id(id).await.unwrap_err().is_unavailable());
    server.rec.fail_next(0, 503);
    assert_eq!(strict.schema_by_id(id).await.unwrap().id, id);
}

#[tokio::test]
async fn transient_errors_are_retried_with_backoff() {
    let server = live(None).await;
    let c = client(&server.url()); // 3 retries
    let id = c.register("pings-value", PING_V1).await.unwrap().id;
    c.clear_caches();
    let before = server.rec.count();

    server.rec.fail_next(2, 503);
    assert_eq!(c.schema_by_id(id).await.unwrap().id, id);
    assert_eq!(server.rec.count() - before, 3, "2 failures then success");

    server.rec.fail_next(3, 429);
    let r = c.register("pings-value", PING_V2).await.unwrap();
    assert_eq!(r.version, Some(2));
    assert_eq!(server.rec.count() - before, 3 + 4);

    // more failures than retries: unavailable after 1 + 3 attempts
    server.rec.fail_next(100, 500);
    match c.latest_version("pings-value").await {
        Err(RegistryError::Unavailable { attempts, reason }) => {
            assert_eq!(attempts, 4);
            assert!(reason.contains("HTTP 500"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.rec.count() - before, 3 + 4 + 4);
    server.rec.fail_next(0, 500);

    // a 4xx is an answer: never retried
    server.rec.fail_next(100, 400);
    let e = c.latest_version("pings-value").await.unwrap_err();
    assert!(matches!(e, RegistryError::Api { status: 400, .. }), "{e:?}");
    assert_eq!(server.rec.count() - before, 3 + 4 + 4 + 1);
    server.rec.fail_next(0, 400);

    // no retries configured: one attempt
    let once = RegistryClient::builder(&server.url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    server.rec.fail_next(1, 502);
    assert!(matches!(
        once.latest_version("pings-value").await,
        Err(RegistryError::Unavailable { attempts: 1, .. })
    ));
}

#[tokio::test]
async fn fails_over_to_the_next_url_on_connection_errors() {
    let server = live(None).await;
    let dead = refused_url().await;
    let c = client(&format!("{dead},{}", server.url()));
    let id = c.register("pings-value", PING_V1).await.unwrap().id;
    assert_eq!(server.rec.count(), 1);
    c.clear_caches();
    // the URL that answered is tried first from now on
    assert_eq!(c.schema_by_id(id).await.unwrap().id, id);
    assert_eq!(server.rec.count(), 2);

    // nothing answers: unavailable, naming every URL
    let dead2 = refused_url().await;
    let c = client(&format!("{dead},{dead2}"));
    match c.schema_by_id(1).await {
        Err(RegistryError::Unavailable { attempts, reason }) => {
            assert_eq!(attempts, 4);
            assert!(
                reason.contains(&dead) && reason.contains(&dead2),
                "{reason}"
            );
            assert!(reason.contains("connection"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // a dead URL after a live one is never needed
    let c = client(&format!("{},{}", server.url(), dead));
    assert_eq!(c.lookup("pings-value", PING_V1).await.unwrap().id, id);
}

#[tokio::test]
async fn basic_and_bearer_auth() {
    let server = live(Some("alice:s3cret\n")).await;
    let c = RegistryClient::builder(&server.url())
        .basic_auth("alice", "s3cret")
        .retry(fast_retry(3))
        .build()
        .unwrap();
    c.register("pings-value", PING_V1).await.unwrap();
    assert_eq!(
        server.rec.last_authorization().as_deref(),
        Some("Basic YWxpY2U6czNjcmV0")
    );

    let wrong = RegistryClient::builder(&server.url())
        .basic_auth("alice", "nope")
        .retry(fast_retry(3))
        .build()
        .unwrap();
    let before = server.rec.count();
    match wrong.latest_version("pings-value").await {
        Err(RegistryError::Unauthorized { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(server.rec.count() - before, 1, "401 is not retried");
    let anonymous = client(&server.url());
    assert!(matches!(
        anonymous.schema_by_id(1).await,
        Err(RegistryError::Unauthorized { .. })
    ));

    // bearer: evc-registry has no tokens, so check what arrives
    let plain = live(None).await;
    let b = RegistryClient::builder(&plain.url())
        .bearer_token("tok3n")
        .build()
        .unwrap();
    b.register("pings-value", PING_V1).await.unwrap();
    assert_eq!(
        plain.rec.last_authorization().as_deref(),
        Some("Bearer tok3n")
    );
}

fn fixed(status: u16, body: &'static str) -> Router {
    let answer = move || async move { (StatusCode::from_u16(status).unwrap(), body) };
    Router::new()
        .route("/schemas/ids/{id}", get(answer))
        .route("/subjects/{s}/versions", post(answer))
        .route("/subjects/{s}", post(answer))
        .route("/subjects/{s}/versions/{v}", get(answer))
        .route("/compatibility/subjects/{s}/versions", post(answer))
}

#[tokio::test]
async fn malformed_answers_are_typed_errors() {
    for body in ["not json", "{}", r#"{"schema": 5}"#, "", "[1,2]"] {
        let s = serve(fixed(200, body)).await;
        let c = client(&s.url());
        match c.schema_by_id(1).await {
            Err(RegistryError::BadResponse { context, .. }) => {
                assert_eq!(context, "schema by id")
            }
            other => panic!("{body:?}: {other:?}"),
        }
        assert!(matches!(
            c.register("s", PING_V1).await,
            Err(RegistryError::BadResponse { .. })
        ));
        assert!(matches!(
            c.lookup("s", PING_V1).await,
            Err(RegistryError::BadResponse { .. })
        ));
        assert!(matches!(
            c.latest_version("s").await,
            Err(RegistryError::BadResponse { .. })
        ));
        assert!(matches!(
            c.test_compatibility("s", PING_V1, CompatTarget::Subject)
                .await,
            Err(RegistryError::BadResponse { .. })
        ));
        // nothing was cached
        assert!(c.cached_schema(1).is_none() && c.cached_id("s", PING_V1).is_none());
    }
    // ids must be non-negative 32-bit
    let s = serve(fixed(200, r#"{"id": -3}"#)).await;
    assert!(matches!(
        client(&s.url()).register("s", PING_V1).await,
        Err(RegistryError::BadResponse { .. })
    ));
    // an error answer that is not Confluent JSON keeps its status
    let s = serve(fixed(404, "<html>no such page</html>")).await;
    match client(&s.url()).schema_by_id(1).await {
        Err(RegistryError::Api {
            status: 404,
            code: 404,
            message,
        }) => assert!(message.contains("no such page")),
        other => panic!("{other:?}"),
    }
    // a server error with garbage is retried, then reported as unavailable
    let s = serve(fixed(503, "\u{1}\u{2}garbage")).await;
    assert!(matches!(
        client(&s.url()).schema_by_id(1).await,
        Err(RegistryError::Unavailable { attempts: 4, .. })
    ));
    assert_eq!(s.rec.count(), 4);
}

#[tokio::test]
async fn both_incompatible_codes_are_understood() {
    for (status, code) in [(409u16, 409u32), (409, 40901)] {
        let body: &'static str = Box::leak(
            format!(
                r#"{{"error_code":{code},"message":"Schema being registered is incompatible"}}"#
            )
            .into_boxed_str(),
        );
        let s = serve(fixed(status, body)).await;
        match client(&s.url()).register("orders-value", PING_V1).await {
            Err(RegistryError::Incompatible {
                subject,
                code: c,
                messages,
            }) => {
                assert_eq!((subject.as_str(), c), ("orders-value", code));
                assert_eq!(messages, ["Schema being registered is incompatible"]);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn subjects_are_percent_encoded() {
    let server = live(None).await;
    let c = client(&server.url());
    let r = c.register("team/a b:value", PING_V1).await.unwrap();
    assert_eq!(c.latest_version("team/a b:value").await.unwrap().id, r.id);
    assert!(
        server
            .rec
            .paths()
            .contains(&"POST /subjects/team%2Fa%20b:value/versions".to_string()),
        "{:#?}",
        server.rec.paths()
    );
}
