//! A transport connected on first use, shared behind an `Arc`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::{AnyTransport, Endpoint, TransportError, TransportKind};

type Connect<T> =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<T, TransportError>> + Send>> + Send + Sync>;

/// A transport that is either connected already or connects the first time it is needed
/// (so a constructor that cannot wait, such as a producer's, can take any broker URL).
/// A failed connection is tried again on the next use.
pub struct LazyTransport<T> {
    cell: OnceCell<Arc<T>>,
    connect: Option<Connect<T>>,
    what: String,
}

impl<T> fmt::Debug for LazyTransport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyTransport")
            .field("broker", &self.what)
            .field("connected", &self.cell.initialized())
            .finish()
    }
}

impl<T: Send + Sync + 'static> LazyTransport<T> {
    /// A transport connected already.
    pub fn ready(transport: Arc<T>) -> LazyTransport<T> {
        LazyTransport {
            cell: OnceCell::new_with(Some(transport)),
            connect: None,
            what: "a connected transport".into(),
        }
    }

    /// A transport `connect` makes on first use; `what` names it in logs.
    pub fn with<F, Fut>(what: impl Into<String>, connect: F) -> LazyTransport<T>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, TransportError>> + Send + 'static,
    {
        LazyTransport {
            cell: OnceCell::new(),
            connect: Some(Box::new(move || Box::pin(connect()))),
            what: what.into(),
        }
    }

    /// The transport, connecting it if this is the first use.
    pub async fn get(&self) -> Result<&Arc<T>, TransportError> {
        self.cell
            .get_or_try_init(|| async {
                let connect = self
                    .connect
                    .as_ref()
                    .expect("a LazyTransport without a connected transport has a connector");
                connect().await.map(Arc::new)
            })
            .await
    }

    /// The transport if it is connected already.
    pub fn connected(&self) -> Option<&Arc<T>> {
        self.cell.get()
    }
}

impl LazyTransport<AnyTransport> {
    /// The transport `url` names (see [`Endpoint::parse`]: the URL is checked now, and a
    /// transport this build lacks is refused now), connected with each transport's defaults
    /// on first use.
    pub fn url(url: &str) -> Result<LazyTransport<AnyTransport>, TransportError> {
        let missing = match Endpoint::parse(url)? {
            Endpoint::Kafka { .. } if !cfg!(feature = "kafka") => {
                Some((TransportKind::Kafka, "kafka"))
            }
            Endpoint::Redis { .. } if !cfg!(feature = "redis") => {
                Some((TransportKind::Redis, "redis"))
            }
            Endpoint::RabbitMq { .. } if !cfg!(feature = "rabbitmq") => {
                Some((TransportKind::RabbitMq, "rabbitmq"))
            }
            _ => None,
        };
        if let Some((kind, feature)) = missing {
            return Err(TransportError::NotCompiled {
                url: url.to_string(),
                kind,
                feature,
            });
        }
        let owned = url.to_string();
        Ok(LazyTransport::with(url, move || {
            let url = owned.clone();
            async move { AnyTransport::connect(&url).await }
        }))
    }
}
