//! `evc registry serve`: the Confluent-compatible registry server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::Outcome;

pub struct ServeArgs {
    pub listen: SocketAddr,
    pub storage: String,
    pub users_file: Option<PathBuf>,
    pub users_env: Option<String>,
    pub read_only: bool,
}

pub fn serve(args: ServeArgs) -> anyhow::Result<Outcome> {
    let storage = evc_registry::StorageUrl::parse(&args.storage)
        .with_context(|| format!("--storage {}", evc_telemetry::redact_url(&args.storage)))?;
    let mut config = evc_registry::ServerConfig::new(args.listen, storage);
    config.read_only = args.read_only;
    config.auth = match (args.users_file, args.users_env) {
        (Some(f), None) => Some(
            evc_registry::BasicAuth::from_file(&f)
                .with_context(|| format!("--users-file {}", f.display()))?,
        ),
        (None, Some(v)) => Some(
            evc_registry::BasicAuth::from_env(&v).with_context(|| format!("--users-env {v}"))?,
        ),
        (None, None) => None,
        (Some(_), Some(_)) => anyhow::bail!("give --users-file or --users-env, not both"),
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(evc_registry::serve(config))
        .context("the registry server stopped")?;
    Ok(Outcome::Ok)
}
