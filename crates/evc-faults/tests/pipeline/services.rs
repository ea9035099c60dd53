//! The servers the suites kill and start again: a `tansu` broker on SQLite storage in a temp
//! directory, and a private PostgreSQL cluster (`initdb` into a temp directory, its own port).
//! Both are found on the machine, never installed here; a missing one fails the suite with
//! what to do.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port of 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_listening(port: u16, what: &str, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not start listening on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `tansu` binary: `TANSU`, else `$CARGO_HOME/bin/tansu`, else `~/.cargo/bin/tansu`.
fn tansu_binary() -> PathBuf {
    [
        std::env::var_os("TANSU").map(PathBuf::from),
        std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin/tansu")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.exists())
    .expect(
        "the tansu broker is not installed: run `cargo xtask test`, which installs it \
         (cargo install tansu --locked --features dynostore,libsql)",
    )
}

/// A tansu broker whose storage (SQLite, `sqlite://tansu.db` in its directory) survives
/// SIGKILL, restarted on the same port; it advertises `advertised` (itself, or a proxy).
pub struct Tansu {
    dir: PathBuf,
    port: u16,
    advertised: SocketAddr,
    child: Option<Child>,
    pub restarts: u64,
}

impl Tansu {
    /// Starts it on a free port, storing in `dir`, advertising itself.
    pub fn start(dir: &Path) -> Tansu {
        let port = free_port();
        Tansu::start_advertising(dir, port, ([127, 0, 0, 1], port).into())
    }

    /// Starts it on `port`, storing in `dir`, advertising `advertised` to clients.
    pub fn start_advertising(dir: &Path, port: u16, advertised: SocketAddr) -> Tansu {
        std::fs::create_dir_all(dir).expect("the broker's directory");
        let mut t = Tansu {
            dir: dir.to_path_buf(),
            port,
            advertised,
            child: None,
            restarts: 0,
        };
        t.spawn();
        t
    }

    fn spawn(&mut self) {
        let mut child = Command::new(tansu_binary())
            .current_dir(&self.dir)
            .args([
                "broker",
                "--storage-engine",
                "sqlite://tansu.db",
                "--listener-url",
                &format!("tcp://127.0.0.1:{}", self.port),
                "--advertised-listener-url",
                &format!("tcp://{}", self.advertised),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("tansu.log")).expect("the broker's log"))
            .spawn()
            .expect("start tansu");
        wait_listening(self.port, "tansu", &mut child);
        self.child = Some(child);
    }

    /// Where it listens (not what it advertises).
    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again after [`Tansu::kill`], on the same port and storage.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "tansu is still running");
        self.spawn();
        self.restarts += 1;
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A PostgreSQL cluster of its own: `initdb` into a temp directory (as the `postgres` user
/// when this runs as root, which PostgreSQL refuses), `postgres` on a free port, trust auth.
/// SIGKILL goes to the server's whole process group (the postmaster and its backends), as a
/// crash of the machine's database processes would.
pub struct PrivatePostgres {
    data: PathBuf,
    port: u16,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
    pub restarts: u64,
}

/// The Debian binaries, newest version first; `EVC_PG_BIN` overrides.
fn pg_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("EVC_PG_BIN") {
        return PathBuf::from(p);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").exists() && p.join("postgres").exists());
    versions.sort();
    versions.pop().expect(
        "no PostgreSQL server binaries (initdb, postgres) under /usr/lib/postgresql/*/bin: \
         install the postgresql package, or set EVC_PG_BIN to their directory",
    )
}

/// The uid and gid of `postgres` from /etc/passwd, when this process is root.
fn owner_when_root() -> Option<(u32, u32)> {
    let me = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = me
        .lines()
        .find(|l| l.starts_with("Uid:"))?
        .split_whitespace()
        .nth(1)?;
    if uid != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("running as root, the private PostgreSQL needs a `postgres` user to run as");
    let f: Vec<&str> = line.split(':').collect();
    Some((
        f[2].parse().expect("postgres's uid"),
        f[3].parse().expect("postgres's gid"),
    ))
}

impl PrivatePostgres {
    /// `initdb` into `dir/data` and start the server.
    pub fn start(dir: &Path) -> PrivatePostgres {
        let bin = pg_bin();
        let owner = owner_when_root();
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("the data directory");
        if let Some((uid, gid)) = owner {
            for p in [dir, data.as_path()] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = owner {
            initdb.uid(uid).gid(gid);
        }
        let out = initdb.output().expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = PrivatePostgres {
            data,
            port: free_port(),
            bin,
            owner,
            child: None,
            restarts: 0,
        };
        pg.spawn();
        pg
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.data.display()))
            // a process crash, not a machine crash: the OS keeps what was written
            .args(["-c", "fsync=off", "-c", "max_connections=100"])
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.data.with_file_name("postgres.log"))
                    .expect("the server's log"),
            )
            .process_group(0);
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        let mut child = cmd.spawn().expect("start postgres");
        wait_listening(self.port, "postgres", &mut child);
        self.child = Some(child);
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// SIGKILL to the server's process group, and wait until its backends are gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let group = c.id();
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
            let _ = c.wait();
            // the backends are in the same group; `kill -0 -GROUP` fails once all are gone
            let start = Instant::now();
            while Command::new("kill")
                .args(["-0", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
            {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "postgres's processes outlived SIGKILL"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts it again after [`PrivatePostgres::kill`] (crash recovery replays its WAL).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "postgres is still running");
        self.spawn();
        self.restarts += 1;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill();
    }
}
