//! One request to the registry: over HTTP (with failover across base URLs) or to an in-process
//! `mock://` registry. Retries and error mapping live in the client, above this.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, Url};

/// A request, independent of where it goes.
pub(crate) struct Request {
    pub method: Method,
    /// Path segments below the base URL; each is percent-encoded (`/` in a subject → `%2F`).
    pub segments: Vec<String>,
    pub query: Option<&'static str>,
    pub body: Option<Vec<u8>>,
}

/// An HTTP answer (any status).
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<Duration>,
}

pub(crate) enum Transport {
    Http {
        client: reqwest::Client,
        urls: Vec<Url>,
        /// The URL that answered last: requests start there.
        preferred: AtomicUsize,
    },
    #[cfg(feature = "mock")]
    Mock { name: String },
}

/// `base` + segments + query.
pub(crate) fn url_for(base: &Url, segments: &[String], query: Option<&str>) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments);
    }
    url.set_query(query);
    url
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl Transport {
    /// Sends once. `Err` means no registry answered (every base URL refused the connection,
    /// timed out or broke off); its text says why.
    pub async fn send(&self, req: &Request, headers: &HeaderMap) -> Result<Answer, String> {
        match self {
            Transport::Http {
                client,
                urls,
                preferred,
            } => {
                let start = preferred.load(Ordering::Relaxed) % urls.len();
                let mut reasons = Vec::new();
                for i in 0..urls.len() {
                    let n = (start + i) % urls.len();
                    let url = url_for(&urls[n], &req.segments, req.query);
                    let mut builder = client.request(req.method.clone(), url.clone());
                    builder = builder.headers(headers.clone());
                    if let Some(body) = &req.body {
                        builder = builder.body(body.clone());
                    }
                    let result = match builder.send().await {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            let retry_after = retry_after(resp.headers());
                            resp.bytes().await.map(|body| Answer {
                                status,
                                body: body.to_vec(),
                                retry_after,
                            })
                        }
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(answer) => {
                            preferred.store(n, Ordering::Relaxed);
                            return Ok(answer);
                        }
                        Err(e) => {
                            tracing::debug!(url = %urls[n], error = %e, "schema registry not reachable");
                            reasons.push(format!("{}: {}", urls[n], describe(&e)));
                        }
                    }
                }
                Err(reasons.join("; "))
            }
            #[cfg(feature = "mock")]
            Transport::Mock { name } => {
                let base = Url::parse("http://mock.invalid/").expect("a valid URL");
                let url = url_for(&base, &req.segments, req.query);
                let mut path = url.path().to_string();
                if let Some(q) = url.query() {
                    path.push('?');
                    path.push_str(q);
                }
                crate::mock::send(
                    name,
                    req.method.clone(),
                    &path,
                    headers.clone(),
                    req.body.clone().unwrap_or_default(),
                )
                .await
            }
        }
    }

    pub fn describe_urls(&self) -> Vec<String> {
        match self {
            Transport::Http { urls, .. } => urls.iter().map(Url::to_string).collect(),
            #[cfg(feature = "mock")]
            Transport::Mock { name } => vec![format!("mock://{name}")],
        }
    }
}

/// reqwest's Display hides the cause ("error sending request"); the chain says what happened.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(e);
    if let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_and_prefixes_kept() {
        let base = Url::parse("http://h:8081/apis/ccompat/v7/").unwrap();
        let u = url_for(
            &base,
            &["subjects".into(), "a/b c?".into(), "versions".into()],
            Some("verbose=true"),
        );
        assert_eq!(
            u.as_str(),
            "http://h:8081/apis/ccompat/v7/subjects/a%2Fb%20c%3F/versions?verbose=true"
        );
        let base = Url::parse("http://h:8081").unwrap();
        let u = url_for(&base, &["schemas".into(), "ids".into(), "7".into()], None);
        assert_eq!(u.as_str(), "http://h:8081/schemas/ids/7");
    }
}
