//! `cargo run -p tessera-demo --bin demo-load -- [--addr 127.0.0.1:3000] [--clients 16]
//! [--requests 100000] [--seconds 60]`: drives a running demo (see [`tessera_demo::load`]) and
//! prints what it saw. Exits 1 if any session lost an acknowledged count.

use std::time::Duration;

use tessera_demo::load::{self, Outcome, Plan, Stop};

#[tokio::main]
async fn main() {
    match run().await {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(error) => {
            eprintln!("demo-load: {error}");
            std::process::exit(2);
        }
    }
}

struct Args {
    addr: String,
    clients: usize,
    requests: u64,
    seconds: u64,
}

/// The arguments; `None` after `--help` was printed.
fn args() -> Result<Option<Args>, String> {
    let mut parsed = Args {
        addr: "127.0.0.1:3000".to_owned(),
        clients: 16,
        requests: 100_000,
        seconds: 60,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--addr" => parsed.addr = value("--addr")?,
            "--clients" => {
                parsed.clients = value("--clients")?
                    .parse()
                    .map_err(|e| format!("--clients: {e}"))?;
            }
            "--requests" => {
                parsed.requests = value("--requests")?
                    .parse()
                    .map_err(|e| format!("--requests: {e}"))?;
            }
            "--seconds" => {
                parsed.seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?;
            }
            "-h" | "--help" => {
                println!(
                    "demo-load [--addr 127.0.0.1:3000] [--clients 16] [--requests 100000] [--seconds 60]\n\n\
                     Sends GET /counter from many clients, each in its own session, to a demo on a\n\
                     loopback address, and checks that no acknowledged count was lost."
                );
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(Some(parsed))
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let Some(args) = args()? else {
        return Ok(true);
    };
    let plan = Plan::new(&format!("http://{}", args.addr))?
        .clients(args.clients)
        .max_requests(args.requests)
        .max_duration(Duration::from_secs(args.seconds));
    let report = load::run(&plan, &Stop::new()).await?;
    let ok = report.count_counted();
    let latencies = report.samples.iter().map(|s| s.latency);
    println!(
        "{} requests in {:.1} s: {ok} answered 200, {} unanswered, {} other statuses; p50 {:?}, p99 {:?}",
        report.samples.len(),
        report.elapsed.as_secs_f64(),
        report.count(Outcome::NoResponse),
        report.samples.len() - ok - report.count(Outcome::NoResponse),
        load::percentile(latencies.clone(), 50.0),
        load::percentile(latencies, 99.0),
    );
    let lost: usize = report.clients.iter().map(|c| c.regressions.len()).sum();
    let fresh: usize = report.clients.iter().map(|c| c.fresh_starts.len()).sum();
    let over: usize = report.clients.iter().map(|c| c.overcounts.len()).sum();
    println!("{} sessions: {lost} lost counts, {fresh} sessions started afresh, {over} counts above the requests sent", report.clients.len());
    Ok(lost == 0 && over == 0)
}
