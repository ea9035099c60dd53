//! The client: configuration, the retry loop, the operations and their caches.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use crate::error::{from_answer, is_transient, snippet, Context};
use crate::transport::{Request, Transport};
use crate::types::{
    number, schema_type, CompatTarget, Compatibility, Registered, RegistrySchema, SubjectVersion,
    Version,
};
use crate::RegistryError;
use evc_registry_api::{
    CompatibilityCheck, Config, ConfigUpdate, RegisterSchemaRequest, RegisterSchemaResponse,
    SchemaById, SubjectVersion as VersionBody,
};

/// The content type the client sends and prefers.
pub const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";
const ACCEPT_ALL: &str = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; q=0.9, application/json; q=0.5";

/// How transient failures are retried: connection errors (after every base URL was tried),
/// timeouts, HTTP 5xx (except 501/505), 429 and 408. Other 4xx answers are never retried.
///
/// The wait before retry `n` (1-based) is `initial_backoff * 2^(n-1)`, capped at `max_backoff`,
/// with up to half of it taken off at random so that many clients do not retry in step; a
/// `Retry-After` header in seconds raises it (still capped at `max_backoff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: no retry).
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 4 retries, 100 ms doubling up to 2 s: at most about 1.5 s of waiting.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (1-based).
    fn delay(&self, retry: u32, hint: Option<Duration>) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let full = self
            .initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff);
        let jitter = RandomState::new().hash_one(retry) % 1000;
        let base = full.saturating_sub(full.mul_f64(jitter as f64 / 2000.0));
        match hint {
            Some(h) => base.max(h.min(self.max_backoff)),
            None => base,
        }
    }
}

/// Credentials sent with every request.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { username: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}:***)"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// Builds a [`RegistryClient`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    urls: String,
    auth: Auth,
    retry: RetryPolicy,
    timeout: Duration,
    connect_timeout: Duration,
}

impl ClientBuilder {
    /// Basic auth (`Authorization: Basic base64(user:password)`).
    pub fn basic_auth(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Auth::Basic {
            username: username.into(),
            password: password.into(),
        };
        self
    }

    /// Bearer token auth (`Authorization: Bearer TOKEN`).
    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Bearer(token.into());
        self
    }

    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Time limit of one HTTP request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time limit of connecting to one base URL (default 5 s) before failing over.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn build(self) -> Result<RegistryClient, RegistryError> {
        let transport = transport(&self)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_ALL));
        let auth_value = match &self.auth {
            Auth::None => None,
            Auth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Auth::Bearer(token) => Some(format!("Bearer {token}")),
        };
        if let Some(v) = auth_value {
            let mut v = HeaderValue::from_str(&v)
                .map_err(|_| RegistryError::Config("credentials hold invalid characters".into()))?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                transport,
                headers,
                retry: self.retry,
                by_id: RwLock::default(),
                by_subject: RwLock::default(),
                by_schema: RwLock::default(),
            }),
        })
    }
}

fn transport(b: &ClientBuilder) -> Result<Transport, RegistryError> {
    let parts: Vec<&str> = b
        .urls
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        return Err(RegistryError::Config("no registry URL given".into()));
    }
    if let Some(mock) = parts.iter().find_map(|p| p.strip_prefix("mock://")) {
        if parts.len() > 1 {
            return Err(RegistryError::Config(
                "mock:// cannot be combined with other URLs".into(),
            ));
        }
        #[cfg(feature = "mock")]
        {
            let name = mock.trim_end_matches('/');
            return Ok(Transport::Mock {
                name: if name.is_empty() { "default" } else { name }.to_string(),
            });
        }
        #[cfg(not(feature = "mock"))]
        {
            let _ = mock;
            return Err(RegistryError::Config(
                "mock:// needs the `mock` feature of evc-registry-client".into(),
            ));
        }
    }
    let mut urls = Vec::new();
    for p in parts {
        let url = Url::parse(p)
            .map_err(|e| RegistryError::Config(format!("invalid registry URL `{p}`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(RegistryError::Config(format!(
                "invalid registry URL `{p}`: use http://, https:// or mock://"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(RegistryError::Config(format!(
                "invalid registry URL `{p}`: a base URL has no query or fragment"
            )));
        }
        urls.push(url);
    }
    let client = reqwest::Client::builder()
        .timeout(b.timeout)
        .connect_timeout(b.connect_timeout)
        .build()
        .map_err(|e| RegistryError::Config(format!("could not build the HTTP client: {e}")))?;
    Ok(Transport::Http {
        client,
        urls,
        preferred: AtomicUsize::new(0),
    })
}

/// A client of a Confluent-compatible schema registry. Cheap to clone: clones share the
/// connection pool and the caches.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    headers: HeaderMap,
    retry: RetryPolicy,
    /// id → schema.
    by_id: RwLock<HashMap<u32, Arc<RegistrySchema>>>,
    /// subject → schema text → id/version.
    by_subject: RwLock<HashMap<String, HashMap<String, Registered>>>,
    /// schema text → id (ids are global: one schema text has one id in a registry).
    by_schema: RwLock<HashMap<String, u32>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("urls", &self.urls())
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Parses a JSON object answer (serde would also take a JSON array for a struct).
fn parse<T: DeserializeOwned>(body: &[u8], context: &str) -> Result<T, RegistryError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(RegistryError::BadResponse {
            context: context.to_string(),
            message: format!("expected a JSON object, got: {}", snippet(body)),
        });
    }
    serde_json::from_slice(body).map_err(|e| RegistryError::BadResponse {
        context: context.to_string(),
        message: format!("{e}; the answer was: {}", snippet(body)),
    })
}

