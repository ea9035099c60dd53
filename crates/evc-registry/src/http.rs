//! The Confluent REST API on axum: routes, request parsing, answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::canon::Reference;
use crate::compat::{CompatLevel, Mode};
use crate::error::ApiError;
use crate::registry::{Registry, SchemaInfo, SchemaRequest, VersionInfo, VersionSpec, AVRO};
use crate::{BasicAuth, CONTENT_TYPE_V1};

/// Request content types accepted (besides none at all).
const ACCEPTED_CONTENT_TYPES: &[&str] = &[
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
];

/// The registry's HTTP API as an axum router (state already applied).
///
/// Serve it with `axum::serve`, or use [`crate::serve`] / [`crate::spawn`].
pub fn router(registry: Registry) -> Router {
    let max_body = registry.limits().max_body_bytes;
    let auth = registry.auth();
    let mut app = Router::new()
        .route("/", get(root).post(root))
        .route("/health", get(health))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
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
            get(get_global_config)
                .put(put_global_config)
                .delete(delete_global_config),
        )
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/mode",
            get(get_global_mode)
                .put(put_global_mode)
                .delete(delete_global_mode),
        )
        .route(
            "/mode/{subject}",
            get(get_subject_mode)
                .put(put_subject_mode)
                .delete(delete_subject_mode),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compat_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compat_version),
        )
        .route("/associations", any(no_association))
        .route("/associations/{*rest}", any(no_association))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(registry)
        .layer(DefaultBodyLimit::max(max_body));
    if let Some(auth) = auth {
        app = app.layer(from_fn_with_state(auth, require_auth));
    }
    app.layer(from_fn(log_request))
}

// ----- extractors and answers ------------------------------------------------------------------

/// The request body, after the content type was checked; too large → 413.
struct Body(Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
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
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|r| {
                let status = r.status();
                let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "Request body too large".to_string()
                } else {
                    r.body_text()
                };
                ApiError {
                    status,
                    code: status.as_u16() as u32,
                    message,
                }
            })
    }
}

impl Body {
    /// Parses the body as JSON; an empty body reads as `{}`.
    fn json<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
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
struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::new(400, format!("Invalid query string: {e}")))
    }
}

impl Params {
    fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.trim().parse().ok())
    }

    /// Applies `offset` and `limit` (limit < 0 or absent: no limit).
    fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let offset = self.int("offset").unwrap_or(0).max(0) as usize;
        let it = items.into_iter().skip(offset);
        match self.int("limit") {
            Some(l) if l >= 0 => it.take(l as usize).collect(),
            _ => it.collect(),
        }
    }
}

/// Path parameters with Confluent-shaped rejections.
struct P<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|r| ApiError::new(400, r.body_text()))
    }
}

fn with_type(body: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(CONTENT_TYPE_V1),
        )],
        body,
    )
        .into_response()
}

fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(b) => with_type(b),
        Err(e) => ApiError::new(50001, format!("could not write the answer: {e}")).into_response(),
    }
}

type Answer = Result<Response, ApiError>;

fn non_avro(t: &str) -> Option<&str> {
    (t != AVRO).then_some(t)
}

#[derive(Serialize)]
struct VersionBody<'a> {
    subject: &'a str,
    version: i64,
    id: i64,
    #[serde(rename = "schemaType", skip_serializing_if = "Option::is_none")]
    schema_type: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    references: &'a [Reference],
    schema: &'a str,
}

impl<'a> From<&'a VersionInfo> for VersionBody<'a> {
    fn from(v: &'a VersionInfo) -> Self {
        VersionBody {
            subject: &v.subject,
            version: v.version,
            id: v.schema.id,
            schema_type: non_avro(&v.schema.schema_type),
            references: &v.schema.refs,
            schema: &v.schema.text,
        }
    }
}

#[derive(Serialize)]
struct RegisterBody<'a> {
    id: i64,
    version: i64,
    #[serde(rename = "schemaType", skip_serializing_if = "Option::is_none")]
    schema_type: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    references: &'a [Reference],
    schema: &'a str,
}

