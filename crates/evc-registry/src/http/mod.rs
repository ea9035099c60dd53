//! The Confluent REST API on axum: routes, request parsing, middleware. Handlers are in
//! `handlers`; the mapping of refusals to Confluent codes in `error`.

mod cache;
mod error;
mod handlers;
mod metrics;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{
    FromRef, FromRequest, FromRequestParts, MatchedPath, Path, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use evc_registry_api::{ACCEPTED_CONTENT_TYPES, CONTENT_TYPE_V1};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) use error::ApiError;
use handlers::*;

use crate::{BasicAuth, Registry};

/// How much of an oversized body is read (and thrown away) before answering 413, so that a
/// client still sending gets the answer instead of a reset connection.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// The router's state: the registry and the cache of whole answers.
#[derive(Clone)]
pub(crate) struct App {
    pub registry: Registry,
    pub answers: Arc<cache::AnswerCache>,
    pub metrics: Arc<metrics::Metrics>,
}

impl FromRef<App> for Registry {
    fn from_ref(app: &App) -> Registry {
        app.registry.clone()
    }
}

/// The registry's HTTP API as an axum router (state already applied).
///
/// Serve it with `axum::serve`, or use [`crate::serve`] / [`crate::spawn`].
pub fn router(registry: Registry) -> Router {
    let auth = registry.auth();
    let app_state = App {
        registry,
        answers: Arc::default(),
        metrics: Arc::default(),
    };
    let mut app = Router::new()
        .route("/", get(root).post(root))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/metadata", get(latest_with_metadata))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(get_referenced_by),
        )
        .route("/schemas", get(list_schemas))
        .route("/schemas/types", get(schema_types))
        .route("/schemas/ids/{id}", get(get_schema_by_id))
        .route("/schemas/ids/{id}/schema", get(get_raw_schema_by_id))
        .route("/schemas/ids/{id}/subjects", get(get_id_subjects))
        .route("/schemas/ids/{id}/versions", get(get_id_versions))
        .route(
            "/config",
            get(get_config).put(put_config).delete(delete_config),
        )
        .route(
            "/config/{subject}",
            get(get_config).put(put_config).delete(delete_config),
        )
        .route("/mode", get(get_mode).put(put_mode).delete(delete_mode))
        .route(
            "/mode/{subject}",
            get(get_mode).put(put_mode).delete(delete_mode),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compat_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compat_version),
        )
        .route("/contexts", get(contexts))
        .route("/v1/metadata/id", get(metadata_id))
        .route("/v1/metadata/version", get(metadata_version))
        .route("/associations", any(no_association))
        .route("/associations/{*rest}", any(no_association))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app_state.clone());
    if let Some(auth) = auth {
        app = app.layer(from_fn_with_state(auth, require_auth));
    }
    app.layer(from_fn_with_state(app_state, observe))
}

// ----- extractors and answers ------------------------------------------------------------------

/// The request body, after the content type was checked; too large → 413.
pub(crate) struct Body(pub(crate) Bytes);

fn too_large(limit: usize) -> ApiError {
    ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: 413,
        message: format!("Request body too large: the limit is {limit} bytes"),
    }
}

/// Reads and throws away the rest of a body, up to [`DRAIN_LIMIT`] bytes in all.
async fn drain(mut body: axum::body::Body, mut read: usize) {
    use http_body_util::BodyExt as _;
    while read < DRAIN_LIMIT {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

impl FromRequest<App> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &App) -> Result<Self, ApiError> {
        use http_body_util::BodyExt as _;
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let essence = ct
                .to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !essence.is_empty() && !ACCEPTED_CONTENT_TYPES.contains(&essence.as_str()) {
                return Err(ApiError::new(
                    415,
                    format!(
                        "HTTP 415 Unsupported Media Type: '{essence}'; send application/vnd.schemaregistry.v1+json"
                    ),
                ));
            }
        }
        let limit = state.registry.limits().max_body_bytes;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut body = req.into_body();
        if declared.is_some_and(|n| n > limit as u64) {
            drain(body, 0).await;
            return Err(too_large(limit));
        }
        let mut buf = Vec::with_capacity(declared.map_or(0, |n| n as usize));
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| ApiError::new(400, format!("Cannot read the request body: {e}")))?;
            if let Some(data) = frame.data_ref() {
                if buf.len() + data.len() > limit {
                    let read = buf.len() + data.len();
                    drain(body, read).await;
                    return Err(too_large(limit));
                }
                buf.extend_from_slice(data);
            }
        }
        Ok(Body(Bytes::from(buf)))
    }
}

