//! tessera and real Django 5.2 apps sharing server-side sessions through one store, over HTTP,
//! in both directions: the `db` engine on PostgreSQL (127.0.0.1:5111), on an SQLite file
//! (127.0.0.1:5112) and on MariaDB (127.0.0.1:5114, through PyMySQL), the `file` engine
//! (127.0.0.1:5113), the `cache` engine on Redis (127.0.0.1:5115) and on memcached
//! (127.0.0.1:5116, PyMemcacheCache), and `cached_db` on PostgreSQL with Redis as its cache
//! (127.0.0.1:5117). The Django apps are started by `scripts/services/python-interop.sh`; a
//! missing one skips loudly, or fails under `TESSERA_REQUIRE_SERVICES=1`.
#![cfg(all(
    feature = "postgres",
    feature = "sqlite",
    feature = "mysql",
    feature = "file",
    feature = "redis",
    feature = "memcached",
    feature = "conformance"
))]
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};
use tessera::clock::ManualClock;
use tessera::config::SessionConfigBuilder;
use tessera::interop::pickle::loads_dict;
use tessera::{Expiry, Profile, Session, SessionConfig, SessionLayer, Storage};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use tessera::conformance::server_or_skip;

const KEY: &str = "interop-live-secret-key-0123456789abcdef";
const OLD_KEY: &str = "interop-live-older-key-0123456789abcdef";

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn services_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/services")
}

/// One Django engine and where it keeps sessions.
#[derive(Debug, Clone)]
enum Backend {
    Postgres,
    Sqlite,
    MySql,
    File,
    /// The `cache` engine on Redis.
    CacheRedis,
    /// The `cache` engine on memcached.
    CacheMemcached,
    /// `cached_db`: PostgreSQL, with Redis as its cache.
    CachedDb,
}

impl Backend {
    fn django_url(&self) -> String {
        match self {
            Self::Postgres => env("TESSERA_DJANGO_DB_POSTGRES_URL", "http://127.0.0.1:5111"),
            Self::Sqlite => env("TESSERA_DJANGO_DB_SQLITE_URL", "http://127.0.0.1:5112"),
            Self::MySql => env("TESSERA_DJANGO_DB_MYSQL_URL", "http://127.0.0.1:5114"),
            Self::File => env("TESSERA_DJANGO_FILE_URL", "http://127.0.0.1:5113"),
            Self::CacheRedis => env("TESSERA_DJANGO_CACHE_REDIS_URL", "http://127.0.0.1:5115"),
            Self::CacheMemcached => env(
                "TESSERA_DJANGO_CACHE_MEMCACHED_URL",
                "http://127.0.0.1:5116",
            ),
            Self::CachedDb => env("TESSERA_DJANGO_CACHED_DB_URL", "http://127.0.0.1:5117"),
        }
    }

    fn postgres() -> String {
        env(
            "TESSERA_DJANGO_POSTGRES_URL",
            "postgres://postgres@127.0.0.1:5432/test",
        )
    }

    fn mysql() -> String {
        env(
            "TESSERA_DJANGO_MYSQL_URL",
            "mysql://root@127.0.0.1:3306/test",
        )
    }

    fn redis() -> String {
        env("TESSERA_DJANGO_REDIS_URL", "redis://127.0.0.1:6379/0")
    }

    fn memcached() -> String {
        env(
            "TESSERA_DJANGO_MEMCACHED_URL",
            "memcached://127.0.0.1:11211",
        )
    }