#[derive(Serialize)]
struct SchemaBody<'a> {
    schema: &'a str,
    #[serde(rename = "schemaType", skip_serializing_if = "Option::is_none")]
    schema_type: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    references: &'a [Reference],
    #[serde(rename = "maxId", skip_serializing_if = "Option::is_none")]
    max_id: Option<i64>,
}

impl<'a> SchemaBody<'a> {
    fn of(s: &'a SchemaInfo, max_id: Option<i64>) -> Self {
        SchemaBody {
            schema: &s.text,
            schema_type: non_avro(&s.schema_type),
            references: &s.refs,
            max_id,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ConfigRequest {
    compatibility: Option<String>,
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ModeRequest {
    mode: Option<String>,
}

fn version_param(v: &str) -> Result<VersionSpec, ApiError> {
    VersionSpec::parse(v)
}

fn id_param(id: &str) -> Result<i64, ApiError> {
    id.trim()
        .parse::<i64>()
        .map_err(|_| ApiError::new(40403, format!("Schema {id} not found")))
}

// ----- handlers --------------------------------------------------------------------------------

async fn root() -> Response {
    json(&json!({}))
}

async fn health(State(r): State<Registry>) -> Response {
    match r.ping().await {
        Ok(()) => json(&json!({"status": "UP"})),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(CONTENT_TYPE_V1),
            )],
            serde_json::to_vec(
                &json!({"status": "DOWN", "error_code": e.code, "message": e.message}),
            )
            .unwrap_or_default(),
        )
            .into_response(),
    }
}

async fn list_subjects(State(r): State<Registry>, q: Params) -> Answer {
    let subjects = r
        .subjects(
            q.get("subjectPrefix"),
            q.flag("deleted"),
            q.flag("deletedOnly"),
        )
        .await?;
    Ok(json(&q.page(subjects)))
}

async fn lookup(State(r): State<Registry>, P(subject): P<String>, q: Params, body: Body) -> Answer {
    let req: SchemaRequest = body.json()?;
    let v = r
        .lookup(&subject, &req, q.flag("normalize"), q.flag("deleted"))
        .await?;
    Ok(json(&VersionBody::from(&v)))
}

async fn delete_subject(State(r): State<Registry>, P(subject): P<String>, q: Params) -> Answer {
    let versions = r.delete_subject(&subject, q.flag("permanent")).await?;
    Ok(json(&versions))
}

async fn list_versions(State(r): State<Registry>, P(subject): P<String>, q: Params) -> Answer {
    let versions = r
        .subject_versions(&subject, q.flag("deleted"), q.flag("deletedOnly"))
        .await?;
    let versions = if q.flag("deletedAsNegative") {
        // mark soft-deleted versions negative
        let live = r
            .subject_versions(&subject, false, false)
            .await
            .unwrap_or_default();
        versions
            .into_iter()
            .map(|v| if live.contains(&v) { v } else { -v })
            .collect()
    } else {
        versions
    };
    Ok(json(&q.page(versions)))
}

async fn register(
    State(r): State<Registry>,
    P(subject): P<String>,
    q: Params,
    body: Body,
) -> Answer {
    let req: SchemaRequest = body.json()?;
    let v = r.register(&subject, &req, q.flag("normalize")).await?;
    Ok(json(&RegisterBody {
        id: v.schema.id,
        version: v.version,
        schema_type: non_avro(&v.schema.schema_type),
        references: &v.schema.refs,
        schema: &v.schema.text,
    }))
}

async fn get_version(
    State(r): State<Registry>,
    P((subject, version)): P<(String, String)>,
    q: Params,
) -> Answer {
    let spec = version_param(&version)?;
    let v = r.version(&subject, spec, q.flag("deleted")).await?;
    Ok(json(&VersionBody::from(&v)))
}

async fn get_version_schema(
    State(r): State<Registry>,
    P((subject, version)): P<(String, String)>,
    q: Params,
) -> Answer {
    let spec = version_param(&version)?;
    let v = r.version(&subject, spec, q.flag("deleted")).await?;
    Ok(with_type(v.schema.text.into_bytes()))
}

async fn get_referenced_by(
    State(r): State<Registry>,
    P((subject, version)): P<(String, String)>,
    q: Params,
) -> Answer {
    let spec = version_param(&version)?;
    let ids = r.referenced_by(&subject, spec, q.flag("deleted")).await?;
    Ok(json(&q.page(ids)))
}

async fn delete_version(
    State(r): State<Registry>,
    P((subject, version)): P<(String, String)>,
    q: Params,
) -> Answer {
    let spec = version_param(&version)?;
    let v = r
        .delete_version(&subject, spec, q.flag("permanent"))
        .await?;
    Ok(json(&v))
}

async fn list_schemas(State(r): State<Registry>, q: Params) -> Answer {
    let all = r
        .all_versions(
            q.get("subjectPrefix"),
            q.flag("deleted"),
            q.flag("latestOnly"),
        )
        .await?;
    let bodies: Vec<VersionBody<'_>> = all.iter().map(VersionBody::from).collect();
    Ok(json(&q.page(bodies)))
}

async fn schema_types() -> Response {
    json(&[AVRO])
}

async fn get_schema_by_id(State(r): State<Registry>, P(id): P<String>, q: Params) -> Answer {
    let id = id_param(&id)?;
    let s = r.schema_by_id(id).await?;
    let max_id = if q.flag("fetchMaxId") {
        Some(r.max_id().await?)
    } else {
        None
    };
    Ok(json(&SchemaBody::of(&s, max_id)))
}

async fn get_raw_schema_by_id(State(r): State<Registry>, P(id): P<String>) -> Answer {
    let id = id_param(&id)?;
    let s = r.schema_by_id(id).await?;
    Ok(with_type(s.text.into_bytes()))
}

async fn get_id_subjects(State(r): State<Registry>, P(id): P<String>, q: Params) -> Answer {
    let id = id_param(&id)?;
    let mut subjects: Vec<String> = r
        .id_versions(id, q.flag("deleted"))
        .await?
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| q.get("subject").is_none_or(|want| want == s))
        .collect();
    subjects.dedup();
    Ok(json(&q.page(subjects)))
}

