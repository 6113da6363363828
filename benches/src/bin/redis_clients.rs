//! The Redis client alone, without tessera: the commands tessera's `RedisStore` sends per
//! request, through each of several clients, on a single-threaded runtime.
//!
//!   redis_clients <client> <op> <n>
//!
//! `op` is `load` (the EVALSHA of the store's load script on a key holding a 100-byte record
//! under its `<version>\n` header, the reply decoded as the store decodes it) or `save` (the
//! EVALSHA of the store's save script: the expected version, a 100-byte payload, a deadline an
//! hour away; each call passes the version the previous one returned). `client` is one of
//! [`CLIENTS`]. After one warm-up call (which loads the script into Redis) it runs `n` calls,
//! then deletes its key. Run under callgrind with `n` and `2n`, `(Ir(2n) - Ir(n)) / n` is what
//! one call costs the client, with start-up and shutdown cancelled out (`benches/run`, phase
//! `clients`). Redis: `BENCH_REDIS_URL` (`redis://127.0.0.1:6379/9`); the key is
//! `tessera-bench-clients:<pid>:<client>:<op>`.
//!
//! `op` `probe` instead sends `n` `GET`s, one every 100 ms, and prints each answer or failure:
//! run it while the server restarts to see whether the client comes back.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Cmd, FromRedisValue, RedisResult, Script, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;
use tower_sessions_redis_store::fred;

/// The clients measured, in the order the report shows them.
const CLIENTS: &[&str] = &[
    "manager-timeout",
    "manager",
    "manager-outer-timeout",
    "multiplexed",
    "multiplexed-no-timeout",
    "dedicated",
    "fred",
];

/// tessera's store timeout by default (`tessera::store::DEFAULT_STORE_TIMEOUT`).
const TIMEOUT: Duration = Duration::from_secs(3);

/// The store's own load script (`crates/tessera/src/store/redis/load.lua`).
const LOAD: &str = include_str!("../../../crates/tessera/src/store/redis/load.lua");

/// The store's own save script of the native layout (`crates/tessera/src/store/redis/save.lua`).
const SAVE: &str = include_str!("../../../crates/tessera/src/store/redis/save.lua");

/// What the load script returns for a live key, as the store reads it.
type Loaded = Option<(Vec<u8>, i64, i64, i64)>;

/// A connection of the client under test.
enum Client {
    /// `ConnectionManager` with or without a response timeout of its own, each call also under
    /// a tokio timeout (`Some`), as the store's `bounded` puts it, or not.
    Manager(ConnectionManager, Option<Duration>),
    /// `get_multiplexed_async_connection`, with its default response timeout or none.
    Multiplexed(MultiplexedConnection),
    /// One TCP connection of our own behind a mutex: the `redis` crate's command encoding and
    /// reply parser and nothing else (no reconnection, no timeout): the floor.
    Dedicated(tokio::sync::Mutex<Dedicated>),
    /// `fred`'s default client type, with a reconnection policy and a command timeout.
    Fred(fred::clients::Client),
}

struct Dedicated {
    stream: TcpStream,
    buf: BytesMut,
    codec: redis::ValueCodec,
}

impl Dedicated {
    async fn query(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        self.stream.write_all(&cmd.get_packed_command()).await?;
        loop {
            if let Some(value) = self.codec.decode(&mut self.buf)? {
                return value.extract_error();
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
        }
    }
}

fn unix_ms() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(now.as_millis()).expect("time")
}