    fn sqlite_path() -> PathBuf {
        std::env::var("TESSERA_DJANGO_SQLITE_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|_| services_dir().join("django-sessions.sqlite3"))
    }

    fn file_dir() -> PathBuf {
        std::env::var("TESSERA_DJANGO_FILE_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|_| services_dir().join("django-file-sessions"))
    }

    /// The `SESSION_URL` of the store the Django app uses.
    fn session_url(&self) -> String {
        match self {
            Self::Postgres | Self::CachedDb => Self::postgres(),
            Self::Sqlite => format!("sqlite://{}", Self::sqlite_path().display()),
            Self::MySql => Self::mysql(),
            Self::File => format!("file://{}", Self::file_dir().display()),
            Self::CacheRedis => Self::redis(),
            Self::CacheMemcached => Self::memcached(),
        }
    }

    /// The cache the engine keeps its entries in: for `cache` tessera's `SESSION_URL`, for
    /// `cached_db` its `SESSION_CACHE_URL`.
    fn cache(&self) -> Option<Cache> {
        match self {
            Self::CacheRedis | Self::CachedDb => Some(Cache::Redis),
            Self::CacheMemcached => Some(Cache::Memcached),
            _ => None,
        }
    }

    /// Django's cache key for session `key`: `KEY_PREFIX:VERSION:` (Django's defaults, `""`
    /// and 1) and the engine's module name.
    fn cache_key(&self, key: &str) -> String {
        let engine = match self {
            Self::CachedDb => "cached_db",
            _ => "cache",
        };
        format!(":1:django.contrib.sessions.{engine}{key}")
    }

    /// The statement's placeholder for the session key.
    fn param(&self) -> &'static str {
        match self {
            Self::Postgres | Self::CachedDb => "$1",
            _ => "?",
        }
    }

    /// Runs `sql` (one parameter, [`Self::param`]: the session key) against Django's table.
    async fn execute(&self, sql: &str, key: &str) {
        macro_rules! run {
            ($pool:ty) => {
                sqlx::query(sql)
                    .bind(key)
                    .execute(&<$pool>::connect(&self.session_url()).await.unwrap())
                    .await
                    .unwrap()
                    .rows_affected()
            };
        }
        let changed = match self {
            Self::Postgres | Self::CachedDb => run!(sqlx::PgPool),
            Self::Sqlite => run!(sqlx::SqlitePool),
            Self::MySql => run!(sqlx::MySqlPool),
            Self::File | Self::CacheRedis | Self::CacheMemcached => {
                unreachable!("no table: files and cache entries are changed directly")
            }
        };
        assert_eq!(changed, 1, "{sql}");
    }

    /// Changes one character of the stored `session_data`, keeping its form; in a cache, cuts
    /// the pickle's last byte (its STOP), which neither Python nor tessera can then read.
    /// `cached_db` is tampered with in both places: Django trusts its cache entry over the row.
    async fn tamper(&self, key: &str) {
        if let Some(cache) = self.cache() {
            let entry_key = self.cache_key(key);
            // Both Django and tessera write the entry with the session.
            let entry = cache.get(&entry_key).await.expect("a cache entry");
            let cut = &entry.value[..entry.value.len() - 1];
            cache.set(&entry_key, cut, entry.flags, entry.ttl).await;
        }
        match self {
            Self::CacheRedis | Self::CacheMemcached => {}
            Self::File => {
                let path = Self::file_dir().join(format!("sessionid{key}"));
                let data = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, flip_first(&data)).unwrap();
            }
            _ => {
                // The second character (the payload's first after a compressed payload's `.`):
                // base64 stays base64, the signature fails.
                let sql = format!(
                    "UPDATE django_session SET session_data = concat(substr(session_data, 1, 1), \
                     CASE WHEN substr(session_data, 2, 1) = 'A' THEN 'B' ELSE 'A' END, \
                     substr(session_data, 3)) WHERE session_key = {}",
                    self.param()
                );
                self.execute(&sql, key).await;
            }
        }
    }

    /// Moves the session's deadline a minute into the past, as time passing would; a cache's
    /// entry has its TTL run out.
    async fn expire(&self, key: &str) {
        if let Some(cache) = self.cache() {
            cache.expire(&self.cache_key(key)).await;
        }
        match self {
            Self::CacheRedis | Self::CacheMemcached => {}
            Self::File => {
                // No `_session_expiry`: Django's deadline is the mtime plus SESSION_COOKIE_AGE.
                let path = Self::file_dir().join(format!("sessionid{key}"));
                let file = std::fs::File::options().write(true).open(path).unwrap();
                let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3660);
                file.set_modified(past).unwrap();
            }
            _ => {
                let minute_ago = match self {
                    Self::Postgres | Self::CachedDb => "now() - interval '1 minute'",
                    Self::Sqlite => "strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 minute')",
                    // Django keeps naive UTC in `datetime(6)`, whatever the server's time zone.
                    _ => "UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE",
                };
                let sql = format!(
                    "UPDATE django_session SET expire_date = {minute_ago} WHERE session_key = {}",
                    self.param()
                );
                self.execute(&sql, key).await;
            }
        }
    }
}

