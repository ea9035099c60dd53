//! Which transport a URL names: `kafka://host:port[,host:port]` or a bare bootstrap list,
//! `redis://[user:pass@]host[:port][/db]`, `amqp://[user:pass@]host[:port][/vhost]`.

use crate::TransportKind;

/// A broker address, checked, with the transport it names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// Kafka bootstrap servers, `host:port[,host:port...]` (from `kafka://...` or bare).
    Kafka { bootstrap: String },
    /// A Redis URL, as the redis crate takes it.
    Redis { url: String },
    /// An AMQP 0.9.1 URL, as lapin takes it.
    RabbitMq { url: String },
}

/// A broker URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("broker URL `{url}`: {reason}")]
pub struct UrlError {
    pub url: String,
    pub reason: String,
}

impl Endpoint {
    /// Reads a broker URL; the error says what is wrong with it.
    ///
    /// ```
    /// use evc_transport::Endpoint;
    /// assert_eq!(
    ///     Endpoint::parse("localhost:9092,kafka-2:9092").unwrap(),
    ///     Endpoint::Kafka { bootstrap: "localhost:9092,kafka-2:9092".into() }
    /// );
    /// assert!(matches!(Endpoint::parse("redis://127.0.0.1:6379/0"), Ok(Endpoint::Redis { .. })));
    /// assert!(Endpoint::parse("nats://127.0.0.1:4222").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Endpoint, UrlError> {
        let err = |reason: String| UrlError {
            url: url.to_string(),
            reason,
        };
        let trimmed = url.trim();
        if trimmed.is_empty() {
            return Err(err("it is empty".into()));
        }
        let Some((scheme, rest)) = trimmed.split_once("://") else {
            check_bootstrap(trimmed).map_err(err)?;
            return Ok(Endpoint::Kafka {
                bootstrap: trimmed.to_string(),
            });
        };
        match scheme.to_ascii_lowercase().as_str() {
            "kafka" => {
                let list = rest.trim_end_matches('/');
                check_bootstrap(list).map_err(err)?;
                Ok(Endpoint::Kafka {
                    bootstrap: list.to_string(),
                })
            }
            "redis" => {
                check_authority(rest, "redis").map_err(err)?;
                Ok(Endpoint::Redis {
                    url: trimmed.to_string(),
                })
            }
            "amqp" => {
                check_authority(rest, "amqp").map_err(err)?;
                Ok(Endpoint::RabbitMq {
                    url: trimmed.to_string(),
                })
            }
            "rediss" | "amqps" => Err(err(format!(
                "`{scheme}://` needs TLS, which evc's transports are built without"
            ))),
            other => Err(err(format!(
                "unknown scheme `{other}://` (known: kafka://, redis://, amqp://, or a bare \
                 Kafka bootstrap list host:port[,host:port])"
            ))),
        }
    }

    pub fn kind(&self) -> TransportKind {
        match self {
            Endpoint::Kafka { .. } => TransportKind::Kafka,
            Endpoint::Redis { .. } => TransportKind::Redis,
            Endpoint::RabbitMq { .. } => TransportKind::RabbitMq,
        }
    }
}

fn check_host_port(entry: &str, default_port: bool) -> Result<(), String> {
    let (host, port) = match entry.rsplit_once(':') {
        Some((h, _)) if !h.ends_with(']') && h.contains(':') && !h.starts_with('[') => {
            return Err(format!("`{entry}`: an IPv6 address must be in brackets"))
        }
        Some((h, p)) => (h, Some(p)),
        None => (entry, None),
    };
    if host.is_empty() {
        return Err(format!("`{entry}` has no host"));
    }
    match port {
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("`{entry}`: `{p}` is not a port (1-65535)")),
            Ok(_) => Ok(()),
        },
        None if default_port => Ok(()),
        None => Err(format!("`{entry}` has no port (host:port)")),
    }
}

fn check_bootstrap(list: &str) -> Result<(), String> {
    if list.is_empty() {
        return Err("no bootstrap server".into());
    }
    for entry in list.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("an empty entry in the bootstrap list".into());
        }
        if entry.contains('/') {
            return Err(format!("`{entry}` is not host:port"));
        }
        check_host_port(entry, false)?;
    }
    Ok(())
}

/// `[user[:pass]@]host[:port][/path]`
fn check_authority(rest: &str, scheme: &str) -> Result<(), String> {
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() {
        return Err(format!("`{scheme}://` needs a host"));
    }
    check_host_port(hostport, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_the_transport_by_scheme() {
        assert_eq!(
            Endpoint::parse("kafka://a:9092,b:9093/").unwrap(),
            Endpoint::Kafka {
                bootstrap: "a:9092,b:9093".into()
            }
        );
        assert_eq!(
            Endpoint::parse("127.0.0.1:9092").unwrap().kind(),
            TransportKind::Kafka
        );
        assert_eq!(
            Endpoint::parse("redis://:secret@127.0.0.1/2")
                .unwrap()
                .kind(),
            TransportKind::Redis
        );
        assert_eq!(
            Endpoint::parse("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap(),
            Endpoint::RabbitMq {
                url: "amqp://guest:guest@127.0.0.1:5672/%2f".into()
            }
        );
        assert_eq!(
            Endpoint::parse("AMQP://[::1]:5672").unwrap().kind(),
            TransportKind::RabbitMq
        );
    }

    #[test]
    fn malformed_urls_say_what_is_wrong() {
        let reason = |u: &str| Endpoint::parse(u).unwrap_err().reason;
        assert_eq!(reason(""), "it is empty");
        assert!(reason("nats://x:4222").contains("unknown scheme `nats://`"));
        assert!(reason("localhost").contains("has no port"));
        assert!(reason("localhost:0").contains("is not a port"));
        assert!(reason("localhost:99999").contains("is not a port"));
        assert!(reason("a:1,,b:2").contains("empty entry"));
        assert!(reason("kafka://").contains("no bootstrap server"));
        assert!(reason("redis://").contains("needs a host"));
        assert!(reason("amqp://user@:5672").contains("has no host"));
        assert!(reason("rediss://h:1").contains("TLS"));
        assert!(reason("::1:9092").contains("brackets"));
        assert!(reason("http://h:1/x").contains("unknown scheme"));
    }
}