async fn get_id_versions(State(r): State<Registry>, P(id): P<String>, q: Params) -> Answer {
    let id = id_param(&id)?;
    let versions: Vec<_> = r
        .id_versions(id, q.flag("deleted"))
        .await?
        .into_iter()
        .filter(|(s, _)| q.get("subject").is_none_or(|want| want == s))
        .map(|(subject, version)| json!({"subject": subject, "version": version}))
        .collect();
    Ok(json(&q.page(versions)))
}

fn level_from(body: &Body) -> Result<CompatLevel, ApiError> {
    let req: ConfigRequest = body.json()?;
    let Some(raw) = req.compatibility.or(req.compatibility_level) else {
        return Err(ApiError::new(
            42203,
            "Invalid compatibility level: the body must give \"compatibility\"",
        ));
    };
    CompatLevel::parse(&raw).ok_or_else(|| ApiError::invalid_compat(&raw))
}

fn mode_from(body: &Body) -> Result<Mode, ApiError> {
    let req: ModeRequest = body.json()?;
    let Some(raw) = req.mode else {
        return Err(ApiError::new(
            42204,
            "Invalid mode: the body must give \"mode\"",
        ));
    };
    Mode::parse(&raw).ok_or_else(|| ApiError::invalid_mode(&raw))
}

async fn get_global_config(State(r): State<Registry>) -> Answer {
    let level = r.get_config(None, true).await?;
    Ok(json(&json!({"compatibilityLevel": level.as_str()})))
}

async fn put_global_config(State(r): State<Registry>, body: Body) -> Answer {
    let level = level_from(&body)?;
    r.set_config(None, level).await?;
    Ok(json(&json!({"compatibility": level.as_str()})))
}

async fn delete_global_config(State(r): State<Registry>) -> Answer {
    let old = r.delete_config(None).await?;
    Ok(json(&json!({"compatibilityLevel": old.as_str()})))
}