fn flip_first(data: &str) -> String {
    let mut bytes = data.as_bytes().to_vec();
    // Skip the `.` of a compressed payload.
    let at = usize::from(bytes[0] == b'.');
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// The cache a Django engine keeps its entries in, spoken to directly (not through tessera).
#[derive(Debug, Clone, Copy)]
enum Cache {
    Redis,
    Memcached,
}

/// One raw cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    value: Vec<u8>,
    /// memcached's client flags (pymemcache: 1 for a pickle); 0 on Redis.
    flags: u32,
    /// Seconds left.
    ttl: i64,
}

impl Cache {
    async fn redis() -> redis::aio::MultiplexedConnection {
        redis::Client::open(Backend::redis())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// One memcached meta command (and its data block, if any) and the reply's first line
    /// with the value that follows it, if any.
    async fn memcached(command: &str, data: Option<&[u8]>) -> (String, Option<Vec<u8>>) {
        let url = Backend::memcached();
        let addr = url.strip_prefix("memcached://").unwrap();
        let mut conn = BufReader::new(tokio::net::TcpStream::connect(addr).await.unwrap());
        let mut request = format!("{command}\r\n").into_bytes();
        if let Some(data) = data {
            request.extend_from_slice(data);
            request.extend_from_slice(b"\r\n");
        }
        conn.get_mut().write_all(&request).await.unwrap();
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        let line = line.trim_end().to_owned();
        let value = match line.strip_prefix("VA ") {
            Some(rest) => {
                let len: usize = rest.split(' ').next().unwrap().parse().unwrap();
                let mut value = vec![0; len + 2];
                conn.read_exact(&mut value).await.unwrap();
                value.truncate(len);
                Some(value)
            }
            None => None,
        };
        (line, value)
    }

    async fn get(self, key: &str) -> Option<Entry> {
        match self {
            Self::Redis => {
                let mut con = Self::redis().await;
                let value: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                let pttl: i64 = redis::cmd("PTTL")
                    .arg(key)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                value.map(|value| Entry {
                    value,
                    flags: 0,
                    ttl: pttl / 1000,
                })
            }
            Self::Memcached => {
                let (line, value) = Self::memcached(&format!("mg {key} f t v"), None).await;
                let value = value?;
                let token = |flag: char| -> i64 {
                    line.split(' ')
                        .find_map(|t| t.strip_prefix(flag))
                        .unwrap()
                        .parse()
                        .unwrap()
                };
                Some(Entry {
                    value,
                    flags: u32::try_from(token('f')).unwrap(),
                    ttl: token('t'),
                })
            }
        }
    }

    async fn set(self, key: &str, value: &[u8], flags: u32, ttl: i64) {
        match self {
            Self::Redis => {
                let () = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("EX")
                    .arg(ttl)
                    .query_async(&mut Self::redis().await)
                    .await
                    .unwrap();
            }
            Self::Memcached => {
                let command = format!("ms {key} {} F{flags} T{ttl}", value.len());
                let (line, _) = Self::memcached(&command, Some(value)).await;
                assert_eq!(line, "HD", "{command}");
            }
        }
    }

    /// Runs the entry's TTL out, as waiting would; an absent entry stays absent.
    async fn expire(self, key: &str) {
        match self {
            Self::Redis => {
                let _: i64 = redis::cmd("PEXPIRE")
                    .arg(key)
                    .arg(1)
                    .query_async(&mut Self::redis().await)
                    .await
                    .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            // A negative expiry expires the item at once (memcached's protocol.txt).
            Self::Memcached => drop(Self::memcached(&format!("mg {key} T-1"), None).await),
        }
        assert_eq!(self.get(key).await, None, "{key} outlived its TTL");
    }

    /// Removes the entry, from a `Drop` too: blocking, no runtime needed.
    fn delete_blocking(self, key: &str) {
        match self {
            Self::Redis => {
                if let Ok(mut con) =
                    redis::Client::open(Backend::redis()).and_then(|c| c.get_connection())
                {
                    let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(key).query(&mut con);
                }
            }
            Self::Memcached => {
                use std::io::{Read as _, Write as _};
                let url = Backend::memcached();
                let addr = url.strip_prefix("memcached://").unwrap();
                if let Ok(mut conn) = std::net::TcpStream::connect(addr) {
                    let _ = conn.write_all(format!("md {key}\r\n").as_bytes());
                    let _ = conn.read(&mut [0; 64]);
                }
            }
        }
    }
}

/// Removes a planted cache entry when dropped, whatever the test's outcome, so that no Django
/// app ever loads it.
struct Planted {
    cache: Cache,
    key: String,
}

impl Drop for Planted {
    fn drop(&mut self) {
        self.cache.delete_blocking(&self.key);
    }
}

async fn django(backend: &Backend) -> Option<String> {
    let url = backend.django_url();
    let health = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{url}/health"))
        .send()
        .await;
    server_or_skip(
        &format!("the Django {backend:?} interop app at {url}"),
        health.and_then(reqwest::Response::error_for_status),
    )?;
    Some(url)
}

fn routes() -> Router {
    Router::new()
        .route(
            "/all",
            get(|s: Session| async move {
                Json(json!({"data": s.data().as_ref(), "browser_close": s.expires_at_browser_close(), "expiry": s.expiry()}))
            }),
        )
        .route(
            "/put/{key}/{value}",
            get(
                |s: Session, Path((k, v)): Path<(String, String)>| async move {
                    s.insert(&k, v).unwrap();
                },
            ),
        )
        .route(
            "/types",
            get(|s: Session| async move {
                s.insert("int", 42).unwrap();
                s.insert("big", 9_007_199_254_740_993_u64).unwrap();
                s.insert("float", 1.5).unwrap();
                s.insert("text", "é✓ \"quoted\" <tag>").unwrap();
                s.insert("list", json!([1, "x", null, true])).unwrap();
                s.insert("nested", json!({"a": {"b": [false, 0.25]}})).unwrap();
                s.insert("empty", json!({})).unwrap();
            }),
        )
        .route(
            "/login/{user}",
            get(|s: Session, Path(user): Path<String>| async move {
                s.cycle_id();
                s.insert("_auth_user_id", user).unwrap();
            }),
        )
        .route("/flush", get(|s: Session| async move { s.flush() }))
        .route(
            "/expiry/{seconds}",
            get(|s: Session, Path(secs): Path<i64>| async move {
                s.set_expiry(Expiry::from_seconds(secs));
                s.insert("x", 1).unwrap();
            }),
        )
        .route(
            "/expiry-default",
            get(|s: Session| async move {
                s.set_expiry(Expiry::Default);
                s.insert("x", 1).unwrap();
            }),
        )
}

fn config(backend: &Backend) -> SessionConfigBuilder {
    let config = SessionConfig::builder()
        .secret_key(KEY)
        .fallback_key(OLD_KEY)
        .profile(Profile::Django)
        .cookie_name("sessionid")
        .lifetime(Duration::seconds(3600))
        .url(backend.session_url());
    match backend {
        Backend::CachedDb => config.cache_url(Backend::redis()),
        _ => config,
    }
}

/// A tessera app over the backend's store, on a free port.
async fn tessera(config: SessionConfigBuilder) -> String {
    let config = config.build().unwrap();
    let storage = Storage::from_config(&config).await.unwrap();
    let layer = SessionLayer::new(storage, config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes().layer(layer)).await.unwrap() });
    format!("http://{addr}")
}