async fn connect(name: &str, url: &str) -> Client {
    let client = redis::Client::open(url).expect("redis url");
    match name {
        "manager-timeout" | "manager" | "manager-outer-timeout" => {
            // `manager-outer-timeout` is how `RedisStore::connect` configures it: no response
            // timeout, the store's tokio timeout alone bounding each call. The other two keep
            // the response timeout the store set before.
            let response_timeout = (name != "manager-outer-timeout").then_some(TIMEOUT);
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(TIMEOUT))
                .set_response_timeout(response_timeout)
                .set_number_of_retries(2)
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500));
            let manager = ConnectionManager::new_with_config(client, config)
                .await
                .expect("connect");
            let outer = (name != "manager").then_some(TIMEOUT);
            Client::Manager(manager, outer)
        }
        "multiplexed" => Client::Multiplexed(
            client
                .get_multiplexed_async_connection()
                .await
                .expect("connect"),
        ),
        "multiplexed-no-timeout" => {
            let config = AsyncConnectionConfig::new().set_response_timeout(None);
            Client::Multiplexed(
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .expect("connect"),
            )
        }
        "dedicated" => {
            let info = client.get_connection_info();
            let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
                panic!("the dedicated client speaks plain TCP only");
            };
            let stream = TcpStream::connect((host.as_str(), *port))
                .await
                .expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut dedicated = Dedicated {
                stream,
                buf: BytesMut::with_capacity(4096),
                codec: redis::ValueCodec::default(),
            };
            let db = info.redis_settings().db();
            if db != 0 {
                let mut select = redis::cmd("SELECT");
                select.arg(db);
                dedicated.query(&select).await.expect("select");
            }
            Client::Dedicated(tokio::sync::Mutex::new(dedicated))
        }
        "fred" => {
            use fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy};
            let config = Config::from_url(url).expect("redis url");
            let client = Builder::from_config(config)
                .with_performance_config(|p| p.default_command_timeout = TIMEOUT)
                .with_connection_config(|c| c.connection_timeout = TIMEOUT)
                .set_policy(ReconnectPolicy::new_exponential(0, 50, 500, 2))
                .build()
                .expect("fred client");
            client.init().await.expect("connect");
            Client::Fred(client)
        }
        other => panic!("unknown client {other}; one of {CLIENTS:?}"),
    }
}

impl Client {
    /// One EVALSHA of `script` on `key` with `args`, as the store runs it.
    async fn eval<T: FromRedisValue>(&self, script: &Script, key: &str, args: &[&[u8]]) -> T {
        match self {
            Self::Manager(manager, timeout) => {
                let mut invocation = script.key(key);
                for arg in args {
                    invocation.arg(*arg);
                }
                let mut manager = manager.clone();
                let run = invocation.invoke_async(&mut manager);
                match timeout {
                    Some(after) => tokio::time::timeout(*after, run).await.expect("timeout"),
                    None => run.await,
                }
                .expect("evalsha")
            }
            Self::Multiplexed(connection) => {
                let mut invocation = script.key(key);
                for arg in args {
                    invocation.arg(*arg);
                }
                invocation
                    .invoke_async(&mut connection.clone())
                    .await
                    .expect("evalsha")
            }
            Self::Dedicated(dedicated) => {
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(script.get_hash()).arg(1).arg(key);
                for arg in args {
                    cmd.arg(*arg);
                }
                let value = dedicated.lock().await.query(&cmd).await.expect("evalsha");
                T::from_redis_value(value).expect("reply")
            }
            Self::Fred(client) => {
                use fred::interfaces::ClientLike;
                let mut values: Vec<fred::types::Value> = Vec::with_capacity(3 + args.len());
                values.push(script.get_hash().into());
                values.push(1.into());
                values.push(key.into());
                for arg in args {
                    values.push(fred::types::Value::Bytes(arg.to_vec().into()));
                }
                let command = fred::types::CustomCommand::new_static(
                    "EVALSHA",
                    fred::types::ClusterHash::Offset(2),
                    false,
                );
                let reply: fred::types::Value =
                    client.custom(command, values).await.expect("evalsha");
                T::from_redis_value(fred_to_redis(reply)).expect("reply")
            }
        }
    }
}

