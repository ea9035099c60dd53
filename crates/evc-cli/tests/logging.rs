//! The logs of `evc registry serve` as an operator gets them: quiet at the default level under
//! load, one INFO line per state change, JSON lines on request, and never a credential
//! (basic-auth headers, the password in a storage URL), even at TRACE.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;

/// `evc registry serve` with `args`, its stderr collected line by line.
struct Server {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evc"))
            .args(["registry", "serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut seen = Vec::new();
        let addr = loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the server logs where it listens");
            seen.push(line.clone());
            if let Some(addr) = listening_addr(&line) {
                break addr;
            }
        };
        Server {
            child,
            addr,
            lines,
            seen,
        }
    }

    /// Stops the server and answers every line it wrote.
    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        self.seen
    }
}

/// The address in the "listening" line, text (`addr=...`) or JSON (`"addr":"..."`).
fn listening_addr(line: &str) -> Option<String> {
    if !line.contains("schema registry listening") {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        return v["addr"].as_str().map(str::to_string);
    }
    line.split("addr=")
        .nth(1)
        .map(|r| r.split_whitespace().next().unwrap().to_string())
}

/// A keep-alive HTTP/1.1 connection; answers (status, body) per request.
struct Conn(BufReader<TcpStream>);

impl Conn {
    fn open(addr: &str) -> Conn {
        Conn(BufReader::new(TcpStream::connect(addr).unwrap()))
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/vnd.schemaregistry.v1+json\r\ncontent-length: {}\r\n",
            body.len()
        );
        if let Some(a) = auth {
            req.push_str(&format!("authorization: Basic {a}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.0.get_mut().write_all(req.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.0.read_line(&mut status_line).unwrap();
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0;
        loop {
            let mut h = String::new();
            self.0.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        self.0.read_exact(&mut body).unwrap();
        (status, String::from_utf8(body).unwrap())
    }
}

const SCHEMA: &str = r#"{"schema": "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}"}"#;

#[test]
fn ten_thousand_requests_write_no_log_line_at_the_default_level() {
    let server = Server::start(&["--storage", "memory"]);
    let mut c = Conn::open(&server.addr);
    assert_eq!(
        c.request("POST", "/subjects/users-value/versions", None, SCHEMA)
            .0,
        200
    );
    for i in 0..10_000 {
        let path = match i % 4 {
            0 => "/subjects",
            1 => "/schemas/ids/1",
            2 => "/subjects/users-value/versions/latest",
            _ => "/subjects/nobody/versions",
        };
        let (status, _) = c.request("GET", path, None, "");
        assert!(status == 200 || status == 404, "{path}: {status}");
    }
    // a state change is still one INFO line
    assert_eq!(
        c.request(
            "PUT",
            "/config/users-value",
            None,
            r#"{"compatibility":"FULL"}"#
        )
        .0,
        200
    );
    let lines = server.stop();
    let text = lines.join("\n");
    assert!(
        lines.len() <= 4,
        "only start-up and state changes are logged at the default level:\n{text}"
    );
    assert!(!text.contains("/subjects/nobody"), "{text}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("registered schema"))
            .count(),
        1,
        "{text}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("config changed"))
            .count(),
        1,
        "{text}"
    );
    assert!(lines.iter().all(|l| !l.contains("DEBUG")), "{text}");
}

/// The test PostgreSQL URL with a password in it (trust auth ignores it), and that password.
fn url_with_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').expect("the test URL names a user");
    match userinfo.split_once(':') {
        Some((_, pw)) => (url.to_string(), pw.to_string()),
        None => {
            let pw = "evc-NeverLogThis-pw".to_string();
            (format!("{scheme}://{userinfo}:{pw}@{host}"), pw)
        }
    }
}

#[test]
fn credentials_are_never_logged_even_at_trace() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pg = rt.block_on(evc_storage::testing::PgTestSchema::create("evc_cli_logs"));
    let (storage, db_password) = url_with_password(&pg.url);

    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "ops:S3cret-Basic-Pw\n").unwrap();
    let good = base64::engine::general_purpose::STANDARD.encode("ops:S3cret-Basic-Pw");
    let wrong = base64::engine::general_purpose::STANDARD.encode("ops:Wr0ng-Guess-Pw");

    let server = Server::start(&[
        "--storage",
        &storage,
        "--users-file",
        users.to_str().unwrap(),
        "--log-format",
        "json",
        "--log-filter",
        "trace",
    ]);
    let mut c = Conn::open(&server.addr);
    assert_eq!(
        c.request(
            "POST",
            "/subjects/users-value/versions",
            Some(&good),
            SCHEMA
        )
        .0,
        200
    );
    assert_eq!(c.request("GET", "/subjects", Some(&good), "").0, 200);
    assert_eq!(c.request("GET", "/subjects", Some(&wrong), "").0, 401);
    assert_eq!(c.request("GET", "/subjects", None, "").0, 401);
    assert_eq!(
        c.request("DELETE", "/subjects/users-value", Some(&good), "")
            .0,
        200
    );
    let lines = server.stop();
    rt.block_on(pg.drop_schema());

    let text = lines.join("\n");
    for secret in [
        db_password.as_str(),
        "S3cret-Basic-Pw",
        "Wr0ng-Guess-Pw",
        good.as_str(),
        wrong.as_str(),
    ] {
        assert!(!text.contains(secret), "`{secret}` was logged:\n{text}");
    }
    // JSON lines, and the trace level really was on (per-request lines are there)
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["target"].is_string(), "{line}");
    }
    let requests = lines
        .iter()
        .filter(|l| l.contains(r#""message":"request""#))
        .count();
    assert!(
        requests >= 3,
        "DEBUG request lines expected at trace:\n{text}"
    );
    assert!(text.contains(r#""message":"registered schema""#), "{text}");
    assert!(
        text.contains(r#""message":"soft-deleted subject""#),
        "{text}"
    );
}

#[test]
fn a_bad_log_filter_is_refused_with_its_source() {
    let out = Command::new(env!("CARGO_BIN_EXE_evc"))
        .args([
            "registry",
            "serve",
            "--storage",
            "memory",
            "--log-filter",
            "evc=loud",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid log filter `evc=loud` (from --log-filter)"),
        "{err}"
    );
    // OTLP export asked for: a build without the `otlp` feature refuses it (exit 2, the URL
    // redacted); a build with it (cargo unifies features across a workspace test run) serves
    // and exports. Either way the collector's password is never printed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_evc"))
        .args([
            "registry",
            "serve",
            "--storage",
            "memory",
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--otlp-endpoint",
            "http://u:OtlpSecret@127.0.0.1:9/v1/traces",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if exited.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("OtlpSecret"), "{err}");
    match exited {
        Some(status) => {
            assert_eq!(status.code(), Some(2), "{err}");
            assert!(err.contains("no `otlp` feature"), "{err}");
            assert!(err.contains("http://u:***@127.0.0.1:9/v1/traces"), "{err}");
        }
        None => assert!(err.contains("schema registry listening"), "{err}"),
    }
}