/// GETs `url` with `cookie` (`name=value`); returns the JSON body and the cookie set, if any.
async fn call(url: &str, cookie: Option<&str>) -> (Value, Option<String>) {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let mut req = client.get(url);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    let res = req.send().await.unwrap();
    assert!(res.status().is_success(), "{url}: {}", res.status());
    let cookie = res
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| {
            v.to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .trim()
                .to_owned()
        })
        .next()
        .filter(|c| !c.ends_with('=') && !c.ends_with("=\"\""));
    let body = res.text().await.unwrap();
    (serde_json::from_str(&body).unwrap_or(Value::Null), cookie)
}

fn key_of(cookie: &str) -> &str {
    cookie.strip_prefix("sessionid=").unwrap()
}

fn types() -> Value {
    json!({
        "int": 42, "big": 9_007_199_254_740_993_u64, "float": 1.5, "text": "é✓ \"quoted\" <tag>",
        "list": [1, "x", null, true], "nested": {"a": {"b": [false, 0.25]}}, "empty": {}
    })
}

async fn values_cross_both_ways(backend: Backend) {
    let Some(django) = django(&backend).await else {
        return;
    };
    let rust = tessera(config(&backend)).await;

    // Written by Django, read by tessera.
    let (_, cookie) = call(&format!("{django}/types"), None).await;
    let cookie = cookie.unwrap();
    let key = key_of(&cookie);
    assert!(
        key.len() == 32
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{key}"
    );
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(seen["data"], types());

    // Written by tessera, read by Django: a Django session key, unsigned, in `sessionid`.
    let (_, cookie) = call(&format!("{rust}/types"), None).await;
    let cookie = cookie.unwrap();
    let key = key_of(&cookie);
    assert!(
        key.len() == 32
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "tessera made a Django key: {key}"
    );
    let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], types());
    assert_eq!(seen["expiry_age"], json!(3600));

    // A change on one side, then the other, on the same session.
    let (seen, _) = call(&format!("{django}/set/from/django"), Some(&cookie)).await;
    assert_eq!(seen["data"]["int"], json!(42));
    call(&format!("{rust}/put/from2/tessera"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"]["from"], json!("django"));
    assert_eq!(seen["data"]["from2"], json!("tessera"));
    assert_eq!(seen["data"]["nested"], types()["nested"]);
}

async fn logins_cross_both_ways(backend: Backend) {
    let Some(django) = django(&backend).await else {
        return;
    };
    let rust = tessera(config(&backend)).await;

    // Django logs in (cycle_key): tessera sees the user under the new key only.
    let (_, before) = call(&format!("{django}/set/cart/3"), None).await;
    let before = before.unwrap();
    let (_, after) = call(&format!("{django}/login/ada"), Some(&before)).await;
    let after = after.unwrap();
    assert_ne!(before, after);
    let (seen, _) = call(&format!("{rust}/all"), Some(&after)).await;
    assert_eq!(seen["data"], json!({"cart": "3", "_auth_user_id": "ada"}));
    let (seen, _) = call(&format!("{rust}/all"), Some(&before)).await;
    assert_eq!(seen["data"], json!({}), "the pre-login key is gone");

    // tessera logs in (cycle_id): Django sees the user under the new key only.
    let (_, before) = call(&format!("{rust}/put/cart/4"), None).await;
    let before = before.unwrap();
    let (_, after) = call(&format!("{rust}/login/grace"), Some(&before)).await;
    let after = after.unwrap();
    assert_ne!(before, after);
    let (seen, _) = call(&format!("{django}/get"), Some(&after)).await;
    assert_eq!(seen["data"], json!({"cart": "4", "_auth_user_id": "grace"}));
    let (seen, _) = call(&format!("{django}/get"), Some(&before)).await;
    assert_eq!(seen["data"], json!({}));

    // A logout on either side ends the session for both.
    let (_, reply) = call(&format!("{django}/logout"), Some(&after)).await;
    assert!(reply.is_none_or(|c| c != after));
    let (seen, _) = call(&format!("{rust}/all"), Some(&after)).await;
    assert_eq!(seen["data"], json!({}));
    let (_, cookie) = call(&format!("{django}/login/hopper"), None).await;
    let cookie = cookie.unwrap();
    call(&format!("{rust}/flush"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({}));
}

async fn tampering_is_refused_by_both(backend: Backend) {
    let Some(django) = django(&backend).await else {
        return;
    };
    let rust = tessera(config(&backend)).await;
    for writer in [&django, &rust] {
        let path = if writer == &django { "set" } else { "put" };
        let (_, cookie) = call(&format!("{writer}/{path}/a/1"), None).await;
        let cookie = cookie.unwrap();
        let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
        assert_eq!(seen["data"], json!({"a": "1"}));
        backend.tamper(key_of(&cookie)).await;
        let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
        assert_eq!(seen["data"], json!({}), "tessera read a tampered session");
        let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
        assert_eq!(seen["data"], json!({}), "Django read a tampered session");
    }
    // A key that was never issued is no session on either side, and tessera does not adopt it.
    let made_up = "sessionid=0123456789abcdefghijklmnopqrstuv";
    let (seen, _) = call(&format!("{django}/get"), Some(made_up)).await;
    assert_eq!(seen["data"], json!({}));
    let (seen, _) = call(&format!("{rust}/all"), Some(made_up)).await;
    assert_eq!(seen["data"], json!({}));
    let (_, cookie) = call(&format!("{rust}/put/a/1"), Some(made_up)).await;
    assert_ne!(cookie.unwrap(), made_up, "tessera adopted the client's key");
}

async fn expiry_agrees(backend: Backend) {
    let Some(django) = django(&backend).await else {
        return;
    };
    let rust = tessera(config(&backend)).await;
    // set_expiry(seconds) and set_expiry(0), from each side.
    for (seconds, browser_close) in [(0, true), (300, false)] {
        let (_, cookie) = call(&format!("{rust}/expiry/{seconds}"), None).await;
        let (seen, _) = call(&format!("{django}/get"), Some(&cookie.unwrap())).await;
        assert_eq!(seen["browser_close"], json!(browser_close), "{seconds}");
        assert_eq!(
            seen["expiry_age"],
            json!(if seconds == 0 { 3600 } else { seconds })
        );
        let (_, cookie) = call(&format!("{django}/expiry/{seconds}"), None).await;
        let (seen, _) = call(&format!("{rust}/all"), Some(&cookie.unwrap())).await;
        assert_eq!(seen["browser_close"], json!(browser_close), "{seconds}");
        assert_eq!(
            seen["expiry"],
            serde_json::to_value(Expiry::from_seconds(seconds)).unwrap()
        );
    }
    // set_expiry(None): back to the global default on both sides.
    let (_, cookie) = call(&format!("{django}/expiry/300"), None).await;
    let cookie = cookie.unwrap();
    call(&format!("{rust}/expiry-default"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
    assert_eq!(seen["expiry_age"], json!(3600));
    call(&format!("{django}/expiry-default"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(
        seen["expiry"],
        serde_json::to_value(Expiry::Default).unwrap()
    );

    // An expired session is no session on either side, whoever wrote it.
    for writer in [&django, &rust] {
        let path = if writer == &django { "set" } else { "put" };
        let (_, cookie) = call(&format!("{writer}/{path}/a/1"), None).await;
        let cookie = cookie.unwrap();
        backend.expire(key_of(&cookie)).await;
        let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
        assert_eq!(seen["data"], json!({}), "tessera loaded an expired session");
        let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
        assert_eq!(seen["data"], json!({}), "Django loaded an expired session");
    }
    // A session tessera saved with a clock an hour and two minutes behind has already expired
    // by the real clock: Django does not load it either. Not on memcached, whose TTLs are
    // relative: tessera's clock gives an hour left, and memcached counts that hour itself
    // (Redis is sent the deadline and counts on its own clock).
    if matches!(backend, Backend::CacheMemcached) {
        return;
    }
    let clock = ManualClock::new(OffsetDateTime::now_utc() - Duration::seconds(3600 + 120));
    let old = tessera(config(&backend).clock(Arc::new(clock))).await;
    let (_, cookie) = call(&format!("{old}/put/a/1"), None).await;
    let (seen, _) = call(&format!("{django}/get"), Some(&cookie.unwrap())).await;
    assert_eq!(seen["data"], json!({}));
}

/// One module of tests per backend, one test per case.
macro_rules! per_backend {
    ($cases:tt for $($module:ident => $backend:ident),* $(,)?) => {
        $(per_backend!(@module $module $backend $cases);)*
    };
    (@module $module:ident $backend:ident [$($case:ident),* $(,)?]) => {
        mod $module {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case(super::Backend::$backend).await })*
        }
    };
}

per_backend!(
    [
        values_cross_both_ways,
        logins_cross_both_ways,
        tampering_is_refused_by_both,
        expiry_agrees,
    ] for
    postgres => Postgres,
    sqlite => Sqlite,
    mysql => MySql,
    file => File,
    cache_redis => CacheRedis,
    cache_memcached => CacheMemcached,
    cached_db => CachedDb,
);

/// tessera's `migrate=true` on MariaDB makes the table Django's `migrate sessions` made for the
/// app on port 5114: the same `SHOW CREATE TABLE`, made in a database of its own.
#[tokio::test]
async fn mysql_migrate_makes_djangos_table() {
    if django(&Backend::MySql).await.is_none() {
        return;
    }
    let url = Backend::mysql();
    let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
    let show = |table: &str| format!("SHOW CREATE TABLE {table}");
    let (_, djangos): (String, String) = sqlx::query_as(&show("`django_session`"))
        .fetch_one(&pool)
        .await
        .unwrap();
    let scratch = format!("tessera_django_{}", std::process::id());
    sqlx::query(&format!("CREATE DATABASE `{scratch}`"))
        .execute(&pool)
        .await
        .unwrap();
    let server = url.rsplit_once('/').unwrap().0;
    let config = config(&Backend::MySql)
        .url(format!("{server}/{scratch}?migrate=true"))
        .build()
        .unwrap();
    let opened = Storage::from_config(&config).await.map(|_| ());
    let ours: Result<(String, String), _> =
        sqlx::query_as(&show(&format!("`{scratch}`.`django_session`")))
            .fetch_one(&pool)
            .await;
    sqlx::query(&format!("DROP DATABASE `{scratch}`"))
        .execute(&pool)
        .await
        .unwrap();
    opened.unwrap();
    assert_eq!(ours.unwrap().1, djangos);
}

/// The dict under a cache entry, as `pickle.loads` reads it.
fn unpickled(entry: &Entry) -> Value {
    serde_json::to_value(loads_dict(&entry.value).unwrap()).unwrap()
}

/// Django's `cache` engine keeps `pickle.dumps(session_dict)` under
/// `:1:django.contrib.sessions.cache<key>` with the session's age as its TTL (on memcached
/// with pymemcache's pickle flag, 1), whatever its JSON `SESSION_SERIALIZER`; tessera writes
/// the same.
async fn cache_entries_are_pickled_dicts(backend: Backend) {
    let Some(django) = django(&backend).await else {
        return;
    };
    let rust = tessera(config(&backend)).await;
    let cache = backend.cache().unwrap();
    for (writer, path) in [(&django, "set"), (&rust, "put")] {
        let (_, cookie) = call(&format!("{writer}/{path}/a/1"), None).await;
        let cookie = cookie.unwrap();
        let entry = cache.get(&backend.cache_key(key_of(&cookie))).await;
        let entry = entry.expect("an entry under Django's cache key");
        assert_eq!(
            entry.value[0], 0x80,
            "{writer}: pickle's PROTO opcode first"
        );
        assert_eq!(unpickled(&entry), json!({"a": "1"}), "{writer}");
        assert!(
            (3590..=3600).contains(&entry.ttl),
            "{writer}: {}",
            entry.ttl
        );
        let flags = if matches!(cache, Cache::Memcached) {
            1
        } else {
            0
        };
        assert_eq!(entry.flags, flags, "{writer}");
    }
}

/// `pickle.dumps(os.system)` applied to `command`, built by hand: protocol 4, GLOBAL
/// `posix.system`, SHORT_BINUNICODE `command`, TUPLE1, REDUCE, STOP. `pickle.loads` runs it.
fn os_system_pickle(command: &str) -> Vec<u8> {
    let mut pickle = b"\x80\x04cposix\nsystem\n\x8c".to_vec();
    pickle.push(u8::try_from(command.len()).unwrap());
    pickle.extend_from_slice(command.as_bytes());
    pickle.extend_from_slice(b"\x85R.");
    pickle
}

/// A pickle that would run `os.system`, planted under a Django session's cache entry: tessera
/// answers with a fresh session of its own, runs nothing, and leaves the planted bytes alone.
async fn a_planted_pickle_runs_nothing(backend: Backend) {
    let Some(django) = django(&backend).await else {
        return;
    };
    let rust = tessera(config(&backend)).await;
    let cache = backend.cache().unwrap();
    let (_, cookie) = call(&format!("{django}/set/a/1"), None).await;
    let cookie = cookie.unwrap();
    let marker = std::env::temp_dir().join(format!(
        "tessera-pwned-{}-{}",
        std::process::id(),
        key_of(&cookie)
    ));
    let plant = os_system_pickle(&format!("echo pwned > {}", marker.display()));
    let planted = Planted {
        cache,
        key: backend.cache_key(key_of(&cookie)),
    };
    // Django must never load it (it would run the command): a short TTL, and `planted`
    // removes it when the test ends, whatever the outcome.
    cache.set(&planted.key, &plant, 1, 60).await;

    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({}), "tessera read the planted pickle");
    let (_, fresh) = call(&format!("{rust}/put/b/2"), Some(&cookie)).await;
    let fresh = fresh.expect("tessera's fresh session");
    assert_ne!(fresh, cookie, "tessera wrote over the planted entry's key");
    let (seen, _) = call(&format!("{rust}/all"), Some(&fresh)).await;
    assert_eq!(seen["data"], json!({"b": "2"}));
    let entry = cache.get(&planted.key).await.expect("the planted entry");
    assert_eq!(entry.value, plant, "the planted entry was changed");
    assert!(
        !marker.exists(),
        "{} exists: the pickle ran",
        marker.display()
    );
}

/// A Django session holding a value only pickle keeps (a `datetime`) is unreadable to
/// tessera: it starts a fresh session under a new key, and Django's entry is left as it was.
async fn a_pickled_datetime_stays_djangos(backend: Backend) {
    let Some(django) = django(&backend).await else {
        return;
    };
    let rust = tessera(config(&backend)).await;
    let cache = backend.cache().unwrap();
    let when = json!({"when": "2030-01-02T03:04:05Z"});
    let (seen, cookie) = call(&format!("{django}/set-datetime/when"), None).await;
    assert_eq!(seen["data"], when);
    let cookie = cookie.unwrap();
    let entry_key = backend.cache_key(key_of(&cookie));
    let before = cache.get(&entry_key).await.unwrap();
    assert!(
        before.value.windows(8).any(|w| w == b"datetime"),
        "Django pickled a datetime"
    );

    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({}));
    let (_, fresh) = call(&format!("{rust}/put/b/2"), Some(&cookie)).await;
    assert_ne!(fresh.unwrap(), cookie, "tessera wrote over Django's entry");
    assert_eq!(cache.get(&entry_key).await.unwrap().value, before.value);
    let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], when, "Django lost its datetime");
}

