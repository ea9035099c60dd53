//! `evc-dlq-replay`: sends the messages of a dead-letter destination back to the topics they
//! came from (see `evc_consumer::replay_dlq`), on any transport.
//!
//! ```text
//! evc-dlq-replay (--broker URL | --bootstrap-servers HOST:PORT[,...]) --dlq-topic TOPIC.dlq
//! ```
//!
//! Exit codes: 0 replayed (possibly nothing), 1 the replay failed, 2 bad arguments.

use std::process::ExitCode;

use evc_consumer::{replay_dlq, ReplayConfig};

const USAGE: &str = "usage: evc-dlq-replay (--broker redis://...|amqp://...|HOST:PORT | --bootstrap-servers HOST:PORT[,...]) --dlq-topic TOPIC.dlq";

fn parse(args: &[String]) -> Result<ReplayConfig, String> {
    let mut broker = None;
    let mut dlq = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--broker" | "--bootstrap-servers" => broker = Some(value()?),
            "--dlq-topic" => dlq = Some(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let broker = broker.ok_or("--broker (or --bootstrap-servers) is required")?;
    let dlq = dlq.ok_or("--dlq-topic is required")?;
    Ok(ReplayConfig::new(broker, dlq))
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
