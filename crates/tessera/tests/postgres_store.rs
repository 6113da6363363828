//! The conformance suite and the migration tests against PostgreSQL
//! (`TESSERA_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod conformance;
mod support;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use conformance::{server_or_skip, Harness};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::store::sql::PostgresStore;
use tessera::store::{Error, Expected, OpenOptions, Saved, SessionStore};
use tessera::{Expiry, Record, SessionId};
use time::Duration;

fn url() -> String {
    std::env::var("TESSERA_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn open_store(table: &str, clock: &ManualClock) -> Result<PostgresStore, Error> {
    PostgresStore::builder(&url())?
        .table(table)
        .clock(Arc::new(clock.clone()))
        .build()
        .await
}

/// Drops `table` when the returned guard goes.
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

async fn harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_t");
    let store = server_or_skip(
        &format!("postgres at {}", url()),
        open_store(&table, &clock).await,
    )?;
    let cleanup = drop_table(&table);
    let peer = open_store(&table, &clock).await.unwrap();
    let pool = store.pool().clone();
    let insert =
        format!("INSERT INTO \"{table}\" (id, data, expires_at, version) VALUES ($1, $2, $3, 1)");
    let expires = (time::OffsetDateTime::now_utc() + Duration::days(1)).unix_timestamp();
    Some(Harness {
        store: Arc::new(store),
        peer: Arc::new(peer),
        clock: Some(clock),
        server_expires: false,
        corrupt: Some(Arc::new(move |id: SessionId| {
            let (pool, insert, _cleanup) = (pool.clone(), insert.clone(), cleanup.clone());
            Box::pin(async move {
                sqlx::query(&insert)
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
    let table = unique_name("tessera_m");
    let Some(store) = server_or_skip("postgres", open_store(&table, &clock).await) else {
        return;
    };
    let _cleanup = drop_table(&table);
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let id = SessionId::generate().unwrap();
    let saved = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await;
    assert!(matches!(saved, Ok(Saved::Written(_))));
    store.migrate().await.unwrap();
    assert!(store.exists(&id).await.unwrap(), "migrating keeps the rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_concurrently_on_a_fresh_table_and_schema() {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_c");
    let schema = unique_name("tessera_s");
    let probe = PostgresStore::builder(&url())
        .unwrap()
        .migrate(false)
        .build()
        .await;
    if server_or_skip("postgres", probe).is_none() {
        return;
    }
    let drop_schema = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    let _cleanup = Teardown::new(move || async move {
        let store = PostgresStore::builder(&url())
            .unwrap()
            .migrate(false)
            .build()
            .await
            .unwrap();
        sqlx::query(&drop_schema)
            .execute(store.pool())
            .await
            .unwrap();
    });
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let builder = PostgresStore::builder(&url())
                .unwrap()
                .table(table.clone())
                .schema(schema.clone())
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
async fn without_migration_a_missing_table_is_an_error_not_a_panic() {
    let table = unique_name("tessera_n");
    let url = format!("{}?table={table}&migrate=false", url());
    let Some(store) = server_or_skip("postgres", PostgresStore::connect(&url).await) else {
        return;
    };
    let id = SessionId::generate().unwrap();
    assert!(matches!(
        store.load(&id).await,
        Err(Error::Unavailable { op: "load", .. })
    ));
}

#[tokio::test]
async fn clear_expired_goes_in_batches_and_reports_progress() {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_b");
    let builder = PostgresStore::builder(&url())
        .unwrap()
        .table(table.clone())
        .clock(Arc::new(clock.clone()))
        .clear_batch(100);
    let Some(store) = server_or_skip("postgres", builder.build().await) else {
        return;
    };
    let _cleanup = drop_table(&table);
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
async fn a_locked_row_is_a_timeout_not_a_hang() {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_l");
    let builder = PostgresStore::builder(&url())
        .unwrap()
        .table(table.clone())
        .clock(Arc::new(clock.clone()))
        .timeout(StdDuration::from_millis(300));
    let Some(store) = server_or_skip("postgres", builder.build().await) else {
        return;
    };
    let _cleanup = drop_table(&table);
    let id = SessionId::generate().unwrap();
    let Saved::Written(v) = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await
        .unwrap()
    else {
        panic!("a fresh id conflicted")
    };
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query(&format!(
        "SELECT 1 FROM \"{table}\" WHERE id = $1 FOR UPDATE"
    ))
    .bind(format!("session:{}", id.expose()))
    .execute(&mut *tx)
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let result = store
        .save(&id, &live_record(&clock), Expected::Version(v))
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
    let table = unique_name("tessera_u");
    let url = format!("{}?table={table}", url());
    let Some(store) = server_or_skip(
        "postgres",
        tessera::store::open(&url, &OpenOptions::default()).await,
    ) else {
        return;
    };
    let _cleanup = drop_table(&table);
    let id = SessionId::generate().unwrap();
    let record = live_record(&ManualClock::starting_now());
    assert!(matches!(
        store.save(&id, &record, Expected::Absent).await,
        Ok(Saved::Written(_))
    ));
    assert!(format!("{store:?}").contains(&table));
    let bad = format!("{}?table=x;drop", self::url());
    assert!(matches!(
        tessera::store::open(&bad, &OpenOptions::default()).await,
        Err(Error::BadUrl { .. })
    ));
}

async fn fresh_store(clock: &ManualClock) -> Option<(PostgresStore, Teardown)> {
    let table = unique_name("tessera_v");
    let store = server_or_skip("postgres", open_store(&table, clock).await)?;
    Some((store, drop_table(&table)))
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
