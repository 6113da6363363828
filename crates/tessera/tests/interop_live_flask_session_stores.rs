//! tessera and real Flask apps with Flask-Session 0.8 sharing sessions through MongoDB
//! (`SESSION_TYPE="mongodb"`), SQLAlchemy tables on PostgreSQL, SQLite and MariaDB
//! (`SESSION_TYPE="sqlalchemy"`, PyMySQL) and cachelib's files (`SESSION_TYPE="filesystem"`),
//! over HTTP in both directions. The Python apps are started by
//! `scripts/services/python-interop.sh` (ports 5121, 5122, 5123, 5124, 5125).
#![allow(clippy::unwrap_used)]
#![cfg(all(
    feature = "conformance",
    any(
        feature = "mongodb",
        feature = "postgres",
        feature = "sqlite",
        feature = "mysql",
        feature = "file"
    )
))]

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};
use tessera::crypto::{KeyRing, SecretKey};
use tessera::store::{OpenOptions, SharedStore};
use tessera::{ExpiryPolicy, Profile, Session, SessionConfig, SessionLayer, Storage};
use time::{Duration, OffsetDateTime};

use tessera::conformance::server_or_skip;

const KEY: &str = "interop-live-secret-key-0123456789abcdef";
const PREFIX: &str = "tessera-interop:";
/// The Flask apps' `PERMANENT_SESSION_LIFETIME`.
const LIFETIME: i64 = 3600;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The workspace's `target/services`, where the script keeps the SQLite app's database.
fn services_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/services")
}

