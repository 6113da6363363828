//! The conformance suite and the migration tests against SQLite files in the temp directory.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)]

mod conformance;
mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use conformance::Harness;
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::store::sql::SqliteStore;
use tessera::store::{Error, Expected, OpenOptions, Saved, SessionStore};
use tessera::{Expiry, Record, SessionId};
use time::Duration;

/// A fresh database path, and a guard removing it (with its WAL files) afterwards.
fn temp_db() -> (PathBuf, Teardown) {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name("tessera-test")));
    let remove = path.clone();
    let cleanup = Teardown::new(move || async move {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = remove.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    });
    (path, cleanup)
}

fn url_of(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn open_store(path: &std::path::Path, clock: &ManualClock) -> SqliteStore {
    SqliteStore::builder(&url_of(path))
        .unwrap()
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap()
}

async fn harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let (path, cleanup) = temp_db();
    let store = open_store(&path, &clock).await;
    let peer = open_store(&path, &clock).await;
    let pool = store.pool().clone();
    let expires = (time::OffsetDateTime::now_utc() + Duration::days(1)).unix_timestamp();
    Some(Harness {
        store: Arc::new(store),
        peer: Arc::new(peer),
        clock: Some(clock),
        server_expires: false,
        corrupt: Some(Arc::new(move |id: SessionId| {
            let (pool, _cleanup) = (pool.clone(), cleanup.clone());
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO tessera_sessions (id, data, expires_at, version) VALUES (?1, ?2, ?3, 1)",
                )
                .bind(format!("session:{}", id.expose()))
                .bind(&b"\xffnot a record"[..])
                .bind(expires)
                .execute(&pool)
                .await
                .unwrap();
            })
        })),
    })
}

conformance_suite!(harness);

fn live_record(clock: &ManualClock) -> Record {
    let now = tessera::clock::Clock::now(clock);
    Record::new(
        Default::default(),
        Expiry::Default,
        now + Duration::hours(1),
    )
}

#[tokio::test]
async fn migrate_twice_in_a_row() {
    let clock = ManualClock::starting_now();
    let (path, _cleanup) = temp_db();
    let store = open_store(&path, &clock).await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let id = SessionId::generate().unwrap();
    let _ = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert!(store.exists(&id).await.unwrap(), "migrating keeps the rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_concurrently_on_a_fresh_file() {
    let clock = ManualClock::starting_now();
    let (path, _cleanup) = temp_db();
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let builder = SqliteStore::builder(&url_of(&path))
                .unwrap()
                .table("racing_sessions")
                .clock(Arc::new(clock.clone()));
            tokio::spawn(builder.build())
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(
            start
                .await
                .unwrap()
                .expect("every racing constructor succeeds"),
        );
    }
    let id = SessionId::generate().unwrap();
    let saved = stores[0]
        .save(&id, &live_record(&clock), Expected::Absent)
        .await;
    assert!(matches!(saved, Ok(Saved::Written(_))));
    assert!(stores[7].exists(&id).await.unwrap());
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
    let clock = ManualClock::starting_now();
    let (path, _cleanup) = temp_db();
    let store = SqliteStore::builder(&url_of(&path))
        .unwrap()
        .clock(Arc::new(clock.clone()))
        .clear_batch(100)
        .build()
        .await
        .unwrap();
    let now = tessera::clock::Clock::now(&clock);
    for i in 0..250 {
        let expires = now + Duration::seconds(if i < 230 { 10 } else { 3600 });
        let record = Record::new(Default::default(), Expiry::Default, expires);
        let id = SessionId::generate().unwrap();
        let _ = store.save(&id, &record, Expected::Absent).await.unwrap();
    }
    clock.advance(Duration::minutes(1));
    let mut seen = Vec::new();
    let removed = store
        .clear_expired_with_progress(|n| seen.push(n))
        .await
        .unwrap();
    assert_eq!(removed, 230);
    assert_eq!(seen, [100, 200, 230]);
    assert_eq!(store.clear_expired().await.unwrap(), 0);
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
    let started = std::time::Instant::now();
    let id = SessionId::generate().unwrap();
    let result = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await;
    assert!(
        matches!(result, Err(Error::Timeout { op: "save", .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < StdDuration::from_secs(2));
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn opens_by_url_with_its_parameters() {
    let (path, _cleanup) = temp_db();
    let url = format!("{}?table=by_url", url_of(&path));
    let store = tessera::store::open(&url, &OpenOptions::default())
        .await
        .unwrap();
    let id = SessionId::generate().unwrap();
    let record = live_record(&ManualClock::starting_now());
    assert!(matches!(
        store.save(&id, &record, Expected::Absent).await,
        Ok(Saved::Written(_))
    ));
    assert!(format!("{store:?}").contains("by_url"));
    let bad = format!("{}?table=x;drop", url_of(&path));
    assert!(matches!(
        tessera::store::open(&bad, &OpenOptions::default()).await,
        Err(Error::BadUrl { .. })
    ));
}

async fn fresh_store(clock: &ManualClock) -> Option<(SqliteStore, Teardown)> {
    let (path, cleanup) = temp_db();
    Some((open_store(&path, clock).await, cleanup))
}

#[tokio::test]
async fn a_replaced_expired_session_keeps_counting_versions() {
    let clock = ManualClock::starting_now();
    let Some((store, _cleanup)) = fresh_store(&clock).await else {
        return;
    };
    let id = SessionId::generate().unwrap();
    let short = Record::new(
        Default::default(),
        Expiry::Default,
        tessera::clock::Clock::now(&clock) + Duration::seconds(10),
    );
    let Saved::Written(old) = store.save(&id, &short, Expected::Absent).await.unwrap() else {
        panic!("a fresh id conflicted")
    };
    clock.advance(Duration::minutes(1));
    let Saved::Written(new) = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await
        .unwrap()
    else {
        panic!("an expired row must not block a new session")
    };
    assert_ne!(
        old, new,
        "a writer holding the expired session's version must not match"
    );
    assert_eq!(
        store
            .save(&id, &live_record(&clock), Expected::Version(old))
            .await
            .unwrap(),
        Saved::Conflict
    );
    assert!(
        matches!(
            store
                .save(&id, &live_record(&clock), Expected::Version(new))
                .await,
            Ok(Saved::Written(_))
        ),
        "the version the replacing insert answered is the stored one"
    );
}