async fn get_subject_config(State(r): State<Registry>, P(subject): P<String>, q: Params) -> Answer {
    let level = r
        .get_config(Some(&subject), q.flag("defaultToGlobal"))
        .await?;
    Ok(json(&json!({"compatibilityLevel": level.as_str()})))
}

async fn put_subject_config(
    State(r): State<Registry>,
    P(subject): P<String>,
    body: Body,
) -> Answer {
    let level = level_from(&body)?;
    r.set_config(Some(&subject), level).await?;
    Ok(json(&json!({"compatibility": level.as_str()})))
}

async fn delete_subject_config(State(r): State<Registry>, P(subject): P<String>) -> Answer {
    let old = r.delete_config(Some(&subject)).await?;
    Ok(json(&json!({"compatibilityLevel": old.as_str()})))
}

async fn get_global_mode(State(r): State<Registry>) -> Answer {
    let mode = r.get_mode(None, true).await?;
    Ok(json(&json!({"mode": mode.as_str()})))
}

async fn put_global_mode(State(r): State<Registry>, q: Params, body: Body) -> Answer {
    let mode = mode_from(&body)?;
    r.set_mode(None, mode, q.flag("force")).await?;
    Ok(json(&json!({"mode": mode.as_str()})))
}

async fn delete_global_mode(State(r): State<Registry>) -> Answer {
    let old = r.delete_mode(None).await?;
    Ok(json(&json!({"mode": old.as_str()})))
}

async fn get_subject_mode(State(r): State<Registry>, P(subject): P<String>, q: Params) -> Answer {
    let mode = r
        .get_mode(Some(&subject), q.flag("defaultToGlobal"))
        .await?;
    Ok(json(&json!({"mode": mode.as_str()})))
}

async fn put_subject_mode(
    State(r): State<Registry>,
    P(subject): P<String>,
    q: Params,
    body: Body,
) -> Answer {
    let mode = mode_from(&body)?;
    r.set_mode(Some(&subject), mode, q.flag("force")).await?;
    Ok(json(&json!({"mode": mode.as_str()})))
}

async fn delete_subject_mode(State(r): State<Registry>, P(subject): P<String>) -> Answer {
    let old = r.delete_mode(Some(&subject)).await?;
    Ok(json(&json!({"mode": old.as_str()})))
}

fn compat_answer(compatible: bool, messages: Vec<String>, verbose: bool) -> Response {
    if verbose {
        json(&json!({"is_compatible": compatible, "messages": messages}))
    } else {
        json(&json!({"is_compatible": compatible}))
    }
}

async fn compat_all(
    State(r): State<Registry>,
    P(subject): P<String>,
    q: Params,
    body: Body,
) -> Answer {
    let req: SchemaRequest = body.json()?;
    let (ok, messages) = r
        .test_compatibility(&subject, None, &req, q.flag("normalize"))
        .await?;
    Ok(compat_answer(ok, messages, q.flag("verbose")))
}

async fn compat_version(
    State(r): State<Registry>,
    P((subject, version)): P<(String, String)>,
    q: Params,
    body: Body,
) -> Answer {
    let spec = version_param(&version)?;
    let req: SchemaRequest = body.json()?;
    let (ok, messages) = r
        .test_compatibility(&subject, Some(spec), &req, q.flag("normalize"))
        .await?;
    Ok(compat_answer(ok, messages, q.flag("verbose")))
}

/// Schema associations (Confluent 8.x) are not supported: 404 means "no association", which
/// makes clients defaulting to AssociatedNameStrategy fall back to TopicNameStrategy.
async fn no_association() -> ApiError {
    ApiError::new(40410, "Association not found")
}

async fn not_found() -> ApiError {
    ApiError::new(404, "HTTP 404 Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(405, "HTTP 405 Method Not Allowed")
}

// ----- middleware ------------------------------------------------------------------------------

async fn require_auth(State(auth): State<Arc<BasicAuth>>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/health" || auth.allows(req.headers()) {
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

async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(%method, path, status, elapsed_ms, "request failed");
    } else {
        tracing::info!(%method, path, status, elapsed_ms, "request");
    }
    resp
}

/// Whether a request carries credentials `auth` accepts.
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
