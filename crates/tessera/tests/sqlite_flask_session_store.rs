//! The conformance suite against SQLite files in the temp directory keeping Flask-Session 0.8's
//! `sessions` table (the `flask-session` profile), and the shape of that table.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)]

mod conformance;
mod support;

use std::sync::Arc;

use conformance::Harness;
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::interop::flask_session::naive_utc;
use tessera::store::sql::SqliteStore;
use tessera::store::{Error, Expected, Saved, SessionStore};
use tessera::{Expiry, ExpiryPolicy, Profile, Record, SessionId};
use time::{Duration, OffsetDateTime};

/// A fresh database path, and a guard removing it (with its WAL files) afterwards.
fn temp_db() -> (String, Teardown) {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name("tessera-flask")));
    let remove = path.clone();
    let cleanup = Teardown::new(move || async move {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = remove.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    });
    (format!("sqlite://{}", path.display()), cleanup)
}

async fn open_store(url: &str, clock: &ManualClock) -> Result<SqliteStore, Error> {
    SqliteStore::builder(url)?
        .profile(Profile::FlaskSession, ExpiryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .build()
        .await
}

const TABLE: &str = "sessions";

/// Inserts a row the way Flask-Session does (naive UTC `expiry`, to the microsecond).
async fn insert_python_row(
    store: &SqliteStore,
    table: &str,
    id: &SessionId,
    data: &[u8],
    expiry: &str,
) {
    sqlx::query(&format!(
        "INSERT INTO \"{table}\" (session_id, data, expiry) VALUES (?1, ?2, ?3)"
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
    let (url, cleanup) = temp_db();
    let store = open_store(&url, &clock).await.unwrap();
    let peer = open_store(&url, &clock).await.unwrap();
    let raw = store.clone();
    Some(Harness {
        store: Arc::new(store),
        peer: Arc::new(peer),
        clock: Some(clock),
        server_expires: false,
        corrupt: Some(Arc::new(move |id: SessionId| {
            let (raw, _cleanup) = (raw.clone(), cleanup.clone());
            Box::pin(async move {
                let expiry = naive_utc(OffsetDateTime::now_utc() + Duration::days(1));
                insert_python_row(&raw, TABLE, &id, b"\xc1 not msgpack", &expiry).await;
            })
        })),
    })
}

conformance_suite!(harness);

struct Fixture {
    store: SqliteStore,
    table: String,
    clock: ManualClock,
    _cleanup: Teardown,
}

async fn fixture() -> Option<Fixture> {
    let clock = ManualClock::starting_now();
    let (url, cleanup) = temp_db();
    let store = open_store(&url, &clock).await.unwrap();
    Some(Fixture {
        store,
        _cleanup: cleanup,
        table: TABLE.to_owned(),
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

#[tokio::test]
async fn rows_are_flask_session_rows_both_ways() {
    let Some(f) = fixture().await else { return };
    let now = tessera::clock::Clock::now(&f.clock);
    // Written by tessera: msgpack `data`, naive UTC `expiry`.
    let id = SessionId::generate().unwrap();
    let r = record(&f.clock, "ada");
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
        "UPDATE \"{}\" SET data = ?1 WHERE session_id = ?2",
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