impl Client {
    /// One `GET key`, its failure as text: what `probe` sends.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let reply: RedisResult<Value> = match self {
            Self::Manager(manager, timeout) => {
                let mut manager = manager.clone();
                let run = cmd.query_async(&mut manager);
                match timeout {
                    Some(after) => match tokio::time::timeout(*after, run).await {
                        Ok(reply) => reply,
                        Err(_) => return Err("timed out".into()),
                    },
                    None => run.await,
                }
            }
            Self::Multiplexed(connection) => cmd.query_async(&mut connection.clone()).await,
            Self::Dedicated(dedicated) => dedicated.lock().await.query(&cmd).await,
            Self::Fred(client) => {
                use fred::interfaces::ClientLike;
                let command = fred::types::CustomCommand::new_static(
                    "GET",
                    fred::types::ClusterHash::FirstKey,
                    false,
                );
                let values: Vec<fred::types::Value> = vec![key.into()];
                return match client
                    .custom::<fred::types::Value, _>(command, values)
                    .await
                {
                    Ok(value) => Option::<Vec<u8>>::from_redis_value(fred_to_redis(value))
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
            }
        };
        reply
            .map_err(|e| e.to_string())
            .and_then(|v| Option::<Vec<u8>>::from_redis_value(v).map_err(|e| e.to_string()))
    }
}

/// `probe`: `n` `GET`s of the key, one every 100 ms, each answer or failure on a line of
/// stdout (`<ms since start> ok|error <reason>`): whether the client comes back after the
/// server restarts meanwhile.
async fn probe(client: &Client, key: &str, n: u64) {
    let start = std::time::Instant::now();
    for _ in 0..n {
        let line = match client.get(key).await {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("error {}", e.replace('\n', " ")),
        };
        println!("{} {line}", start.elapsed().as_millis());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fred reply as a `redis` value, so every client's reply is decoded by the same code.
fn fred_to_redis(value: fred::types::Value) -> Value {
    use fred::types::Value as F;
    match value {
        F::Null => Value::Nil,
        F::Integer(i) => Value::Int(i),
        F::Bytes(b) => Value::BulkString(b.to_vec()),
        F::String(s) => Value::BulkString(s.as_bytes().to_vec()),
        F::Array(items) => Value::Array(items.into_iter().map(fred_to_redis).collect()),
        other => panic!("unexpected reply {other:?}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, op, n] = &args[..] else {
        eprintln!("usage: redis_clients <client> <load|save|probe> <n>; clients: {CLIENTS:?}");
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("n");
    let url =
        std::env::var("BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/9".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let key = format!("tessera-bench-clients:{}:{name}:{op}", std::process::id());
        let payload = vec![b'x'; 100];
        // Set-up on a connection of its own, outside the client under test.
        let mut setup = redis::Client::open(url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let load = Script::new(LOAD);
        let save = Script::new(SAVE);
        let mut value = b"1\n".to_vec();
        value.extend_from_slice(&payload);
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(&value)
            .arg("PX")
            .arg(3_600_000)
            .query_async(&mut setup)
            .await
            .expect("seed");
        for script in [&load, &save] {
            let _: String = script
                .prepare_invoke()
                .load_async(&mut setup)
                .await
                .expect("script load");
        }
        let client = connect(name, &url).await;
        if op == "probe" {
            probe(&client, &key, n).await;
            // The server may be gone: the key expires by itself then.
            let _: RedisResult<i64> = redis::cmd("DEL").arg(&key).query_async(&mut setup).await;
            return;
        }
        let deadline = (unix_ms() + 3_600_000).to_string();
        let mut version: u64 = 1;
        // One warm-up call, then n.
        for _ in 0..=n {
            match op.as_str() {
                "load" => {
                    let loaded: Loaded = client.eval(&load, &key, &[]).await;
                    assert!(loaded.is_some(), "the key is gone");
                }
                "save" => {
                    let expected = version.to_string();
                    let written: u64 = client
                        .eval(
                            &save,
                            &key,
                            &[expected.as_bytes(), &payload, deadline.as_bytes()],
                        )
                        .await;
                    assert_eq!(written, version + 1, "conflict");
                    version = written;
                }
                other => panic!("unknown op {other}; load or save"),
            }
        }
        let _: i64 = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut setup)
            .await
            .expect("del");
        if let Client::Fred(client) = &client {
            use fred::interfaces::ClientLike;
            client.quit().await.expect("quit");
        }
    });
}
