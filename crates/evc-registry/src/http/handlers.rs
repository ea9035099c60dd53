//! One handler per route: parse the request, call the service, write Confluent's answer.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use evc_registry_api::{
    ClusterScope, CompatibilityCheck, ConfigUpdate, ModeBody, RegisterSchemaRequest,
    RegisterSchemaResponse, SchemaById, ServerClusterId, ServerVersion, SubjectVersion,
    SubjectVersionPair, AVRO, CONTENT_TYPE_V1,
};
use serde_json::json;

use super::cache::Key;
use super::{json, with_type, with_type_bytes, Answer, ApiError, App, Body, Params, Scope, P};
use crate::compat::Mode;
use crate::service::{ServiceError, VersionInfo, VersionSpec};
use crate::store::SchemaRow;
use crate::Registry;

fn non_avro(t: &str) -> Option<String> {
    (t != AVRO).then(|| t.to_string())
}

fn version_body(v: VersionInfo) -> SubjectVersion {
    let s = &v.schema;
    SubjectVersion {
        subject: v.subject,
        version: v.version,
        id: s.id,
        schema_type: non_avro(&s.schema_type),
        references: s.refs.clone(),
        metadata: s.metadata.clone(),
        rule_set: s.rule_set.clone(),
        schema: s.text.clone(),
    }
}

fn schema_body(s: &SchemaRow, max_id: Option<i64>) -> SchemaById {
    SchemaById {
        schema: s.text.clone(),
        schema_type: non_avro(&s.schema_type),
        references: s.refs.clone(),
        metadata: s.metadata.clone(),
        rule_set: s.rule_set.clone(),
        max_id,
    }
}

/// Answers from the answer cache, or computes, writes and keeps the answer.
async fn cached<T, F>(app: &App, key: Key, compute: F) -> Answer
where
    T: serde::Serialize,
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    if let Some(hit) = app.answers.get(&app.registry, &key) {
        app.metrics.cache_hits.inc();
        return Ok(with_type_bytes(hit));
    }
    app.metrics.cache_misses.inc();
    let generation = app.registry.generation();
    let value = compute.await?;
    let bytes = Bytes::from(
        serde_json::to_vec(&value)
            .map_err(|e| ApiError::new(50001, format!("could not write the answer: {e}")))?,
    );
    app.answers
        .put(&app.registry, generation, key, bytes.clone());
    Ok(with_type_bytes(bytes))
}

fn version_param(v: &str) -> Result<VersionSpec, ApiError> {
    Ok(VersionSpec::parse(v)?)
}

fn id_param(id: &str) -> Result<i64, ApiError> {
    id.trim().parse::<i64>().map_err(|_| {
        ApiError::new(
            evc_registry_api::codes::SCHEMA_NOT_FOUND,
            format!("Schema {id} not found"),
        )
    })
}

pub(super) async fn root() -> Response {
    json(&json!({}))
}

/// `/health`: the process is alive (for liveness probes; the storage is `/ready`'s concern).
pub(super) async fn health() -> Response {
    json(&json!({"status": "UP"}))
}

/// `/ready`: the storage answers and has this build's migrations (for readiness probes and
/// load balancers); 503 otherwise.
pub(super) async fn ready(State(r): State<Registry>) -> Response {
    let (ready, detail) = match r.ready().await {
        Ok(true) => (true, None),
        Ok(false) => (
            false,
            Some("the storage lacks migrations of this build".to_string()),
        ),
        Err(e) => (false, Some(ApiError::from(e).message)),
    };
    let body = if ready {
        json!({"status": "READY"})
    } else {
        json!({"status": "NOT_READY", "message": detail})
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(CONTENT_TYPE_V1),
        )],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response()
}

/// `/metrics`: the Prometheus text format; subject and schema counts are read now.
pub(super) async fn metrics(State(app): State<App>) -> Response {
    if let Ok((subjects, schemas)) = app.registry.counts().await {
        app.metrics.subjects.set(subjects);
        app.metrics.schemas.set(schemas);
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(super::metrics::CONTENT_TYPE),
        )],
        app.metrics.encode(),
    )
        .into_response()
}

pub(super) async fn list_subjects(State(r): State<Registry>, q: Params) -> Answer {
    let subjects = r
        .subjects(
            q.get("subjectPrefix"),
            q.flag("deleted"),
            q.flag("deletedOnly"),
        )
        .await?;
    Ok(json(&q.page(subjects)))
}

pub(super) async fn lookup(
    State(app): State<App>,
    P(subject): P<String>,
    q: Params,
    body: Body,
) -> Answer {
    let key = Key {
        route: "lookup",
        path: subject.clone(),
        query: q.raw().to_string(),
        body: body.0.clone(),
    };
    cached(&app, key, async {
        let req: RegisterSchemaRequest = body.json()?;
        let v = app
            .registry
            .lookup(&subject, &req, q.flag("normalize"), q.flag("deleted"))
            .await?;
        Ok(version_body(v))
    })
    .await
}

