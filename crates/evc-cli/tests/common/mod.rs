//! Helpers shared by the `evc` binary's tests.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::{BufRead, BufReader};
use std::process::Command;

/// `evc registry serve` as a child process on a free port; killed when dropped.
pub struct Served(pub std::process::Child, pub String);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn serve() -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_evc"))
        .args([
            "registry",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--storage",
            "memory",
        ])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server logs where it listens")
            .unwrap();
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Served(child, format!("http://{addr}"))
}
