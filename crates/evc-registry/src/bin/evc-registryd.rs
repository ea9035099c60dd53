//! A bare registry server process: `evc-registryd --storage URL [--listen ADDR]`.
//!
//! Prints `EVC_REGISTRY_LISTENING <addr>` on stdout once it accepts connections, then serves
//! until it is killed or gets Ctrl-C / SIGTERM. The `evc registry serve` command is the
//! user-facing way to run the server (with logs, auth and read-only options); this binary
//! exists so that tests can run, kill and restart real server processes.

use std::net::SocketAddr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
    let mut storage = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => match v.parse() {
                Ok(addr) => listen = addr,
                Err(e) => {
                    eprintln!("error: --listen {v}: {e}");
                    return ExitCode::from(2);
                }
            },
            ("--storage", Some(v)) => storage = Some(v),
            _ => {
                eprintln!("usage: evc-registryd --storage URL [--listen ADDR]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(storage) = storage else {
        eprintln!("usage: evc-registryd --storage URL [--listen ADDR]");
        return ExitCode::from(2);
    };
    let storage = match evc_registry::StorageUrl::parse(&storage) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --storage: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        let server =
            match evc_registry::spawn(evc_registry::ServerConfig::new(listen, storage)).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(1);
                }
            };
        println!("EVC_REGISTRY_LISTENING {}", server.addr());
        let _ = tokio::signal::ctrl_c().await;
        let _ = server.stop().await;
        ExitCode::SUCCESS
    })
}
