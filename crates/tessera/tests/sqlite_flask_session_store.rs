//! The conformance suite against SQLite files in the temp directory keeping Flask-Session 0.8's
//! `sessions` table (the `flask-session` profile), and the shape of that table.
#![cfg(all(feature = "sqlite", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use support::sql::{self, Fixture};
use support::{user_record, Teardown};
use tessera::clock::ManualClock;
use tessera::conformance::Harness;
use tessera::interop::flask_session::naive_utc;
use tessera::store::sql::{Sqlite, SqliteStore};
use tessera::store::{Expected, SessionStore};
use tessera::{Profile, SessionId};

/// A fresh database's URL, and a guard removing it afterwards.
fn temp_db() -> (String, Teardown) {
    let (path, cleanup) = sql::temp_sqlite("tessera-flask");
    (format!("sqlite://{}", path.display()), cleanup)
}

/// A store on Flask-Session's default table, `sessions`.
async fn open_store(url: &str, clock: &ManualClock) -> SqliteStore {
    sql::open(url, "sessions", Profile::FlaskSession, clock)
        .await
        .unwrap()
}

async fn fixture(url: &str) -> Option<Fixture<Sqlite>> {
    Fixture::new("sqlite", url, "sessions", Profile::FlaskSession).await
}

async fn harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let (url, cleanup) = temp_db();
    let store = open_store(&url, &clock).await;
    let peer = open_store(&url, &clock).await;
    Some(sql::flask_session_harness(store, peer, clock, cleanup))
}

tessera::conformance_suite!(harness);

#[tokio::test]
async fn the_table_is_what_sqlalchemy_creates() {
    let (url, _file) = temp_db();
    let Some(f) = fixture(&url).await else { return };
    let columns: Vec<(String, String, i64, i64)> =
        sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info('sessions')")
            .fetch_all(f.store.pool())
            .await
            .unwrap();
    let columns: Vec<(&str, &str, i64, i64)> = columns
        .iter()
        .map(|(n, t, null, pk)| (n.as_str(), t.as_str(), *null, *pk))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "INTEGER", 1, 1),
            ("session_id", "VARCHAR(255)", 0, 0),
            ("data", "BLOB", 0, 0),
            ("expiry", "DATETIME", 0, 0),
        ]
    );
    let unique: Vec<(String,)> = sqlx::query_as(
        "SELECT ii.name FROM pragma_index_list('sessions') il, pragma_index_info(il.name) ii \
         WHERE il.\"unique\" = 1",
    )
    .fetch_all(f.store.pool())
    .await
    .unwrap();
    assert_eq!(unique, [("session_id".to_owned(),)]);
}

/// What tessera writes is a Flask-Session row: msgpack `data`, naive UTC `expiry`. (Rows
/// Python writes are read by the conformance suite's foreign-record cases.)
#[tokio::test]
async fn rows_tessera_writes_are_flask_session_rows() {
    let (url, _file) = temp_db();
    let Some(f) = fixture(&url).await else { return };
    let id = SessionId::generate().unwrap();
    let r = user_record(&f.clock, "ada");
    let _ = f.store.save(&id, &r, Expected::Absent).await.unwrap();
    let (data, expiry): (Vec<u8>, String) = sqlx::query_as(&format!(
        "SELECT data, expiry FROM \"{}\" WHERE session_id = ?1",
        f.table
    ))
    .bind(format!("session:{}", id.expose()))
    .fetch_one(f.store.pool())
    .await
    .unwrap();
    let dict = tessera::interop::flask_session::decode_record(&data).unwrap();
    assert_eq!(dict.get("user"), Some(&serde_json::json!("ada")));
    assert_eq!(dict.get("_permanent"), Some(&serde_json::json!(true)));
    assert_eq!(expiry, naive_utc(r.expires_at));
}
