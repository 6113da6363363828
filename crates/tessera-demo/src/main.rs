//! `cargo run -p tessera-demo [-- --addr 127.0.0.1:3000]`

use std::net::SocketAddr;

use tessera::config::SessionConfigBuilder;
use tessera::crypto::SecretKey;
use tessera::SessionLayer;
use tracing_subscriber::EnvFilter;

/// Where the demo listens unless `--addr` or `TESSERA_DEMO_ADDR` says otherwise.
const DEFAULT_ADDR: &str = "127.0.0.1:3000";
/// The store unless `SESSION_URL` says otherwise: an SQLite file in the working directory, so
/// sessions survive a restart and no server is needed.
const DEFAULT_URL: &str = "sqlite://tessera-demo.db";
/// Where the demo keeps the key it generated when `SECRET_KEY` is unset.
const KEY_FILE: &str = "tessera-demo.key";

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    if let Err(error) = run().await {
        // tessera's errors say what failed and keep the cause as their source: print them all.
        let mut line = format!("tessera-demo: {error}");
        let mut source = error.source();
        while let Some(cause) = source {
            line.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        eprintln!("{line}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = addr_from_args()?
        .or_else(|| std::env::var("TESSERA_DEMO_ADDR").ok())
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned())
        .parse()
        .map_err(|e| format!("bad listen address: {e}"))?;
    let mut builder = SessionConfigBuilder::from_env()?;
    if std::env::var_os("SESSION_URL").is_none() {
        builder = builder.url(DEFAULT_URL);
    }
    if std::env::var_os("SECRET_KEY").is_none() {
        tracing::warn!(
            "SECRET_KEY is not set: using a random key kept in {KEY_FILE}; set SECRET_KEY in production"
        );
        builder = builder.secret_key(demo_key()?);
    }
    if std::env::var_os("SESSION_RECORD_DEVICES").is_none() {
        // The "your sessions" page shows each session's browser and address.
        builder = builder.record_devices(true);
    }
    let config = builder.build()?;
    tracing::info!(storage = %tessera_demo::redacted(config.url()), "opening session storage");
    let info = tessera_demo::PageInfo::for_url(config.url()).with_cache_url(config.cache_url());
    let layer = SessionLayer::from_config(config).await?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("tessera demo on http://{}", listener.local_addr()?);
    let app = tessera_demo::app_with(layer, info);
    // The peer address, for the device each session was last used from.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// The key in [`KEY_FILE`], made from the OS CSPRNG (and saved, readable by this user only)
/// the first time.
fn demo_key() -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    match std::fs::read(KEY_FILE) {
        Ok(key) => return Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {KEY_FILE}: {e}").into()),
    }
    let key = SecretKey::generate()?.expose().to_vec();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(KEY_FILE)
        .map_err(|e| format!("cannot create {KEY_FILE}: {e}"))?;
    file.write_all(&key)?;
    Ok(key)
}

fn addr_from_args() -> Result<Option<String>, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                addr = Some(
                    args.next()
                        .ok_or("--addr needs a value, e.g. 127.0.0.1:3000")?,
                );
            }
            a if a.starts_with("--addr=") => addr = Some(a["--addr=".len()..].to_owned()),
            "-h" | "--help" => {
                println!("tessera-demo [--addr HOST:PORT]\n\nServes the demo (default {DEFAULT_ADDR}; also TESSERA_DEMO_ADDR).\nSession settings come from SECRET_KEY, SESSION_URL (default {DEFAULT_URL})\nand the other SESSION_* variables.");
                #[allow(clippy::exit)] // `--help` ends the program, as in any command-line tool
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    Ok(addr)
}
