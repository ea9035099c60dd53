//! Shared by the tests that run `evc` on repositories outside this workspace (`init.rs`,
//! `second_domain.rs`), which build their scaffolds in `target/scaffold-test` with this
//! workspace's lock file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `evc` binary in `dir`.
pub fn evc(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run evc")
}

/// A process's status and output, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// This workspace's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

/// Runs cargo in the scaffold `repo` (offline, this workspace's lock file, one shared target
/// folder under this workspace's `target/`), answering its output.
pub fn cargo_in_scaffold(repo: &Path, args: &[&str]) -> Output {
    std::fs::copy(workspace().join("Cargo.lock"), repo.join("Cargo.lock")).unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .args(args)
        .env(
            "CARGO_TARGET_DIR",
            workspace().join("target").join("scaffold-test"),
        )
        .current_dir(repo)
        .output()
        .unwrap()
}
