//! The conformance suite against PostgreSQL (`TESSERA_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`) keeping Flask-Session 0.8's `sessions` table (the
//! `flask-session` profile), and the shape of that table.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod conformance;
mod support;

use std::sync::Arc;

use conformance::{server_or_skip, Harness};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::interop::flask_session::naive_utc;
use tessera::store::sql::PostgresStore;
use tessera::store::{Error, Expected, Saved, SessionStore};
use tessera::{Expiry, ExpiryPolicy, Profile, Record, SessionId};
use time::{Duration, OffsetDateTime};

fn url() -> String {
    std::env::var("TESSERA_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn open_store(table: &str, clock: &ManualClock) -> Result<PostgresStore, Error> {
    PostgresStore::builder(&url())?
        .table(table)
        .profile(Profile::FlaskSession, ExpiryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .build()
        .await
}

fn drop_table(table: &str) -> Teardown {
    let sql = format!("DROP TABLE IF EXISTS \"{table}\"");
    Teardown::new(move || async move {
        if let Ok(store) = PostgresStore::builder(&url())
            .unwrap()
            .migrate(false)
            .build()
            .await
        {
            let _ = sqlx::query(&sql).execute(store.pool()).await;
        }
    })
}

/// Inserts a row the way Flask-Session does (naive UTC `expiry`, to the microsecond).
async fn insert_python_row(
    store: &PostgresStore,
    table: &str,
    id: &SessionId,
    data: &[u8],
    expiry: &str,
) {
    sqlx::query(&format!(
        "INSERT INTO \"{table}\" (session_id, data, expiry) VALUES ($1, $2, CAST($3 AS TIMESTAMP))"
    ))
    .bind(format!("session:{}", id.expose()))
    .bind(data)
    .bind(expiry)
    .execute(store.pool())
    .await
    .unwrap();
}

async fn harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let table = unique_name("flask_sessions");
    let store = server_or_skip(
        &format!("postgres at {}", url()),
        open_store(&table, &clock).await,
    )?;
    let cleanup = drop_table(&table);
    let peer = open_store(&table, &clock).await.unwrap();
    let raw = store.clone();
    Some(Harness {
        store: Arc::new(store),
        peer: Arc::new(peer),
        clock: Some(clock),
        server_expires: false,
        corrupt: Some(Arc::new(move |id: SessionId| {
            let (raw, table, _cleanup) = (raw.clone(), table.clone(), cleanup.clone());
            Box::pin(async move {
                let expiry = naive_utc(OffsetDateTime::now_utc() + Duration::days(1));
                insert_python_row(&raw, &table, &id, b"\xc1 not msgpack", &expiry).await;
            })
        })),
    })
}

conformance_suite!(harness);

struct Fixture {
    store: PostgresStore,
    table: String,
    clock: ManualClock,
    _cleanup: Teardown,
}

async fn fixture() -> Option<Fixture> {
    let clock = ManualClock::starting_now();
    let table = unique_name("flask_sessions");
    let store = server_or_skip(
        &format!("postgres at {}", url()),
        open_store(&table, &clock).await,
    )?;
    Some(Fixture {
        store,
        _cleanup: drop_table(&table),
        table,
        clock,
    })
}

fn record(clock: &ManualClock, user: &str) -> Record {
    let mut data = tessera::Data::new();
    data.insert("user".into(), user.into());
    Record::new(
        data,
        Expiry::Default,
        tessera::clock::Clock::now(clock) + Duration::hours(1),
    )
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

#[tokio::test]
async fn rows_are_flask_session_rows_both_ways() {
    let Some(f) = fixture().await else { return };
    let now = tessera::clock::Clock::now(&f.clock);
    // Written by tessera: msgpack `data`, naive UTC `expiry`.
    let id = SessionId::generate().unwrap();
    let r = record(&f.clock, "ada");
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
    // Written by Python, with microseconds; expired ones are never returned.
    let theirs = SessionId::generate().unwrap();
    let expiry = format!(
        "{}.123456",
        naive_utc(now + Duration::minutes(10)).trim_end_matches(".000000")
    );
    insert_python_row(
        &f.store,
        &f.table,
        &theirs,
        b"\x82\xaa_permanent\xc3\xa4user\xa3bob",
        &expiry,
    )
    .await;
    let loaded = f.store.load(&theirs).await.unwrap().unwrap();
    assert_eq!(
        loaded.record.data.get("user"),
        Some(&serde_json::json!("bob"))
    );
    assert_eq!(
        loaded.record.expires_at.unix_timestamp(),
        (now + Duration::minutes(10)).unix_timestamp()
    );
    f.clock.advance(Duration::minutes(11));
    assert!(f.store.load(&theirs).await.unwrap().is_none());
    assert_eq!(f.store.clear_expired().await.unwrap(), 1);
}

#[tokio::test]
async fn a_python_write_between_load_and_save_is_a_conflict() {
    let Some(f) = fixture().await else { return };
    let id = SessionId::generate().unwrap();
    let _ = f
        .store
        .save(&id, &record(&f.clock, "ada"), Expected::Absent)
        .await
        .unwrap();
    let loaded = f.store.load(&id).await.unwrap().unwrap();
    sqlx::query(&format!(
        "UPDATE \"{}\" SET data = $1 WHERE session_id = $2",
        f.table
    ))
    .bind(&b"\x81\xa4user\xa5carol"[..])
    .bind(format!("session:{}", id.expose()))
    .execute(f.store.pool())
    .await
    .unwrap();
    let saved = f
        .store
        .save(
            &id,
            &record(&f.clock, "dave"),
            Expected::Version(loaded.version),
        )
        .await
        .unwrap();
    assert_eq!(saved, Saved::Conflict);
    let now = f.store.load(&id).await.unwrap().unwrap();
    assert_eq!(
        now.record.data.get("user"),
        Some(&serde_json::json!("carol"))
    );
}

#[tokio::test]
async fn pickled_records_are_refused_never_unpickled() {
    let Some(f) = fixture().await else { return };
    let id = SessionId::generate().unwrap();
    // pickle.dumps({"user": "ada"}, protocol=4), as Flask-Session before 0.7 stored `data`.
    let pickled =
        b"\x80\x04\x95\x13\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04user\x94\x8c\x03ada\x94s.";
    let expiry = naive_utc(tessera::clock::Clock::now(&f.clock) + Duration::minutes(10));
    insert_python_row(&f.store, &f.table, &id, pickled, &expiry).await;
    let err = f.store.load(&id).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let why = std::error::Error::source(&err).unwrap().to_string();
    assert!(why.contains("tessera never unpickles"), "{why}");
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