per_backend!(
    [
        cache_entries_are_pickled_dicts,
        a_planted_pickle_runs_nothing,
        a_pickled_datetime_stays_djangos,
    ] for
    cache_redis_entries => CacheRedis,
    cache_memcached_entries => CacheMemcached,
);

/// `cached_db`: a logout through tessera removes Django's cache entry with the row, so
/// Django's very next request with the old cookie is anonymous, though Django had the session
/// in its cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_db_a_tessera_logout_reaches_django_at_once() {
    let backend = Backend::CachedDb;
    let Some(django) = django(&backend).await else {
        return;
    };
    let rust = tessera(config(&backend)).await;
    let cache = Cache::Redis;
    for logout in ["flush", "login/other"] {
        let (_, cookie) = call(&format!("{django}/login/ada"), None).await;
        let cookie = cookie.unwrap();
        let entry_key = backend.cache_key(key_of(&cookie));
        let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
        assert_eq!(seen["data"], json!({"_auth_user_id": "ada"}));
        let entry = cache.get(&entry_key).await.expect("Django's cache entry");
        assert_eq!(unpickled(&entry), json!({"_auth_user_id": "ada"}));

        // A flush, or a login that cycles the key: the old key is gone everywhere.
        call(&format!("{rust}/{logout}"), Some(&cookie)).await;
        assert_eq!(
            cache.get(&entry_key).await,
            None,
            "{logout}: the entry is left"
        );
        let rows: i64 =
            sqlx::query_scalar("SELECT count(*) FROM django_session WHERE session_key = $1")
                .bind(key_of(&cookie))
                .fetch_one(&sqlx::PgPool::connect(&Backend::postgres()).await.unwrap())
                .await
                .unwrap();
        assert_eq!(rows, 0, "{logout}: the row is left");
        let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
        assert_eq!(seen["data"], json!({}), "{logout}: Django still saw ada");
    }
}

