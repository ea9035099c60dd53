//! `evc`: event contracts from the command line.
//!
//! Exit codes (every subcommand): 0 success or compatible, 1 a check failed (incompatible,
//! drift, lint errors), 2 bad input (unreadable file, invalid schema or config, bad arguments).

mod check;
mod codegen;
mod compat;
mod init;
mod produce;
mod registry;
mod render;
mod sync;
mod tail;
mod telemetry;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use telemetry::LogArgs;

#[derive(Parser)]
#[command(
    name = "evc",
    version,
    about = "Event contracts: Avro schemas as a governed contract between services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// rustc-style, with the schema snippet and a caret under the offending text.
    Text,
    /// One JSON object.
    Json,
    /// GitHub Actions workflow commands (`::error file=...,line=...::message`).
    Github,
}

#[derive(Subcommand)]
enum Command {
    /// Check Avro compatibility: a writer against a reader, or a new schema against existing
    /// versions (oldest first) under a Confluent mode.
    Compat {
        /// The schema data is written with.
        #[arg(long, requires = "reader", conflicts_with_all = ["mode", "new"])]
        writer: Option<PathBuf>,
        /// The schema data is read with.
        #[arg(long, requires = "writer")]
        reader: Option<PathBuf>,
        /// NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE.
        #[arg(long, requires = "new")]
        mode: Option<String>,
        /// The new schema.
        #[arg(long, requires = "mode")]
        new: Option<PathBuf>,
        /// Existing versions, oldest first.
        existing: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// The pull-request gate: lint rules, every subject's history under its mode, append-only
    /// versions (with --against), fresh generated code.
    Check {
        /// The schema directory (holding evc.toml).
        #[arg(long, default_value = "schemas")]
        root: PathBuf,
        /// A git ref to compare published versions with, e.g. origin/main. Only subjects that
        /// changed since it are then linted and checked (see --full).
        #[arg(long)]
        against: Option<String>,
        /// With --against, check every subject, not only those that changed.
        #[arg(long, requires = "against")]
        full: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Skip the generated-code freshness check (it needs rustfmt).
        #[arg(long)]
        no_generated: bool,
    },
    /// The Confluent-compatible schema registry: serve it, or make one match the schema directory.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Run the order domain end to end: the schema history pushed to the registry, orders
    /// placed through the event store (one by an old producer of `OrderCreated` v1), the
    /// outbox relay to Kafka, the read model, the fulfillment saga driving each order to
    /// shipped or (one) cancelled, readers of two schema versions, then each order's state
    /// timeline, the read model and a state replay. With no flags everything is embedded: an
    /// in-process registry, librdkafka's in-process broker and SQLite files in a temporary
    /// folder.
    Demo {
        /// Kafka brokers, `host:port[,host:port...]` (topics `orders` and `orders.dlq` are
        /// created if missing).
        #[arg(long, conflicts_with = "broker")]
        bootstrap: Option<String>,
        /// Any broker by URL: `redis://127.0.0.1:6379`, `amqp://guest:guest@127.0.0.1:5672/%2f`
        /// (`orders` is declared with 3 shards), or Kafka.
        #[arg(long)]
        broker: Option<String>,
        /// A schema registry URL (the demo registers the schema history there, as
        /// `evc registry push` does).
        #[arg(long)]
        registry: Option<String>,
        /// `sqlite://DIR` (a missing or empty folder) or `postgres://...`.
        #[arg(long)]
        database: Option<String>,
        /// Serve the run's metrics (consumers, outbox relay, saga runner) in the Prometheus
        /// text format at http://ADDR/metrics (port 0: a free one, printed in the banner);
        /// after the story they stay served, with the run's final values, until Ctrl-C.
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<std::net::SocketAddr>,
        /// Default log filter here: `warn` (the demo prints its own story on stdout).
        #[command(flatten)]
        log: LogArgs,
    },
    /// Print every message of a topic as one JSON line (any Confluent-framed Avro message).
    Tail {
        #[arg(long)]
        topic: String,
        /// Kafka brokers, `host:port[,host:port...]`.
        #[arg(long, required_unless_present = "broker", conflicts_with = "broker")]
        bootstrap: Option<String>,
        /// Any broker by URL: `redis://host:port`, `amqp://user:pass@host:port/%2f`,
        /// `kafka://host:port` (or a bare Kafka bootstrap list).
        #[arg(long)]
        broker: Option<String>,
        /// The schema registry URL.
        #[arg(long)]
        registry: String,
        /// Start at the oldest message instead of the end.
        #[arg(long)]
        from_beginning: bool,
        /// Stop after this many messages.
        #[arg(long)]
        max: Option<u64>,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Produce JSON lines from stdin, in the form `evc tail` prints, as Confluent-framed Avro
    /// events keyed by their partition key (`evc tail ... | evc produce ...` copies a topic).
    Produce {
        #[arg(long)]
        topic: String,
        /// Kafka brokers, `host:port[,host:port...]`.
        #[arg(long, required_unless_present = "broker", conflicts_with = "broker")]
        bootstrap: Option<String>,
        /// Any broker by URL: `redis://host:port`, `amqp://user:pass@host:port/%2f`,
        /// `kafka://host:port` (or a bare Kafka bootstrap list).
        #[arg(long)]
        broker: Option<String>,
        #[arg(long)]
        registry: String,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Generate typed Rust events from the schema directory into the folder `[codegen] output`
    /// of its evc.toml names; with --check, change nothing and exit 1 (with a diff) when stale.
    Codegen {
        /// The schema directory (holding evc.toml).
        #[arg(long, default_value = "schemas")]
        root: PathBuf,
        #[arg(long)]
        check: bool,
    },
    /// Scaffold a contracts repository in DIR: evc.toml, an example event, a generated-events
    /// crate, a GitHub workflow for the gate. Writes nothing if any of its files exists.
    Init {
        /// Where to create it (default: the current folder).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The topic of the example event.
        #[arg(long, default_value = "events")]
        topic: String,
        /// The partition-key field every event of the topic carries.
        #[arg(long, default_value = "entity_id")]
        key: String,
        /// The Avro namespace (default: com.example.<topic>).
        #[arg(long)]
        namespace: Option<String>,
        /// The example event's record name.
        #[arg(long, default_value = "ExampleHappened")]
        event: String,
        /// A folder holding evc's crates (the `crates` folder of an evc checkout), to depend on
        /// them by path; without it the events crate depends on evc-avro by version.
        #[arg(long)]
        evc_path: Option<PathBuf>,
    },
    /// Load and validate the schema directory and list its events, versions and subjects.
    Schemas {
        /// The schema directory (holding evc.toml).
        #[arg(long, default_value = "schemas")]
        root: PathBuf,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Serve the Confluent REST API. Logs go to stderr: one INFO line per state change
    /// (registered, deleted, config or mode changed); per-request lines are DEBUG
    /// (`--log-filter evc_registry=debug`).
    Serve {
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: std::net::SocketAddr,
        /// `sqlite://PATH` (embedded, the default), `memory` (throwaway) or `postgres://...`
        /// (several servers may share one database).
        #[arg(long, default_value = "sqlite://evc-registry.db")]
        storage: String,
        /// Basic-auth users, one `user:password` per line.
        #[arg(long)]
        users_file: Option<PathBuf>,
        /// Name of an environment variable holding `user:password` lines.
        #[arg(long)]
        users_env: Option<String>,
        /// Refuse every write (42205).
        #[arg(long)]
        read_only: bool,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Make a registry match the schema directory: set each subject's compatibility level
    /// and register missing versions in order. Idempotent; reports what it did.
    Push {
        /// The registry (several URLs separated by commas fail over in order).
        #[arg(long)]
        url: String,
        /// The schema directory (holding evc.toml).
        #[arg(long, default_value = "schemas")]
        root: PathBuf,
        /// Say what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show drift between a registry and the schema directory; exit 1 when there is any.
    Diff {
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "schemas")]
        root: PathBuf,
    },
}

/// Exit status of a command that ran to the end.
pub enum Outcome {
    Ok,
    Failed,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Schemas { root } => schemas(&root),
        Command::Codegen { root, check } => codegen::run(&root, check),
        Command::Init {
            dir,
            topic,
            key,
            namespace,
            event,
            evc_path,
        } => init::run(init::InitOptions {
            dir,
            topic,
            key,
            namespace,
            event,
            evc_path,
        }),
        Command::Demo {
            bootstrap,
            broker,
            registry,
            database,
            metrics_listen,
            log,
        } => with_logs(&log, "evc-demo", Some("warn"), || {
            let opts = |bootstrap| evc_demo::DemoOptions {
                bootstrap,
                registry,
                database,
                metrics_listen,
            };
            match (bootstrap, broker) {
                (None, None) => demo(opts(None)),
                (b, u) => broker_url(b, u).and_then(|url| demo(opts(Some(url)))),
            }
        }),
        Command::Produce {
            topic,
            bootstrap,
            broker,
            registry,
            log,
        } => with_logs(&log, "evc-produce", None, || {
            let broker = broker_url(bootstrap, broker)?;
            produce::run(produce::ProduceArgs {
                topic,
                broker,
                registry,
            })
        }),
        Command::Tail {
            topic,
            bootstrap,
            broker,
            registry,
            from_beginning,
            max,
            log,
        } => with_logs(&log, "evc-tail", None, || {
            let broker = broker_url(bootstrap, broker)?;
            tail::run(tail::TailArgs {
                topic,
                broker,
                registry,
                from_beginning,
                max,
            })
        }),
        Command::Registry { command } => match command {
            RegistryCommand::Serve {
                listen,
                storage,
                users_file,
                users_env,
                read_only,
                log,
            } => with_logs(&log, "evc-registry", None, || {
                registry::serve(registry::ServeArgs {
                    listen,
                    storage,
                    users_file,
                    users_env,
                    read_only,
                })
            }),
            RegistryCommand::Push { url, root, dry_run } => sync::push(&root, &url, dry_run),
            RegistryCommand::Diff { url, root } => sync::diff(&root, &url),
        },
        Command::Compat {
            writer,
            reader,
            mode,
            new,
            existing,
            format,
        } => compat::run(writer, reader, mode, new, existing, format),
        Command::Check {
            root,
            against,
            full,
            format,
            no_generated,
        } => check::run(root, against, !full, format, no_generated),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The broker of `--bootstrap` (Kafka only) or `--broker` (any URL), checked.
fn broker_url(bootstrap: Option<String>, broker: Option<String>) -> anyhow::Result<String> {
    use evc_transport::Endpoint;
    match (bootstrap, broker) {
        (Some(b), None) => match Endpoint::parse(&b)? {
            Endpoint::Kafka { .. } => Ok(b),
            _ => anyhow::bail!(
                "--bootstrap takes Kafka brokers (host:port[,host:port]); give `{b}` with --broker"
            ),
        },
        (None, Some(url)) => {
            Endpoint::parse(&url)?;
            Ok(url)
        }
        (Some(_), Some(_)) => anyhow::bail!("give --bootstrap or --broker, not both"),
        (None, None) => anyhow::bail!("give --bootstrap (Kafka) or --broker URL"),
    }
}

/// Runs a long-running command with the process's logging set up from its flags (the
/// guard flushes exported spans when the command ends).
fn with_logs(
    log: &LogArgs,
    service: &str,
    quiet_default: Option<&str>,
    run: impl FnOnce() -> anyhow::Result<Outcome>,
) -> anyhow::Result<Outcome> {
    let _guard = log.init(service, quiet_default)?;
    run()
}

/// Loads the catalog, printing every problem rustc-style; `Err` (exit 2) when it is invalid.
pub fn load_catalog(root: &Path) -> anyhow::Result<evc_catalog::Catalog> {
    evc_catalog::Catalog::load(root).map_err(|d| {
        let mut sources = render::Sources::default();
        for x in &d.0 {
            eprint!("{}", render::render(x, &x.file, &mut sources));
        }
        anyhow::anyhow!("{} problem(s) in {}", d.0.len(), root.display())
    })
}

fn demo(opts: evc_demo::DemoOptions) -> anyhow::Result<Outcome> {
    let rt = tokio::runtime::Runtime::new()?;
    let mut out = std::io::stdout();
    rt.block_on(async {
        // with --metrics-listen the metrics stay served after the story until Ctrl-C; the
        // handler is installed before the story, so an early Ctrl-C is not a kill
        let interrupted = interrupted()?;
        evc_demo::run_until(opts, &mut out, interrupted).await
    })?;
    Ok(Outcome::Ok)
}

/// Completes on Ctrl-C (SIGINT); the handler is installed when this is called.
#[cfg(unix)]
fn interrupted() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| anyhow::anyhow!("installing the Ctrl-C handler: {e}"))?;
    Ok(async move {
        sigint.recv().await;
    })
}

#[cfg(not(unix))]
fn interrupted() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn schemas(root: &Path) -> anyhow::Result<Outcome> {
    let catalog = load_catalog(root)?;
    for topic in catalog.topics() {
        println!("topic {topic}");
        for e in catalog.topic_events(topic) {
            println!(
                "  {}  v{}  subject {}  {}  key {}",
                e.fullname,
                e.latest().number,
                e.subject,
                e.compatibility,
                e.partition_key
            );
        }
    }
    Ok(Outcome::Ok)
}
