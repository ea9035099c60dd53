//! `mock://NAME`: the real `evc-registry` server code, in this process, with memory storage.
//!
//! Every client of `mock://NAME` in one process talks to the same registry; different names are
//! different registries. Requests go straight into the server's axum router (no socket), on a
//! runtime of its own, so the registry outlives the runtime of whichever test or task first used
//! it. The behaviour is the server's by construction: same routes, same JSON, same error codes,
//! same compatibility checks.
//!
//! [`http_url`] additionally serves a mock registry on `127.0.0.1` for programs that only speak
//! HTTP (another client library, a browser, `curl`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use axum::body::Body;
use axum::Router;
use evc_registry::{Registry, ServerConfig, StorageUrl};
use reqwest::header::HeaderMap;
use reqwest::Method;
use tokio::runtime::Runtime;
use tokio::sync::OnceCell;
use tower::ServiceExt;

use crate::transport::Answer;
use crate::RegistryError;

/// Largest answer read from the in-process router.
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// The runtime every mock registry runs on (one worker thread, lives as long as the process).
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("evc-mock-registry")
        .enable_all()
        .build()
        .expect("could not start the mock registry runtime")
});

#[derive(Default)]
struct Mock {
    router: OnceCell<Router>,
    http: OnceCell<SocketAddr>,
}

static MOCKS: LazyLock<Mutex<HashMap<String, Arc<Mock>>>> = LazyLock::new(Default::default);

fn mock(name: &str) -> Arc<Mock> {
    MOCKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(name.to_string())
        .or_default()
        .clone()
}

fn listen_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn router(name: &str) -> Result<Router, String> {
    let m = mock(name);
    m.router
        .get_or_try_init(|| async {
            RUNTIME
                .spawn(async {
                    let config = ServerConfig::new(listen_addr(), StorageUrl::Memory);
                    Registry::open(&config)
                        .await
                        .map(evc_registry::router)
                        .map_err(|e| format!("the in-process registry could not start: {e}"))
                })
                .await
                .map_err(|e| format!("the in-process registry could not start: {e}"))?
        })
        .await
        .cloned()
}

/// Sends one request to `mock://NAME`.
pub(crate) async fn send(
    name: &str,
    method: Method,
    path_and_query: &str,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<Answer, String> {
    let router = router(name).await?;
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .body(Body::from(body))
        .map_err(|e| format!("invalid request for mock://{name}: {e}"))?;
    *request.headers_mut() = headers;
    RUNTIME
        .spawn(async move {
            let response = match router.oneshot(request).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, MAX_ANSWER)
                .await
                .map_err(|e| format!("reading the in-process answer: {e}"))?;
            Ok(Answer {
                status: parts.status.as_u16(),
                body: body.to_vec(),
                retry_after: None,
            })
        })
        .await
        .map_err(|e| format!("the in-process registry failed: {e}"))?
}

/// Serves `mock://NAME` over HTTP on `127.0.0.1` (a free port, once per name) and answers its
/// base URL, e.g. `http://127.0.0.1:41234`. Clients of either URL see the same registry.
pub async fn http_url(name: &str) -> Result<String, RegistryError> {
    let unavailable = |reason: String| RegistryError::Unavailable {
        attempts: 1,
        reason,
    };
    let router = router(name).await.map_err(unavailable)?;
    let m = mock(name);
    let addr = m
        .http
        .get_or_try_init(|| async {
            RUNTIME
                .spawn(async move {
                    let listener = tokio::net::TcpListener::bind(listen_addr()).await?;
                    let addr = listener.local_addr()?;
                    tokio::spawn(async move {
                        if let Err(e) = axum::serve(listener, router).await {
                            tracing::error!(error = %e, "mock registry HTTP listener stopped");
                        }
                    });
                    Ok::<_, std::io::Error>(addr)
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("could not listen on 127.0.0.1: {e}"))
        })
        .await
        .map_err(unavailable)?;
    Ok(format!("http://{addr}"))
}