/// `cached_db`: a value tessera changes is what Django's next request sees, not Django's
/// cached copy; the entry holds the new dict, pickled, for the session's age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_db_a_tessera_write_reaches_django_at_once() {
    let backend = Backend::CachedDb;
    let Some(django) = django(&backend).await else {
        return;
    };
    let rust = tessera(config(&backend)).await;
    let cache = Cache::Redis;
    let (_, cookie) = call(&format!("{django}/login/grace"), None).await;
    let cookie = cookie.unwrap();
    let entry_key = backend.cache_key(key_of(&cookie));
    let (seen, _) = call(&format!("{django}/set/cart/1"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"_auth_user_id": "grace", "cart": "1"}));
    let entry = cache.get(&entry_key).await.expect("Django's cache entry");
    assert_eq!(unpickled(&entry), seen["data"]);

    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"_auth_user_id": "grace", "cart": "1"}));
    call(&format!("{rust}/put/cart/2"), Some(&cookie)).await;
    let want = json!({"_auth_user_id": "grace", "cart": "2"});
    let entry = cache
        .get(&entry_key)
        .await
        .expect("tessera's write left no entry");
    assert_eq!(unpickled(&entry), want);
    assert!((3590..=3600).contains(&entry.ttl), "{}", entry.ttl);
    let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], want, "Django read its stale copy");

    // And a session tessera starts is in Django's cache from its first write.
    let (_, cookie) = call(&format!("{rust}/put/a/1"), None).await;
    let cookie = cookie.unwrap();
    let entry = cache.get(&backend.cache_key(key_of(&cookie))).await;
    assert_eq!(unpickled(&entry.unwrap()), json!({"a": "1"}));
    let (seen, _) = call(&format!("{django}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"a": "1"}));
}
