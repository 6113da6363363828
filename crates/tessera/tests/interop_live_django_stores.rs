//! tessera and real Django 5.2 apps sharing server-side sessions through one store, over HTTP,
//! in both directions: the `db` engine on PostgreSQL (127.0.0.1:5111), on an SQLite file
//! (127.0.0.1:5112) and on MariaDB (127.0.0.1:5114, through PyMySQL), and the `file` engine
//! (127.0.0.1:5113). The Django apps are started by `scripts/services/python-interop.sh`; a
//! missing one skips loudly, or fails under `TESSERA_REQUIRE_SERVICES=1`.
#![cfg(all(
    feature = "postgres",
    feature = "sqlite",
    feature = "mysql",
    feature = "file",
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
use tessera::{Expiry, Profile, Session, SessionConfig, SessionLayer, Storage};
use time::{Duration, OffsetDateTime};

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
}

impl Backend {
    fn django_url(&self) -> String {
        match self {
            Self::Postgres => env("TESSERA_DJANGO_DB_POSTGRES_URL", "http://127.0.0.1:5111"),
            Self::Sqlite => env("TESSERA_DJANGO_DB_SQLITE_URL", "http://127.0.0.1:5112"),
            Self::MySql => env("TESSERA_DJANGO_DB_MYSQL_URL", "http://127.0.0.1:5114"),
            Self::File => env("TESSERA_DJANGO_FILE_URL", "http://127.0.0.1:5113"),
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
            Self::Postgres => Self::postgres(),
            Self::Sqlite => format!("sqlite://{}", Self::sqlite_path().display()),
            Self::MySql => Self::mysql(),
            Self::File => format!("file://{}", Self::file_dir().display()),
        }
    }

    /// The statement's placeholder for the session key.
    fn param(&self) -> &'static str {
        match self {
            Self::Postgres => "$1",
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
            Self::Postgres => run!(sqlx::PgPool),
            Self::Sqlite => run!(sqlx::SqlitePool),
            Self::MySql => run!(sqlx::MySqlPool),
            Self::File => unreachable!("files are changed directly"),
        };
        assert_eq!(changed, 1, "{sql}");
    }

    /// Changes one character of the stored `session_data`, keeping its form.
    async fn tamper(&self, key: &str) {
        match self {
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

    /// Moves the session's deadline a minute into the past, as time passing would.
    async fn expire(&self, key: &str) {
        match self {
            Self::File => {
                // No `_session_expiry`: Django's deadline is the mtime plus SESSION_COOKIE_AGE.
                let path = Self::file_dir().join(format!("sessionid{key}"));
                let file = std::fs::File::options().write(true).open(path).unwrap();
                let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3660);
                file.set_modified(past).unwrap();
            }
            _ => {
                let minute_ago = match self {
                    Self::Postgres => "now() - interval '1 minute'",
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
    SessionConfig::builder()
        .secret_key(KEY)
        .fallback_key(OLD_KEY)
        .profile(Profile::Django)
        .cookie_name("sessionid")
        .lifetime(Duration::seconds(3600))
        .url(backend.session_url())
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
    // by the real clock: Django does not load it either.
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