fn schema_body(schema: &str) -> Vec<u8> {
    serde_json::to_vec(&RegisterSchemaRequest::schema(schema))
        .expect("a request of strings always serializes")
}

fn bad(context: &str) -> impl Fn(String) -> RegistryError + '_ {
    move |message| RegistryError::BadResponse {
        context: context.to_string(),
        message,
    }
}

impl RegistryClient {
    /// A client of `urls`: one base URL, several separated by commas (failover in that order),
    /// or `mock://NAME` for the in-process registry. Default retries, no auth.
    pub fn new(urls: &str) -> Result<RegistryClient, RegistryError> {
        RegistryClient::builder(urls).build()
    }

    pub fn builder(urls: &str) -> ClientBuilder {
        ClientBuilder {
            urls: urls.to_string(),
            auth: Auth::None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The base URLs, in failover order.
    pub fn urls(&self) -> Vec<String> {
        self.inner.transport.describe_urls()
    }

    /// Registers `schema` (Avro) under `subject` (`POST /subjects/{s}/versions`) and answers its
    /// id: the existing one if the subject already has the schema. Cached per subject and
    /// schema text: registering again makes no request.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<Registered, RegistryError> {
        if let Some(r) = self.cached(subject, schema) {
            return Ok(r);
        }
        let body = self
            .execute(
                Request {
                    method: Method::POST,
                    segments: vec!["subjects".into(), subject.into(), "versions".into()],
                    query: None,
                    body: Some(schema_body(schema)),
                },
                Context {
                    subject: Some(subject),
                    ..Context::default()
                },
            )
            .await?;
        let a: RegisterSchemaResponse = parse(&body, "register")?;
        let r = Registered {
            id: number("id", a.id).map_err(bad("register"))?,
            version: a
                .version
                .map(|v| number("version", v))
                .transpose()
                .map_err(bad("register"))?,
        };
        self.remember(subject, schema, r);
        Ok(r)
    }

    /// Looks up the id and version `schema` has under `subject` (`POST /subjects/{s}`), without
    /// registering it. Cached per subject and schema text. A schema the subject does not have
    /// is [`RegistryError::SchemaNotFound`] (or `SubjectNotFound` for an unknown subject), and
    /// is not cached: once it is registered, the next lookup finds it.
    pub async fn lookup(&self, subject: &str, schema: &str) -> Result<Registered, RegistryError> {
        if let Some(r) = self.cached(subject, schema).filter(|r| r.version.is_some()) {
            return Ok(r);
        }
        let body = self
            .execute(
                Request {
                    method: Method::POST,
                    segments: vec!["subjects".into(), subject.into()],
                    query: None,
                    body: Some(schema_body(schema)),
                },
                Context {
                    subject: Some(subject),
                    ..Context::default()
                },
            )
            .await?;
        let v = SubjectVersion::try_from(parse::<VersionBody>(&body, "lookup")?)
            .map_err(bad("lookup"))?;
        let r = Registered {
            id: v.id,
            version: Some(v.version),
        };
        self.remember(subject, schema, r);
        self.remember_schema(&v);
        Ok(r)
    }

    /// The schema with this id (`GET /schemas/ids/{id}`). Cached: each id is fetched once.
    pub async fn schema_by_id(&self, id: u32) -> Result<Arc<RegistrySchema>, RegistryError> {
        if let Some(s) = self.cached_schema(id) {
            return Ok(s);
        }
        let body = self
            .execute(
                Request {
                    method: Method::GET,
                    segments: vec!["schemas".into(), "ids".into(), id.to_string()],
                    query: None,
                    body: None,
                },
                Context {
                    id: Some(id),
                    ..Context::default()
                },
            )
            .await?;
        let a: SchemaById = parse(&body, "schema by id")?;
        let schema = Arc::new(RegistrySchema {
            id,
            schema: a.schema,
            schema_type: schema_type(a.schema_type),
            references: a.references,
        });
        write(&self.inner.by_schema).insert(schema.schema.clone(), id);
        Ok(write(&self.inner.by_id).entry(id).or_insert(schema).clone())
    }

    /// The latest version of `subject` (`GET /subjects/{s}/versions/latest`). Never answered
    /// from the cache (the latest version changes), but it fills the id → schema cache.
    pub async fn latest_version(&self, subject: &str) -> Result<SubjectVersion, RegistryError> {
        self.subject_version(subject, Version::Latest).await
    }

    /// One version of `subject` (`GET /subjects/{s}/versions/{v}`).
    pub async fn subject_version(
        &self,
        subject: &str,
        version: Version,
    ) -> Result<SubjectVersion, RegistryError> {
        let v = version.to_string();
        let body = self
            .execute(
                Request {
                    method: Method::GET,
                    segments: vec![
                        "subjects".into(),
                        subject.into(),
                        "versions".into(),
                        v.clone(),
                    ],
                    query: None,
                    body: None,
                },
                Context {
                    subject: Some(subject),
                    version: Some(&v),
                    id: None,
                },
            )
            .await?;
        let sv = SubjectVersion::try_from(parse::<VersionBody>(&body, "subject version")?)
            .map_err(bad("subject version"))?;
        self.remember_schema(&sv);
        Ok(sv)
    }

    /// Would `schema` be accepted under `subject`? (`POST /compatibility/subjects/{s}/versions`
    /// or `.../versions/{v}`, with `verbose=true` so an incompatible answer says why.)
    /// Never cached: the subject's versions and level can change.
    pub async fn test_compatibility(
        &self,
        subject: &str,
        schema: &str,
        target: CompatTarget,
    ) -> Result<Compatibility, RegistryError> {
        let mut segments = vec![
            "compatibility".to_string(),
            "subjects".into(),
            subject.into(),
            "versions".into(),
        ];
        let version = match target {
            CompatTarget::Subject => None,
            CompatTarget::Version(v) => Some(v.to_string()),
        };
        if let Some(v) = &version {
            segments.push(v.clone());
        }
        let body = self
            .execute(
                Request {
                    method: Method::POST,
                    segments,
                    query: Some("verbose=true"),
                    body: Some(schema_body(schema)),
                },
                Context {
                    subject: Some(subject),
                    version: version.as_deref(),
                    id: None,
                },
            )
            .await?;
        let a: CompatibilityCheck = parse(&body, "compatibility test")?;
        Ok(Compatibility {
            is_compatible: a.is_compatible,
            messages: a.messages.unwrap_or_default(),
        })
    }

    /// The live versions of `subject`, oldest first (`GET /subjects/{s}/versions`); an empty
    /// list when the registry does not know the subject.
    pub async fn versions(&self, subject: &str) -> Result<Vec<u32>, RegistryError> {
        let body = self
            .execute(
                Request {
                    method: Method::GET,
                    segments: vec!["subjects".into(), subject.into(), "versions".into()],
                    query: None,
                    body: None,
                },
                Context {
                    subject: Some(subject),
                    ..Context::default()
                },
            )
            .await;
        match body {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| RegistryError::BadResponse {
                context: "subject versions".into(),
                message: format!("{e}; the answer was: {}", snippet(&b)),
            }),
            Err(e) if e.code() == Some(40401) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The subject's own compatibility level (`GET /config/{s}`), `None` when it has none and
    /// follows the global level.
    pub async fn compatibility_level(
        &self,
        subject: &str,
    ) -> Result<Option<String>, RegistryError> {
        let body = self
            .execute(
                Request {
                    method: Method::GET,
                    segments: vec!["config".into(), subject.into()],
                    query: None,
                    body: None,
                },
                Context {
                    subject: Some(subject),
                    ..Context::default()
                },
            )
            .await;
        match body {
            Ok(b) => parse::<Config>(&b, "compatibility level").and_then(|c| {
                c.compatibility_level.map(Some).ok_or_else(|| {
                    bad("compatibility level")("the answer has no compatibilityLevel".to_string())
                })
            }),
            Err(e) if matches!(e.code(), Some(40408 | 40401)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the subject's compatibility level (`PUT /config/{s}`), e.g. `FULL_TRANSITIVE`.
    pub async fn set_compatibility_level(
        &self,
        subject: &str,
        level: &str,
    ) -> Result<(), RegistryError> {
        self.execute(
            Request {
                method: Method::PUT,
                segments: vec!["config".into(), subject.into()],
                query: None,
                body: Some(
                    serde_json::to_vec(&ConfigUpdate {
                        compatibility: Some(level.to_string()),
                        ..ConfigUpdate::default()
                    })
                    .expect("a request of strings always serializes"),
                ),
            },
            Context {
                subject: Some(subject),
                ..Context::default()
            },
        )
        .await
        .map(drop)
    }

    /// The id of `schema` under `subject` if a register or lookup already answered it: no
    /// request, no waiting (the producer's hot path).
    pub fn cached_id(&self, subject: &str, schema: &str) -> Option<u32> {
        self.cached(subject, schema).map(|r| r.id)
    }

    /// The id any earlier answer gave this exact schema text, whatever the subject.
    pub fn cached_id_for_schema(&self, schema: &str) -> Option<u32> {
        read(&self.inner.by_schema).get(schema).copied()
    }

    /// The schema with this id, if it was fetched before.
    pub fn cached_schema(&self, id: u32) -> Option<Arc<RegistrySchema>> {
        read(&self.inner.by_id).get(&id).cloned()
    }

    /// Forgets everything cached.
    pub fn clear_caches(&self) {
        write(&self.inner.by_id).clear();
        write(&self.inner.by_subject).clear();
        write(&self.inner.by_schema).clear();
    }

    fn cached(&self, subject: &str, schema: &str) -> Option<Registered> {
        read(&self.inner.by_subject)
            .get(subject)
            .and_then(|m| m.get(schema))
            .copied()
    }

    fn remember(&self, subject: &str, schema: &str, r: Registered) {
        write(&self.inner.by_subject)
            .entry(subject.to_string())
            .or_default()
            .insert(schema.to_string(), r);
        write(&self.inner.by_schema).insert(schema.to_string(), r.id);
    }

    fn remember_schema(&self, v: &SubjectVersion) {
        write(&self.inner.by_id).entry(v.id).or_insert_with(|| {
            Arc::new(RegistrySchema {
                id: v.id,
                schema: v.schema.clone(),
                schema_type: v.schema_type.clone(),
                references: v.references.clone(),
            })
        });
        write(&self.inner.by_schema).insert(v.schema.clone(), v.id);
    }

    /// Sends `req`, retrying transient failures; answers the body of a 2xx answer.
    async fn execute(&self, req: Request, ctx: Context<'_>) -> Result<Vec<u8>, RegistryError> {
        let mut headers = self.inner.headers.clone();
        if req.body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_V1));
        }
        let policy = self.inner.retry;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (reason, hint) = match self.inner.transport.send(&req, &headers).await {
                Ok(a) if (200..300).contains(&a.status) => return Ok(a.body),
                Ok(a) if is_transient(a.status) => (
                    format!("HTTP {}: {}", a.status, snippet(&a.body)),
                    a.retry_after,
                ),
                Ok(a) => return Err(from_answer(a.status, &a.body, ctx)),
                Err(reason) => (reason, None),
            };
            if attempt > policy.max_retries {
                return Err(RegistryError::Unavailable {
                    attempts: attempt,
                    reason,
                });
            }
            let wait = policy.delay(attempt, hint);
            tracing::debug!(attempt, ?wait, %reason, "schema registry request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds() {
        let p = RetryPolicy {
            max_retries: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for (retry, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (30, 1000),
        ] {
            let d = p.delay(retry, None);
            let full = Duration::from_millis(full);
            assert!(d <= full && d >= full / 2, "retry {retry}: {d:?}");
        }
        // Retry-After raises the wait, but never past max_backoff
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(1)
        );
        assert!(p.delay(1, Some(Duration::from_millis(700))) >= Duration::from_millis(700));
    }

    #[test]
    fn url_lists_are_checked() {
        assert!(RegistryClient::new("").is_err());
        assert!(RegistryClient::new("ftp://x").is_err());
        assert!(RegistryClient::new("http://x?y=1").is_err());
        assert!(RegistryClient::new("mock://a,http://b").is_err());
        let c = RegistryClient::new(" http://a:8081 , https://b/prefix/ ").unwrap();
        assert_eq!(c.urls(), ["http://a:8081/", "https://b/prefix/"]);
        #[cfg(feature = "mock")]
        assert_eq!(
            RegistryClient::new("mock://x").unwrap().urls(),
            ["mock://x"]
        );
    }

    #[test]
    fn credentials_stay_out_of_debug_output() {
        let b = RegistryClient::builder("http://a").basic_auth("alice", "s3cret");
        assert!(!format!("{b:?}").contains("s3cret"));
        let b = RegistryClient::builder("http://a").bearer_token("tok3n");
        assert!(!format!("{b:?}").contains("tok3n"));
    }
}
