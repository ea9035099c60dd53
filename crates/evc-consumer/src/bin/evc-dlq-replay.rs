//! `evc-dlq-replay`: sends the messages of a dead-letter topic back to the topics they came
//! from (see `evc_consumer::replay_dlq`).
//!
//! ```text
//! evc-dlq-replay --bootstrap-servers HOST:PORT[,...] --dlq-topic TOPIC
//!                [--target-topic TOPIC] [--group GROUP] [--idle-timeout-secs N]
//! ```
//!
//! Exit codes: 0 replayed (possibly nothing), 1 the replay failed, 2 bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use evc_consumer::{replay_dlq, ReplayConfig};

const USAGE: &str = "usage: evc-dlq-replay --bootstrap-servers HOST:PORT[,...] --dlq-topic TOPIC [--target-topic TOPIC] [--group GROUP] [--idle-timeout-secs N]";

fn parse(args: &[String]) -> Result<ReplayConfig, String> {
    let mut bootstrap = None;
    let mut dlq = None;
    let mut target = None;
    let mut group = None;
    let mut idle = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--bootstrap-servers" => bootstrap = Some(value()?),
            "--dlq-topic" => dlq = Some(value()?),
            "--target-topic" => target = Some(value()?),
            "--group" => group = Some(value()?),
            "--idle-timeout-secs" => {
                let v = value()?;
                idle = Some(
                    v.parse::<u64>()
                        .map_err(|_| format!("--idle-timeout-secs: `{v}` is not a number"))?,
                );
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let bootstrap = bootstrap.ok_or("--bootstrap-servers is required")?;
    let dlq = dlq.ok_or("--dlq-topic is required")?;
    let mut config = ReplayConfig::new(bootstrap, dlq);
    if let Some(t) = target {
        config = config.target_topic(t);
    }
    if let Some(g) = group {
        config = config.group_id(g);
    }
    if let Some(s) = idle {
        config = config.idle_timeout(Duration::from_secs(s));
    }
    Ok(config)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let config = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(replay_dlq(&config)) {
        Ok(report) => {
            println!("replayed {} message(s)", report.total());
            for (topic, n) in &report.replayed {
                println!("  {topic}: {n}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
