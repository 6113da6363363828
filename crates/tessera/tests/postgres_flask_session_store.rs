//! The conformance suite against PostgreSQL (`TESSERA_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) keeping Flask-Session 0.8's `sessions` table (the
//! `flask-session` profile), and the shape of that table.
#![cfg(all(feature = "postgres", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use support::sql::{self, postgres_url as url, Fixture};
use support::{unique_name, user_record};
use tessera::clock::ManualClock;
use tessera::conformance::Harness;
use tessera::interop::flask_session::naive_utc;
use tessera::store::sql::{Postgres, PostgresStore};
use tessera::store::{Error, Expected, SessionStore};
use tessera::{ExpiryPolicy, Profile, SessionId};

async fn open_store(table: &str, clock: &ManualClock) -> Result<PostgresStore, Error> {
    sql::open(&url(), table, Profile::FlaskSession, clock).await
}

async fn harness() -> Option<Harness> {
    sql::server_harness::<Postgres>("postgres", url(), Profile::FlaskSession).await
}

tessera::conformance_suite!(harness);

async fn fixture() -> Option<Fixture<Postgres>> {
    let table = unique_name("flask_sessions");
    Fixture::new("postgres", &url(), &table, Profile::FlaskSession).await
}

#[tokio::test]
async fn the_table_is_what_sqlalchemy_creates() {
    let Some(f) = fixture().await else { return };
    let columns: Vec<(String, String, String, Option<i32>)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, is_nullable::text, character_maximum_length \
         FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
    )
    .bind(&f.table)
    .fetch_all(f.store.pool())
    .await
    .unwrap();
    let columns: Vec<(&str, &str, &str, Option<i32>)> = columns
        .iter()
        .map(|(n, t, null, len)| (n.as_str(), t.as_str(), null.as_str(), *len))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "integer", "NO", None),
            ("session_id", "character varying", "YES", Some(255)),
            ("data", "bytea", "YES", None),
            ("expiry", "timestamp without time zone", "YES", None),
        ]
    );
    let constraints: Vec<(String, String)> = sqlx::query_as(
        "SELECT constraint_type::text, kcu.column_name::text \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) \
         WHERE tc.table_name = $1 ORDER BY constraint_type",
    )
    .bind(&f.table)
    .fetch_all(f.store.pool())
    .await
    .unwrap();
    assert_eq!(
        constraints,
        [
            ("PRIMARY KEY".to_owned(), "id".to_owned()),
            ("UNIQUE".to_owned(), "session_id".to_owned())
        ]
    );
    // Idempotent: a second store (another app server) opens the same table.
    assert!(open_store(&f.table, &f.clock).await.is_ok());
}

/// What tessera writes is a Flask-Session row: msgpack `data`, naive UTC `expiry`. (Rows
/// Python writes are read by the conformance suite's foreign-record cases.)
#[tokio::test]
async fn rows_tessera_writes_are_flask_session_rows() {
    let Some(f) = fixture().await else { return };
    let id = SessionId::generate().unwrap();
    let r = user_record(&f.clock, "ada");
    let _ = f.store.save(&id, &r, Expected::Absent).await.unwrap();
    let (data, expiry): (Vec<u8>, String) = sqlx::query_as(&format!(
        "SELECT data, CAST(expiry AS TEXT) FROM \"{}\" WHERE session_id = $1",
        f.table
    ))
    .bind(format!("session:{}", id.expose()))
    .fetch_one(f.store.pool())
    .await
    .unwrap();
    let dict = tessera::interop::flask_session::decode_record(&data).unwrap();
    assert_eq!(dict.get("user"), Some(&serde_json::json!("ada")));
    assert_eq!(dict.get("_permanent"), Some(&serde_json::json!(true)));
    assert_eq!(expiry, naive_utc(r.expires_at).trim_end_matches(".000000"));
}

#[tokio::test]
async fn the_default_table_is_sessions() {
    let Some(f) = fixture().await else { return };
    let builder = PostgresStore::builder(&url())
        .unwrap()
        .profile(Profile::FlaskSession, ExpiryPolicy::default())
        .migrate(false);
    let store = builder.build().await.unwrap();
    assert_eq!(store.table(), "\"sessions\"");
    drop(f);
}
