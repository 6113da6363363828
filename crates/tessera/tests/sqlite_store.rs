//! The conformance suite and the migration tests against SQLite files in the temp directory.
#![cfg(all(feature = "sqlite", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use support::sql::{self, live_record};
use support::Teardown;
use tessera::clock::ManualClock;
use tessera::conformance::{Harness, StoreUrl};
use tessera::store::sql::{Sqlite, SqliteStore};
use tessera::store::{Expected, SessionStore};
use tessera::SessionId;

fn temp_db() -> (PathBuf, Teardown) {
    sql::temp_sqlite("tessera-test")
}

fn url_of(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn open_store(path: &std::path::Path, clock: &ManualClock) -> SqliteStore {
    SqliteStore::builder(&url_of(path))
        .unwrap()
        .clock(Arc::new(clock.clone()))
        .timeout(sql::TEST_TIMEOUT)
        .build()
        .await
        .unwrap()
}

/// The harness's table: not the default one, so that opening by URL proves `?table=` is read.
const TABLE: &str = "conformance_sessions";

async fn harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let (path, cleanup) = temp_db();
    let open = || {
        SqliteStore::builder(&url_of(&path))
            .unwrap()
            .table(TABLE)
            .clock(Arc::new(clock.clone()))
            .timeout(sql::TEST_TIMEOUT)
            .build()
    };
    let (store, peer) = (open().await.unwrap(), open().await.unwrap());
    let by_url = StoreUrl::new(format!("{}?table={TABLE}", url_of(&path)))
        .shown_as(TABLE)
        .refusing(format!("{}?table=x;drop", url_of(&path)));
    Some(sql::native_harness(store, peer, clock, by_url, cleanup))
}

tessera::conformance_suite!(harness);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_concurrently_on_a_fresh_file() {
    let clock = ManualClock::starting_now();
    let (path, _cleanup) = temp_db();
    let builder = || {
        SqliteStore::builder(&url_of(&path))
            .unwrap()
            .table("racing_sessions")
            .timeout(sql::TEST_TIMEOUT)
    };
    sql::migrate_concurrently(builder, &clock).await;
}

#[tokio::test]
async fn sessions_survive_reopening_the_file() {
    let clock = ManualClock::starting_now();
    let (path, _cleanup) = temp_db();
    let id = SessionId::generate().unwrap();
    let record = live_record(&clock);
    {
        let store = open_store(&path, &clock).await;
        let _ = store.save(&id, &record, Expected::Absent).await.unwrap();
        store.pool().close().await;
    }
    let store = open_store(&path, &clock).await;
    assert_eq!(
        store.load(&id).await.unwrap().unwrap().record.data,
        record.data
    );
}

#[tokio::test]
async fn in_memory_databases_are_shared_by_the_pool() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let clock = ManualClock::starting_now();
    let ids: Vec<SessionId> = (0..20).map(|_| SessionId::generate().unwrap()).collect();
    for id in &ids {
        let _ = store
            .save(id, &live_record(&clock), Expected::Absent)
            .await
            .unwrap();
    }
    // Each load may take another pooled connection: all must see the same database.
    for id in &ids {
        assert!(store.exists(id).await.unwrap());
    }
}

#[tokio::test]
async fn clear_expired_goes_in_batches_and_reports_progress() {
    let (path, _cleanup) = temp_db();
    sql::clear_expired_goes_in_batches_and_reports_progress::<Sqlite>("sqlite", &url_of(&path))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_write_lock_is_a_timeout_not_a_hang() {
    let clock = ManualClock::starting_now();
    let (path, _cleanup) = temp_db();
    let store = SqliteStore::builder(&url_of(&path))
        .unwrap()
        .clock(Arc::new(clock.clone()))
        .timeout(StdDuration::from_millis(300))
        .build()
        .await
        .unwrap();
    let other = open_store(&path, &clock).await;
    let mut tx = other.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("DELETE FROM tessera_sessions")
        .execute(&mut *tx)
        .await
        .unwrap();
    let id = SessionId::generate().unwrap();
    sql::assert_a_save_times_out(store.save(&id, &live_record(&clock), Expected::Absent)).await;
    tx.rollback().await.unwrap();
}

/// A listing holds this store's rows only, with the id as the store's API takes it: not a row
/// under another prefix, nor one whose key is no session id, and never an error for them.
#[tokio::test]
async fn listing_skips_rows_that_are_not_this_stores_sessions() {
    let clock = ManualClock::starting_now();
    let (path, _cleanup) = temp_db();
    let store = open_store(&path, &clock).await;
    let id = SessionId::generate().unwrap();
    let _ = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await
        .unwrap();
    for key in ["other:abc", "session:not an id!", "session:"] {
        sqlx::query("INSERT INTO tessera_sessions (id, data, expires_at) VALUES (?1, x'00', 1)")
            .bind(key)
            .execute(store.pool())
            .await
            .unwrap();
    }
    let mut listing = store.list();
    let mut listed = Vec::new();
    while let Some(item) = tessera::store::listing::next(&mut listing).await {
        listed.push(item.unwrap());
    }
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);
    let (stored,): (i64,) =
        sqlx::query_as("SELECT length(data) FROM tessera_sessions WHERE id = ?1")
            .bind(format!("session:{}", id.expose()))
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(listed[0].size, u64::try_from(stored).unwrap());
}

#[tokio::test]
async fn user_names_are_data_not_sql() {
    let (path, _cleanup) = temp_db();
    let url = url_of(&path);
    sql::user_names_are_data_not_sql::<Sqlite>("sqlite", &url, tessera::Profile::Native).await;
    sql::user_names_are_data_not_sql::<Sqlite>("sqlite", &url, tessera::Profile::FlaskSession)
        .await;
}

#[tokio::test]
async fn without_migration_a_missing_index_table_turns_the_index_off() {
    let (path, _cleanup) = temp_db();
    sql::without_migration_a_missing_index_table_turns_the_index_off::<Sqlite>(
        "sqlite",
        &url_of(&path),
    )
    .await;
}

/// A row written before the binary record, its `data` the JSON record, still loads; the next
/// save writes the binary form.
#[tokio::test]
async fn a_json_row_written_before_still_loads() {
    let clock = ManualClock::starting_now();
    let (path, _cleanup) = temp_db();
    let store = open_store(&path, &clock).await;
    let id = SessionId::generate().unwrap();
    let key = format!("session:{}", id.expose());
    let deadline = tessera::clock::Clock::now(&clock).unix_timestamp() + 3600;
    let json = format!(r#"{{"d":{{"f":2.0,"n":[1,-2]}},"x":{deadline},"u":"ada"}}"#);
    sqlx::query(
        "INSERT INTO tessera_sessions (id, data, expires_at, version) VALUES (?1, ?2, ?3, 5)",
    )
    .bind(&key)
    .bind(json.as_bytes())
    .bind(deadline)
    .execute(store.pool())
    .await
    .unwrap();
    let loaded = store.load(&id).await.unwrap().expect("the JSON row loads");
    assert_eq!(loaded.version.get(), 5);
    assert!(loaded.record.data["f"].is_f64());
    assert_eq!(loaded.record.meta.user.as_deref(), Some("ada"));
    let _ = store
        .save(&id, &loaded.record, Expected::Version(loaded.version))
        .await
        .unwrap();
    let (data,): (Vec<u8>,) = sqlx::query_as("SELECT data FROM tessera_sessions WHERE id = ?1")
        .bind(&key)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(data[0], tessera::record::BINARY_V1);
    assert_eq!(
        tessera::Record::decode(&data).unwrap().data,
        loaded.record.data
    );
}