impl Body {
    /// Parses the body as JSON; an empty body reads as `{}`.
    pub(crate) fn json<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.0.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        serde_json::from_slice(&self.0).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ApiError::new(422, format!("Invalid request body: {e}"))
            }
            _ => ApiError::new(400, format!("Invalid JSON in the request body: {e}")),
        })
    }
}

/// Query parameters; booleans are `true` in any case (clients send `normalize=True`).
pub(crate) struct Params(HashMap<String, String>, String);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("").to_string();
        if raw.is_empty() {
            return Ok(Params(HashMap::new(), raw));
        }
        Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|q| Params(q.0, raw))
            .map_err(|e| ApiError::new(400, format!("Invalid query string: {e}")))
    }
}

impl Params {
    /// The query string as sent.
    pub(crate) fn raw(&self) -> &str {
        &self.1
    }

    pub(crate) fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.trim().parse().ok())
    }

    /// Applies `offset` and `limit` (limit < 0 or absent: no limit).
    pub(crate) fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let offset = self.int("offset").unwrap_or(0).max(0) as usize;
        let it = items.into_iter().skip(offset);
        match self.int("limit") {
            Some(l) if l >= 0 => it.take(l as usize).collect(),
            _ => it.collect(),
        }
    }
}

/// Path parameters with Confluent-shaped rejections.
pub(crate) struct P<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|r| ApiError::new(400, r.body_text()))
    }
}

/// An optional `{subject}` path parameter (routes shared by the global and subject scopes).
pub(crate) struct Scope(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let map = Option::<Path<HashMap<String, String>>>::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::new(400, r.body_text()))?;
        Ok(Scope(map.and_then(|Path(m)| m.get("subject").cloned())))
    }
}

pub(crate) fn with_type(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(CONTENT_TYPE_V1),
        )],
        body,
    )
        .into_response()
}

pub(crate) fn with_type_bytes(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(CONTENT_TYPE_V1),
        )],
        body,
    )
        .into_response()
}

pub(crate) fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(b) => with_type(b),
        Err(e) => ApiError::new(50001, format!("could not write the answer: {e}")).into_response(),
    }
}

pub(crate) type Answer = Result<Response, ApiError>;

// ----- middleware ------------------------------------------------------------------------------

/// Probes answer without credentials; everything else needs them.
const OPEN_PATHS: &[&str] = &["/health", "/ready"];

async fn require_auth(State(auth): State<Arc<BasicAuth>>, req: Request, next: Next) -> Response {
    if OPEN_PATHS.contains(&req.uri().path()) || auth.allows(req.headers()) {
        return next.run(req).await;
    }
    let mut resp = ApiError::new(
        401,
        "Unauthorized: valid basic-auth credentials are required",
    )
    .into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"evc-registry\""),
    );
    resp
}

/// Metrics of every request, and one DEBUG line per request (an ERROR line for 5xx answers).
async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let elapsed = start.elapsed().as_secs_f64();
    let m = &app.metrics;
    m.requests
        .get_or_create(&metrics::RequestLabels {
            method: method.to_string(),
            route: route.clone(),
            status: status.to_string(),
        })
        .inc();
    m.durations
        .get_or_create(&metrics::RouteLabels {
            method: method.to_string(),
            route,
        })
        .observe(elapsed);
    if status >= 500 {
        tracing::error!(%method, path = uri.path(), status, elapsed_ms = elapsed * 1000.0, "request failed");
    } else if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(%method, path = uri.path(), status, elapsed_ms = elapsed * 1000.0, "request");
    }
    resp
}

/// The user and password of a basic-auth `Authorization` header.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}
