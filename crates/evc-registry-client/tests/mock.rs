//! mock:// registries: the real evc-registry server, in process.

mod common;

use common::*;
use evc_registry_client::{mock, CompatTarget, RegistryError, Version};

#[tokio::test]
async fn mock_registries_are_the_real_server_in_process() {
    let name = format!("client-test-{}", std::process::id());
    let a = client(&format!("mock://{name}"));
    let b = client(&format!("mock://{name}"));
    let other = client("mock://client-test-other");

    let r1 = a.register("pings-value", PING_V1).await.unwrap();
    // shared per name, like one server
    assert_eq!(b.lookup("pings-value", PING_V1).await.unwrap(), r1);
    assert!(other
        .lookup("pings-value", PING_V1)
        .await
        .unwrap_err()
        .is_not_found());

    // same behaviour as the live server: versions, compatibility, errors, codes
    assert_eq!(
        a.register("pings-value", PING_V2).await.unwrap().version,
        Some(2)
    );
    assert_eq!(b.latest_version("pings-value").await.unwrap().version, 2);
    assert_eq!(
        b.schema_by_id(r1.id).await.unwrap().schema,
        a.subject_version("pings-value", Version::Number(1))
            .await
            .unwrap()
            .schema
    );
    assert!(
        !b.test_compatibility("pings-value", PING_BAD, CompatTarget::Subject)
            .await
            .unwrap()
            .is_compatible
    );
    assert!(matches!(
        b.register("pings-value", PING_BAD).await,
        Err(RegistryError::Incompatible { .. })
    ));
    assert!(matches!(
        b.register("pings-value", "{").await,
        Err(RegistryError::InvalidSchema { code: 42201, .. })
    ));
    assert!(matches!(
        b.schema_by_id(4242).await,
        Err(RegistryError::SchemaNotFound { code: 40403, .. })
    ));
    assert!(matches!(
        b.subject_version("pings-value", Version::Number(9)).await,
        Err(RegistryError::VersionNotFound { code: 40402, .. })
    ));

    // the same registry over HTTP, for programs that only speak HTTP
    let url = mock::http_url(&name).await.unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(mock::http_url(&name).await.unwrap(), url);
    let over_http = client(&url);
    assert_eq!(over_http.lookup("pings-value", PING_V1).await.unwrap(), r1);
}

/// The mock registry outlives the runtime that first used it.
#[test]
fn mock_registries_survive_their_first_runtime() {
    let name = format!("runtime-test-{}", std::process::id());
    let url = format!("mock://{name}");
    let id = {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { client(&url).register("s", PING_V1).await.unwrap().id })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let found = rt.block_on(async { client(&url).lookup("s", PING_V1).await.unwrap().id });
    assert_eq!(found, id);
}