/// `GET /subjects/{subject}/metadata?key=K&value=V[&key=K2&value=V2...]`.
pub(super) async fn latest_with_metadata(
    State(r): State<Registry>,
    P(subject): P<String>,
    uri: axum::http::Uri,
    q: Params,
) -> Answer {
    let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map_err(|e| ApiError::new(400, format!("Invalid query string: {e}")))?
        .0;
    let keys = pairs
        .iter()
        .filter(|(k, _)| k == "key")
        .map(|(_, v)| v.clone());
    let values = pairs
        .iter()
        .filter(|(k, _)| k == "value")
        .map(|(_, v)| v.clone());
    let wanted: Vec<(String, String)> = keys.zip(values).collect();
    let v = r
        .latest_with_metadata(&subject, &wanted, q.flag("deleted"))
        .await?;
    Ok(json(&version_body(v)))
}

pub(super) async fn delete_subject(
    State(r): State<Registry>,
    P(subject): P<String>,
    q: Params,
) -> Answer {
    let versions = r.delete_subject(&subject, q.flag("permanent")).await?;
    Ok(json(&versions))
}

pub(super) async fn list_versions(
    State(r): State<Registry>,
    P(subject): P<String>,
    q: Params,
) -> Answer {
    let versions = r
        .subject_versions(&subject, q.flag("deleted"), q.flag("deletedOnly"))
        .await?;
    let negative = q.flag("deletedAsNegative");
    let versions: Vec<i64> = versions
        .into_iter()
        .map(|(v, deleted)| if negative && deleted { -v } else { v })
        .collect();
    Ok(json(&q.page(versions)))
}

pub(super) async fn register(
    State(app): State<App>,
    P(subject): P<String>,
    q: Params,
    body: Body,
) -> Answer {
    let key = Key {
        route: "register",
        path: subject.clone(),
        query: q.raw().to_string(),
        body: body.0.clone(),
    };
    cached(&app, key, async {
        let req: RegisterSchemaRequest = body.json()?;
        let v = app
            .registry
            .register(&subject, &req, q.flag("normalize"))
            .await?;
        let s = &v.schema;
        Ok(RegisterSchemaResponse {
            id: s.id,
            version: Some(v.version),
            schema_type: non_avro(&s.schema_type),
            references: s.refs.clone(),
            metadata: s.metadata.clone(),
            rule_set: s.rule_set.clone(),
            schema: Some(s.text.clone()),
        })
    })
    .await
}

pub(super) async fn get_version(
    State(r): State<Registry>,
    P((subject, version)): P<(String, String)>,
    q: Params,
) -> Answer {
    let spec = version_param(&version)?;
    let v = r.version(&subject, spec, q.flag("deleted")).await?;
    Ok(json(&version_body(v)))
}

pub(super) async fn get_version_schema(
    State(r): State<Registry>,
    P((subject, version)): P<(String, String)>,
    q: Params,
) -> Answer {
    let spec = version_param(&version)?;
    let v = r.version(&subject, spec, q.flag("deleted")).await?;
    Ok(with_type(v.schema.text.clone().into_bytes()))
}

pub(super) async fn get_referenced_by(
    State(r): State<Registry>,
    P((subject, version)): P<(String, String)>,
    q: Params,
) -> Answer {
    let spec = version_param(&version)?;
    let ids = r.referenced_by(&subject, spec, q.flag("deleted")).await?;
    Ok(json(&q.page(ids)))
}

