//! The fault proxy against a real TCP echo server: it forwards, delays, refuses and resets as
//! told, and counts what it did.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use evc_faults::{FaultProxy, Faults};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server on a free port: every connection gets back what it sends.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn echo_once(stream: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(msg).await?;
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back).await?;
    Ok(back)
}

#[tokio::test]
async fn forwards_everything_without_faults() {
    let proxy = FaultProxy::start(echo_server().await, 1).await.unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let msg: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let (mut r, mut w) = s.split();
    let send = async {
        w.write_all(&msg).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let recv = r.read_to_end(&mut back);
    let ((), got) = tokio::join!(send, recv);
    got.unwrap();
    assert_eq!(
        back, msg,
        "the half-close passes through and every byte comes back"
    );
    let stats = proxy.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.bytes, 2 * msg.len() as u64);
    assert_eq!((stats.refused, stats.resets, stats.delayed), (0, 0, 0));
}

#[tokio::test]
async fn delays_each_chunk() {
    let proxy = FaultProxy::start(echo_server().await, 2).await.unwrap();
    proxy.set_faults(Faults {
        delay: 1.0,
        delay_ms: (40, 40),
        ..Faults::NONE
    });
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let started = Instant::now();
    assert_eq!(echo_once(&mut s, b"ping").await.unwrap(), b"ping");
    // Two chunks (there and back), each held 40 ms.
    assert!(started.elapsed() >= Duration::from_millis(80));
    assert_eq!(proxy.stats().delayed, 2);
}

#[tokio::test]
async fn refuses_new_connections() {
    let proxy = FaultProxy::start(echo_server().await, 3).await.unwrap();
    proxy.set_faults(Faults {
        refuse: 1.0,
        ..Faults::NONE
    });
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut buf = [0u8; 4];
    let _ = s.write_all(b"ping").await;
    match s.read(&mut buf).await {
        Ok(0) => {}
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "{e}"
        ),
        Ok(n) => panic!("a refused connection answered {n} bytes"),
    }
    assert_eq!(proxy.stats().refused, 1);
    // Faults off: the next connection goes through.
    proxy.set_faults(Faults::NONE);
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(echo_once(&mut s, b"pong").await.unwrap(), b"pong");
}

#[tokio::test]
async fn resets_in_the_middle_of_traffic() {
    let proxy = FaultProxy::start(echo_server().await, 4).await.unwrap();
    proxy.set_faults(Faults {
        reset: 1.0,
        ..Faults::NONE
    });
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let err = echo_once(&mut s, b"ping").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert_eq!(proxy.stats().resets, 1);
    assert_eq!(proxy.stats().bytes, 0, "the reset chunk was not forwarded");
}

#[tokio::test]
async fn reset_all_cuts_open_connections() {
    let proxy = FaultProxy::start(echo_server().await, 5).await.unwrap();
    let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(echo_once(&mut a, b"a").await.unwrap(), b"a");
    assert_eq!(echo_once(&mut b, b"b").await.unwrap(), b"b");
    proxy.reset_all();
    for s in [&mut a, &mut b] {
        let mut buf = [0u8; 1];
        let err = s.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    }
    assert_eq!(proxy.stats().resets, 2);
    // New connections are served again.
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(echo_once(&mut c, b"c").await.unwrap(), b"c");
}

#[tokio::test]
async fn a_down_upstream_resets_the_client_and_a_new_one_is_used() {
    // A port nobody listens on: bind, learn it, close it.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let proxy = FaultProxy::start(dead, 6).await.unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut buf = [0u8; 1];
    let answer = s.read(&mut buf).await;
    assert!(
        matches!(&answer, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "{answer:?}"
    );
    assert_eq!(proxy.stats().refused, 1);
    proxy.set_upstream(echo_server().await);
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(echo_once(&mut s, b"up").await.unwrap(), b"up");
}

#[tokio::test]
async fn the_same_seed_makes_the_same_choices() {
    async fn run(seed: u64) -> Vec<bool> {
        let proxy = FaultProxy::start(echo_server().await, seed).await.unwrap();
        proxy.set_faults(Faults {
            refuse: 0.5,
            ..Faults::NONE
        });
        let mut outcomes = Vec::new();
        for _ in 0..24 {
            let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
            outcomes.push(echo_once(&mut s, b"x").await.is_ok());
        }
        outcomes
    }
    let first = run(42).await;
    assert_eq!(first, run(42).await);
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
}