/// The Python app's URL and the store URL a tessera app shares with it.
fn backend(name: &str) -> (String, String) {
    match name {
        "mongodb" => (
            env("TESSERA_FLASK_SESSION_MONGODB_URL", "http://127.0.0.1:5122"),
            env("TESSERA_MONGODB_URL", "mongodb://127.0.0.1:27018"),
        ),
        "postgres" => (
            env(
                "TESSERA_FLASK_SESSION_POSTGRES_URL",
                "http://127.0.0.1:5123",
            ),
            env(
                "TESSERA_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            ),
        ),
        "mysql" => (
            env("TESSERA_FLASK_SESSION_MYSQL_URL", "http://127.0.0.1:5125"),
            env("TESSERA_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
        ),
        "filesystem" => (
            env(
                "TESSERA_FLASK_SESSION_FILESYSTEM_URL",
                "http://127.0.0.1:5121",
            ),
            format!("file://{}", file_dir().display()),
        ),
        _ => (
            env("TESSERA_FLASK_SESSION_SQLITE_URL", "http://127.0.0.1:5124"),
            format!(
                "sqlite://{}",
                services_dir().join("flask-session.db").display()
            ),
        ),
    }
}

/// The filesystem app's `SESSION_FILE_DIR`.
fn file_dir() -> std::path::PathBuf {
    std::env::var("TESSERA_FLASK_SESSION_FILE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| services_dir().join("flask-session-files"))
}

async fn python(url: &str, what: &str) -> Option<String> {
    let health = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{url}/health"))
        .send()
        .await;
    server_or_skip(what, health.and_then(reqwest::Response::error_for_status))?;
    Some(url.to_owned())
}

fn routes() -> Router {
    Router::new()
        .route(
            "/all",
            get(|s: Session| async move {
                Json(json!({"data": s.data().as_ref(), "permanent": s.is_permanent()}))
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
        .route("/flush", get(|s: Session| async move { s.flush() }))
}

fn options() -> OpenOptions {
    OpenOptions::default().with_key_prefix(PREFIX).with_profile(
        Profile::FlaskSession,
        ExpiryPolicy::new(Duration::seconds(LIFETIME), true),
    )
}

/// The Flask-Session app on `name`, a tessera app on the same store, and a direct handle on
/// that store.
async fn pair(name: &str) -> Option<(String, String, SharedStore)> {
    let (python_url, store_url) = backend(name);
    let python = python(&python_url, &format!("the Flask-Session app on {name}")).await?;
    // These Flask apps set SESSION_USE_SIGNER=True, which is not Flask-Session's default.
    let config = SessionConfig::builder()
        .secret_key(KEY)
        .profile(Profile::FlaskSession)
        .sign_id(true)
        .url(store_url.clone())
        .key_prefix(PREFIX)
        .lifetime(Duration::seconds(LIFETIME))
        .build()
        .unwrap();
    let storage = Storage::from_config(&config).await.unwrap();
    let layer = SessionLayer::new(storage, config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes().layer(layer)).await.unwrap() });
    let store = tessera::store::open(&store_url, &options()).await.unwrap();
    Some((python, format!("http://{addr}"), store))
}

/// GETs `url` with `cookie` (`name=value`); returns the JSON body and the new cookie pair.
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
        .filter(|c| !c.ends_with('='));
    let body = res.text().await.unwrap();
    (serde_json::from_str(&body).unwrap_or(Value::Null), cookie)
}

fn tamper(cookie: &str) -> String {
    let mut bytes = cookie.as_bytes().to_vec();
    let at = bytes.len() - 3;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// The session id in a signed id cookie (`session=<id>.<signature>`).
fn id_of(cookie: &str) -> tessera::SessionId {
    let value = cookie.split_once('=').unwrap().1;
    let keys = KeyRing::new(SecretKey::new(KEY).unwrap());
    tessera::interop::flask_session::unsign_id(&keys, value)
        .unwrap()
        .0
}

async fn shares_logins_both_ways(name: &str) {
    let Some((python, rust, _)) = pair(name).await else {
        return;
    };
    let (_, cookie) = call(&format!("{python}/login/ada"), None).await;
    let cookie = cookie.unwrap();
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"user": "ada"}));
    assert_eq!(seen["permanent"], json!(true));
    let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;

    let (_, cookie) = call(&format!("{rust}/put/user/grace"), None).await;
    let cookie = cookie.unwrap();
    let (seen, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"user": "grace"}));
    assert_eq!(seen["permanent"], json!(true));

    // A write on each side is seen by the other, on the same record.
    let (_, _) = call(&format!("{python}/set/n/1"), Some(&cookie)).await;
    let (_, _) = call(&format!("{rust}/put/m/2"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({"user": "grace", "n": "1", "m": "2"}));

    // A logout on either side ends the session for both.
    let (_, _) = call(&format!("{rust}/flush"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({}));
    let (_, cookie) = call(&format!("{python}/login/ada"), None).await;
    let cookie = cookie.unwrap();
    let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(seen["data"], json!({}));
}

async fn values_survive_a_tessera_write(name: &str) {
    let Some((python, rust, _)) = pair(name).await else {
        return;
    };
    let (_, cookie) = call(&format!("{python}/types"), None).await;
    let cookie = cookie.unwrap();
    let (before, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    let (_, _) = call(&format!("{rust}/put/extra/1"), Some(&cookie)).await;
    let (after, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    let mut expected = before["types"].clone();
    expected["extra"] = json!("str");
    assert_eq!(
        after["types"], expected,
        "msgpack bytes and datetimes keep their types"
    );
    assert_eq!(after["types"]["bytes"], json!("bytes"));
    assert_eq!(after["types"]["when"], json!("datetime"));
    assert_eq!(after["data"]["tuple"], before["data"]["tuple"]);
    let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;
}

/// Plain data that JSON lacks (tuples, bytes, sets, big ints) crosses cachelib's pickles both
/// ways and keeps its Python types.
async fn pickled_values_survive_a_tessera_write(name: &str) {
    let Some((python, rust, _)) = pair(name).await else {
        return;
    };
    let (_, cookie) = call(&format!("{python}/plain-types"), None).await;
    let cookie = cookie.unwrap();
    let (before, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
    assert_eq!(seen["data"]["tuple"], json!({" t": [1, "two"]}));
    assert_eq!(seen["data"]["set"], json!({" s": [1, 2, 3]}));
    assert_eq!(seen["data"]["big"], json!({" i": "1180591620717411303425"}));
    let (_, _) = call(&format!("{rust}/put/extra/1"), Some(&cookie)).await;
    let (after, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    let mut expected = before.clone();
    expected["data"]["extra"] = json!("1");
    expected["types"]["extra"] = json!("str");
    assert_eq!(after, expected, "the same Python values and types");
    assert_eq!(after["types"]["set"], json!("set"));
    assert_eq!(after["types"]["big"], json!("int"));
    let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;
}

/// A session holding what only pickle can hold (a datetime) is unreadable to tessera: a fresh
/// session there, and Flask's file is left as it was.
async fn unpicklable_sessions_are_fresh_and_left_alone(name: &str) {
    let Some((python, rust, _)) = pair(name).await else {
        return;
    };
    let (_, cookie) = call(&format!("{python}/types"), None).await;
    let cookie = cookie.unwrap();
    let (before, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(before["types"]["when"], json!("datetime"));
    let (seen, fresh) = call(&format!("{rust}/put/extra/1"), Some(&cookie)).await;
    assert_eq!(seen, Value::Null, "no body from /put");
    let fresh = fresh.expect("a fresh session's cookie");
    assert_ne!(
        id_of(&fresh),
        id_of(&cookie),
        "a new id, never the unreadable one"
    );
    let (after, _) = call(&format!("{python}/get"), Some(&cookie)).await;
    assert_eq!(after, before, "Flask's session is untouched");
    for cookie in [cookie, fresh] {
        let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;
    }
}

async fn ids_are_signed_alike_and_tampering_is_refused(name: &str) {
    let Some((python, rust, _)) = pair(name).await else {
        return;
    };
    let (_, python_cookie) = call(&format!("{python}/set/a/1"), None).await;
    let python_cookie = python_cookie.unwrap();
    let (seen, _) = call(&format!("{rust}/all"), Some(&tamper(&python_cookie))).await;
    assert_eq!(seen["data"], json!({}));
    let (_, rust_cookie) = call(&format!("{rust}/put/a/1"), None).await;
    let rust_cookie = rust_cookie.unwrap();
    let (seen, _) = call(&format!("{python}/get"), Some(&tamper(&rust_cookie))).await;
    assert_eq!(seen["data"], json!({}));
    let (seen, _) = call(&format!("{rust}/all"), Some(&python_cookie)).await;
    assert_eq!(seen["data"], json!({"a": "1"}));
    let (seen, _) = call(&format!("{python}/get"), Some(&rust_cookie)).await;
    assert_eq!(seen["data"], json!({"a": "1"}));
    for cookie in [python_cookie, rust_cookie] {
        let (_, _) = call(&format!("{python}/logout"), Some(&cookie)).await;
    }
}

async fn expiry_agrees(name: &str) {
    let Some((python, rust, store)) = pair(name).await else {
        return;
    };
    // Both sides store a deadline of now + PERMANENT_SESSION_LIFETIME, in UTC.
    for (side, url) in [
        ("python", format!("{python}/set/a/1")),
        ("tessera", format!("{rust}/put/a/1")),
    ] {
        let before = OffsetDateTime::now_utc();
        let (_, cookie) = call(&url, None).await;
        let cookie = cookie.unwrap();
        let loaded = store.load(&id_of(&cookie)).await.unwrap().unwrap();
        let expected = before + Duration::seconds(LIFETIME);
        let drift = (loaded.record.expires_at - expected).abs();
        assert!(
            drift <= Duration::seconds(5),
            "{side}: {} vs {expected}",
            loaded.record.expires_at
        );

        // Moved into the past, the session is over for tessera, and for Flask-Session on SQL
        // (which checks `expiry` on read; on MongoDB it leaves that to the server's TTL monitor).
        assert!(store
            .touch(
                &id_of(&cookie),
                OffsetDateTime::now_utc() - Duration::seconds(5)
            )
            .await
            .unwrap());
        let (seen, _) = call(&format!("{rust}/all"), Some(&cookie)).await;
        assert_eq!(
            seen["data"],
            json!({}),
            "{side}: tessera sees an expired session"
        );
        if name != "mongodb" {
            // cachelib, like SQL, checks the expiry on read.
            let (seen, _) = call(&format!("{python}/get"), Some(&cookie)).await;
            assert_eq!(
                seen["data"],
                json!({}),
                "{side}: Flask-Session sees an expired session"
            );
        }
        store.delete(&id_of(&cookie)).await.unwrap();
    }
}

/// One module of tests per backend (its name in [`backend`], and the feature it needs), one
/// test per case.
macro_rules! live_tests {
    ($cases:tt for $($backend:ident: $feature:literal),* $(,)?) => {
        $(live_tests!(@backend $backend $feature $cases);)*
    };
    (@backend $backend:ident $feature:literal [$($case:ident),* $(,)?]) => {
        #[cfg(feature = $feature)]
        mod $backend {
            $(#[tokio::test]
            async fn $case() {
                super::$case(stringify!($backend)).await;
            })*
        }
    };
}

live_tests!(
    [
        shares_logins_both_ways,
        values_survive_a_tessera_write,
        ids_are_signed_alike_and_tampering_is_refused,
        expiry_agrees,
    ] for
    mongodb: "mongodb",
    postgres: "postgres",
    sqlite: "sqlite",
    mysql: "mysql",
);

live_tests!(
    [
        shares_logins_both_ways,
        pickled_values_survive_a_tessera_write,
        unpicklable_sessions_are_fresh_and_left_alone,
        ids_are_signed_alike_and_tampering_is_refused,
        expiry_agrees,
    ] for
    filesystem: "file",
);

/// A Flask app with Flask-Session on `sqlalchemy_url`'s `table`, run once through Flask's test
/// client with the id cookie `sid`: prints what the session held, then sets `py`.
const FLASK_ON_A_TABLE: &str = r#"
import json, sys, warnings
warnings.simplefilter("ignore")
from flask import Flask, session
from flask_session import Session
from flask_sqlalchemy import SQLAlchemy

url, table, sid = sys.argv[1:4]
app = Flask(__name__)
app.secret_key = "interop-live-secret-key-0123456789abcdef"
app.config.update(SQLALCHEMY_DATABASE_URI=url, SESSION_TYPE="sqlalchemy", SESSION_SQLALCHEMY_TABLE=table)
app.config["SESSION_SQLALCHEMY"] = SQLAlchemy(app)
Session(app)

@app.get("/")
def index():
    seen = {k: v for k, v in session.items()}
    session["py"] = "yes"
    return json.dumps(seen)

client = app.test_client()
client.set_cookie("session", sid)
print(client.get("/").get_data(as_text=True))
"#;

/// Runs [`FLASK_ON_A_TABLE`] with the interop virtualenv's Python; returns what it printed.
async fn flask_on_a_table(python: std::path::PathBuf, args: [String; 3]) -> Value {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg("-c")
            .arg(FLASK_ON_A_TABLE)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Flask-Session reads and writes a table tessera created (it creates the table only if
/// missing, so tessera's DDL must be what it expects).
async fn flask_session_uses_a_table_tessera_created(name: &str) {
    use tessera::store::Expected;
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-interop/bin/python");
    let found = std::fs::metadata(&python).map(|_| ());
    if server_or_skip(
        "the interop virtualenv (scripts/services/python-interop.sh)",
        found,
    )
    .is_none()
    {
        return;
    }
    let table = format!("tessera_made_{}", std::process::id());
    let db = services_dir().join(format!("{table}.db"));
    let (tessera_url, sqlalchemy_url) = match name {
        "postgres" => {
            let url = backend("postgres").1;
            (
                format!("{url}?table={table}"),
                url.replacen("postgres://", "postgresql+psycopg://", 1),
            )
        }
        "mysql" => {
            let url = backend("mysql").1;
            (
                format!("{url}?table={table}"),
                url.replacen("mysql://", "mysql+pymysql://", 1),
            )
        }
        _ => {
            std::fs::create_dir_all(services_dir()).unwrap();
            let _ = std::fs::remove_file(&db);
            (
                format!("sqlite://{}?table={table}", db.display()),
                format!("sqlite:///{}", db.display()),
            )
        }
    };
    let options = options().with_key_prefix("session:");
    let Some(store) = server_or_skip(name, tessera::store::open(&tessera_url, &options).await)
    else {
        return;
    };
    let id = tessera::SessionId::generate().unwrap();
    let mut data = tessera::Data::new();
    data.insert("user".into(), "ada".into());
    let record = tessera::Record::new(
        data,
        tessera::Expiry::Default,
        OffsetDateTime::now_utc() + Duration::hours(1),
    );
    let _ = store.save(&id, &record, Expected::Absent).await.unwrap();

    let sid = id.expose().to_owned();
    let args = [sqlalchemy_url.clone(), table.clone(), sid.clone()];
    let seen = flask_on_a_table(python.clone(), args).await;
    assert_eq!(seen, json!({"user": "ada", "_permanent": true}));
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.record.data.get("py"), Some(&json!("yes")));
    assert_eq!(loaded.record.data.get("user"), Some(&json!("ada")));

    match name {
        "postgres" => {
            let pg = tessera::store::sql::PostgresStore::connect(&format!(
                "{}?migrate=false",
                backend("postgres").1
            ))
            .await
            .unwrap();
            for drop in [
                format!("DROP TABLE \"{table}\""),
                format!("DROP TABLE IF EXISTS \"{table}_users\""),
            ] {
                sqlx::query(&drop).execute(pg.pool()).await.unwrap();
            }
        }
        "mysql" => {
            // The table SQLAlchemy makes itself, under another name, is the same table.
            let theirs = format!("{table}_sqlalchemy");
            let seen = flask_on_a_table(python, [sqlalchemy_url, theirs.clone(), sid]).await;
            let pool = sqlx::MySqlPool::connect(&backend("mysql").1).await.unwrap();
            let mut made = Vec::new();
            for t in [&table, &theirs] {
                let (_, ddl): (String, String) =
                    sqlx::query_as(&format!("SHOW CREATE TABLE `{t}`"))
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                made.push(ddl.replace(&format!("`{t}`"), "`sessions`"));
                sqlx::query(&format!("DROP TABLE `{t}`"))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            // The index table the store's migration made beside tessera's.
            sqlx::query(&format!("DROP TABLE IF EXISTS `{table}_users`"))
                .execute(&pool)
                .await
                .unwrap();
            assert_eq!(seen, json!({"_permanent": true}), "a new session there");
            assert_eq!(made[0], made[1], "tessera's table vs SQLAlchemy's");
        }
        _ => {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = db.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn flask_session_uses_a_postgres_table_tessera_created() {
    flask_session_uses_a_table_tessera_created("postgres").await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn flask_session_uses_an_sqlite_table_tessera_created() {
    flask_session_uses_a_table_tessera_created("sqlite").await;
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn flask_session_uses_a_mysql_table_tessera_created() {
    flask_session_uses_a_table_tessera_created("mysql").await;
}

/// Flask-Session 0.8's filesystem backend keeps cachelib's layout: a file named after the
/// SHA-256 of prefix + id, a 4-byte expiry, then a pickle of the session dict itself (not of
/// msgpack bytes), which tessera reads.
#[cfg(feature = "file")]
#[tokio::test]
async fn flask_session_files_are_cachelibs_pickled_dicts() {
    use sha2::{Digest, Sha256};
    let Some((python, _, store)) = pair("filesystem").await else {
        return;
    };
    let before = OffsetDateTime::now_utc().unix_timestamp();
    let (_, cookie) = call(&format!("{python}/login/ada"), None).await;
    let cookie = cookie.unwrap();
    let id = id_of(&cookie);
    let name: String = Sha256::digest(format!("{PREFIX}{}", id.expose()))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let bytes = std::fs::read(file_dir().join(name)).unwrap();
    let expiry = i64::from(u32::from_le_bytes(bytes[..4].try_into().unwrap()));
    assert!((expiry - before - LIFETIME).abs() <= 5, "expiry {expiry}");
    // PROTO 5, FRAME (8-byte length), then EMPTY_DICT: the dict is pickled, with its values.
    assert_eq!(&bytes[4..6], b"\x80\x05", "{bytes:?}");
    assert_eq!(bytes[6], 0x95, "{bytes:?}");
    assert_eq!(bytes[15], b'}', "{bytes:?}");
    let dict = tessera::interop::pickle::loads_dict(&bytes[4..]).unwrap();
    assert_eq!(dict.get("user"), Some(&json!("ada")));
    assert_eq!(dict.get("_permanent"), Some(&json!(true)));
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.record.data.get("user"), Some(&json!("ada")));
    assert_eq!(loaded.record.expires_at.unix_timestamp(), expiry);
    let _ = call(&format!("{python}/logout"), Some(&cookie)).await;
}