pub(super) async fn delete_version(
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

pub(super) async fn list_schemas(State(r): State<Registry>, q: Params) -> Answer {
    let all = r
        .all_versions(
            q.get("subjectPrefix"),
            q.flag("deleted"),
            q.flag("latestOnly"),
        )
        .await?;
    let bodies: Vec<SubjectVersion> = all.into_iter().map(version_body).collect();
    Ok(json(&q.page(bodies)))
}

pub(super) async fn schema_types() -> Response {
    json(&[AVRO])
}

pub(super) async fn get_schema_by_id(
    State(app): State<App>,
    P(id): P<String>,
    q: Params,
) -> Answer {
    let key = Key {
        route: "schema-by-id",
        path: id.clone(),
        query: q.raw().to_string(),
        body: Bytes::new(),
    };
    cached(&app, key, async {
        let id = id_param(&id)?;
        let r = &app.registry;
        let s = r.schema_by_id(id).await?;
        let max_id = if q.flag("fetchMaxId") {
            Some(r.max_id().await?)
        } else {
            None
        };
        Ok(schema_body(&s, max_id))
    })
    .await
}

pub(super) async fn get_raw_schema_by_id(State(r): State<Registry>, P(id): P<String>) -> Answer {
    let id = id_param(&id)?;
    let s = r.schema_by_id(id).await?;
    Ok(with_type(s.text.clone().into_bytes()))
}

pub(super) async fn get_id_subjects(
    State(r): State<Registry>,
    P(id): P<String>,
    q: Params,
) -> Answer {
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

pub(super) async fn get_id_versions(
    State(r): State<Registry>,
    P(id): P<String>,
    q: Params,
) -> Answer {
    let id = id_param(&id)?;
    let versions: Vec<SubjectVersionPair> = r
        .id_versions(id, q.flag("deleted"))
        .await?
        .into_iter()
        .filter(|(s, _)| q.get("subject").is_none_or(|want| want == s))
        .map(|(subject, version)| SubjectVersionPair { subject, version })
        .collect();
    Ok(json(&q.page(versions)))
}

// ----- config and mode -------------------------------------------------------------------------

fn mode_from(body: &Body) -> Result<Mode, ApiError> {
    let req: ModeBody = body.json()?;
    let Some(raw) = req.mode else {
        return Err(ApiError::new(
            42204,
            "Invalid mode: the body must give \"mode\"",
        ));
    };
    Mode::parse(&raw).ok_or_else(|| ServiceError::InvalidMode { given: raw }.into())
}

fn mode_answer(mode: Mode) -> Response {
    json(&ModeBody {
        mode: Some(mode.as_str().to_string()),
    })
}

pub(super) async fn get_config(
    State(r): State<Registry>,
    Scope(subject): Scope,
    q: Params,
) -> Answer {
    let c = r
        .get_config(subject.as_deref(), q.flag("defaultToGlobal"))
        .await?;
    Ok(json(&c))
}

pub(super) async fn put_config(
    State(r): State<Registry>,
    Scope(subject): Scope,
    body: Body,
) -> Answer {
    let update: ConfigUpdate = body.json()?;
    let answer = r.put_config(subject.as_deref(), update).await?;
    Ok(json(&answer))
}

pub(super) async fn delete_config(State(r): State<Registry>, Scope(subject): Scope) -> Answer {
    let old = r.delete_config(subject.as_deref()).await?;
    Ok(json(&old))
}

pub(super) async fn get_mode(
    State(r): State<Registry>,
    Scope(subject): Scope,
    q: Params,
) -> Answer {
    let global = subject.is_none();
    let mode: Mode = r
        .get_setting(subject.as_deref(), global || q.flag("defaultToGlobal"))
        .await?;
    Ok(mode_answer(mode))
}

pub(super) async fn put_mode(
    State(r): State<Registry>,
    Scope(subject): Scope,
    q: Params,
    body: Body,
) -> Answer {
    let mode = mode_from(&body)?;
    r.set_setting(subject.as_deref(), mode, q.flag("force"))
        .await?;
    Ok(mode_answer(mode))
}

pub(super) async fn delete_mode(State(r): State<Registry>, Scope(subject): Scope) -> Answer {
    let old: Mode = r.delete_setting(subject.as_deref()).await?;
    Ok(mode_answer(old))
}

// ----- compatibility ---------------------------------------------------------------------------

fn compat_answer(compatible: bool, messages: Vec<String>, verbose: bool) -> Response {
    json(&CompatibilityCheck {
        is_compatible: compatible,
        messages: verbose.then_some(messages),
    })
}

pub(super) async fn compat_all(
    State(r): State<Registry>,
    P(subject): P<String>,
    q: Params,
    body: Body,
) -> Answer {
    let req: RegisterSchemaRequest = body.json()?;
    let (ok, messages) = r
        .test_compatibility(&subject, None, &req, q.flag("normalize"))
        .await?;
    Ok(compat_answer(ok, messages, q.flag("verbose")))
}

pub(super) async fn compat_version(
    State(r): State<Registry>,
    P((subject, version)): P<(String, String)>,
    q: Params,
    body: Body,
) -> Answer {
    let spec = version_param(&version)?;
    let req: RegisterSchemaRequest = body.json()?;
    let (ok, messages) = r
        .test_compatibility(&subject, Some(spec), &req, q.flag("normalize"))
        .await?;
    Ok(compat_answer(ok, messages, q.flag("verbose")))
}

/// `GET /contexts`: only the default context; qualified subjects (`:.ctx:subject`) are plain
/// subject names here.
pub(super) async fn contexts(q: Params) -> Response {
    json(&q.page(vec!["."]))
}

/// `GET /v1/metadata/id`: the registry's cluster id (stable for a database).
pub(super) async fn metadata_id(State(r): State<Registry>) -> Response {
    let id = r.cluster_id().to_string();
    json(&ServerClusterId {
        scope: ClusterScope {
            path: Vec::new(),
            clusters: [("schema-registry-cluster".to_string(), id.clone())]
                .into_iter()
                .collect(),
        },
        id,
    })
}

/// `GET /v1/metadata/version`: this server's version.
pub(super) async fn metadata_version() -> Response {
    json(&ServerVersion {
        version: env!("CARGO_PKG_VERSION").to_string(),
        commit_id: option_env!("EVC_COMMIT_ID")
            .unwrap_or("unknown")
            .to_string(),
    })
}

/// Schema associations (Confluent 8.x) are not supported: 404 means "no association", which
/// makes clients defaulting to AssociatedNameStrategy fall back to TopicNameStrategy.
pub(super) async fn no_association() -> ApiError {
    ApiError::new(40410, "Association not found")
}

pub(super) async fn not_found() -> ApiError {
    ApiError::new(404, "HTTP 404 Not Found")
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(405, "HTTP 405 Method Not Allowed")
}
