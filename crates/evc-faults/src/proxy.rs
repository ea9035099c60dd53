//! [`FaultProxy`]: a TCP proxy that delays, refuses and resets, from a seeded random source.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Rng;

/// What the proxy does to the traffic it forwards. Probabilities are per new connection
/// (`refuse`) or per forwarded chunk (`delay`, `reset`); a chunk is what one read returned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Chance that a new connection is closed at once, before anything is forwarded (a drop).
    pub refuse: f64,
    /// Chance that a chunk waits before it is forwarded.
    pub delay: f64,
    /// How long a delayed chunk waits, in milliseconds (uniform, inclusive).
    pub delay_ms: (u64, u64),
    /// Chance that, instead of forwarding a chunk, the proxy resets the connection: both sides
    /// get a TCP RST, whatever was in flight is lost.
    pub reset: f64,
}

impl Faults {
    /// Forward everything, at once.
    pub const NONE: Faults = Faults {
        refuse: 0.0,
        delay: 0.0,
        delay_ms: (0, 0),
        reset: 0.0,
    };
}

impl Default for Faults {
    fn default() -> Faults {
        Faults::NONE
    }
}

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted from clients.
    pub connections: u64,
    /// Of those, closed at once ([`Faults::refuse`]), or because the upstream did not answer.
    pub refused: u64,
    /// Connections reset, at random ([`Faults::reset`]) or by [`FaultProxy::reset_all`].
    pub resets: u64,
    /// Chunks forwarded, and how many of them were delayed.
    pub chunks: u64,
    pub delayed: u64,
    /// Bytes forwarded, both directions.
    pub bytes: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    refused: AtomicU64,
    resets: AtomicU64,
    chunks: AtomicU64,
    delayed: AtomicU64,
    bytes: AtomicU64,
}

struct Shared {
    upstream: Mutex<SocketAddr>,
    faults: Mutex<Faults>,
    rng: Mutex<Rng>,
    counters: Counters,
    /// Bumped by `reset_all`: every open connection resets when it changes.
    generation: watch::Sender<u64>,
}

impl Shared {
    fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn with_rng<R>(&self, f: impl FnOnce(&mut Rng) -> R) -> R {
        f(&mut self.rng.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A TCP proxy on `127.0.0.1` in front of one upstream address. Dropping it stops accepting and
/// resets every open connection.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free port of `127.0.0.1` and forwards to `upstream`, with no faults until
    /// [`FaultProxy::set_faults`]. Needs a Tokio runtime.
    pub async fn start(upstream: SocketAddr, seed: u64) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (generation, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            faults: Mutex::new(Faults::NONE),
            rng: Mutex::new(Rng::new(seed)),
            counters: Counters::default(),
            generation,
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FaultProxy {
            addr,
            shared,
            accept,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the faults for everything forwarded from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self
            .shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// Points new connections at another upstream (a restarted server on a new port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self
            .shared
            .upstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = upstream;
    }

    /// Resets every connection open right now (a network partition's first moment).
    pub fn reset_all(&self) {
        self.shared.generation.send_modify(|g| *g += 1);
    }

    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        ProxyStats {
            connections: c.connections.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
            chunks: c.chunks.load(Ordering::Relaxed),
            delayed: c.delayed.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.reset_all();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        let refuse = shared.faults().refuse;
        if shared.with_rng(|r| r.chance(refuse)) {
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            drop(client);
            continue;
        }
        tokio::spawn(connection(client, shared.clone()));
    }
}

/// Why a connection's forwarding stopped.
enum End {
    /// Both sides closed: close ours normally.
    Closed,
    /// Reset both sides.
    Reset,
}

async fn connection(mut client: TcpStream, shared: Arc<Shared>) {
    let mut reset_rx = shared.generation.subscribe();
    reset_rx.mark_unchanged();
    let upstream_addr = *shared
        .upstream
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let mut upstream = match TcpStream::connect(upstream_addr).await {
        Ok(s) => s,
        Err(_) => {
            // The server is down: the client sees its connection reset, as with no proxy it
            // would see it refused.
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            let _ = client.set_zero_linger();
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let end = forward(&mut client, &mut upstream, &shared, &mut reset_rx).await;
    if let End::Reset = end {
        shared.counters.resets.fetch_add(1, Ordering::Relaxed);
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
}

async fn forward(
    client: &mut TcpStream,
    upstream: &mut TcpStream,
    shared: &Shared,
    reset_rx: &mut watch::Receiver<u64>,
) -> End {
    let mut from_client = vec![0u8; 16 * 1024];
    let mut from_upstream = vec![0u8; 16 * 1024];
    let (mut client_open, mut upstream_open) = (true, true);
    while client_open || upstream_open {
        // Reads are cancel-safe: whichever side has bytes first is forwarded.
        let (n, to_upstream) = tokio::select! {
            r = client.read(&mut from_client), if client_open => match r {
                Ok(n) => (n, true),
                Err(_) => return End::Reset,
            },
            r = upstream.read(&mut from_upstream), if upstream_open => match r {
                Ok(n) => (n, false),
                Err(_) => return End::Reset,
            },
            _ = reset_rx.changed() => return End::Reset,
        };
        if n == 0 {
            // One side finished sending: pass the half-close on.
            if to_upstream {
                client_open = false;
                let _ = upstream.shutdown().await;
            } else {
                upstream_open = false;
                let _ = client.shutdown().await;
            }
            continue;
        }
        let faults = shared.faults();
        let (reset, wait) = shared.with_rng(|r| {
            let reset = r.chance(faults.reset);
            let wait = r
                .chance(faults.delay)
                .then(|| r.between(faults.delay_ms.0, faults.delay_ms.1));
            (reset, wait)
        });
        if reset {
            return End::Reset;
        }
        if let Some(ms) = wait {
            shared.counters.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = reset_rx.changed() => return End::Reset,
            }
        }
        let written = if to_upstream {
            upstream.write_all(&from_client[..n]).await
        } else {
            client.write_all(&from_upstream[..n]).await
        };
        if written.is_err() {
            return End::Reset;
        }
        shared.counters.chunks.fetch_add(1, Ordering::Relaxed);
        shared.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
    End::Closed
}
