//! The conformance suite against MySQL / MariaDB (`TESSERA_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`) keeping Flask-Session 0.8's `sessions` table (the
//! `flask-session` profile), and the shape of that table.
#![cfg(feature = "mysql")]
#![allow(clippy::unwrap_used)]

mod conformance;
mod support;

use std::sync::Arc;

use conformance::{server_or_skip, Harness};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::interop::flask_session::naive_utc;
use tessera::store::sql::MySqlStore;
use tessera::store::{open, Error, OpenOptions, SessionStore};
use tessera::{ExpiryPolicy, Profile, SessionId};
use time::{Duration, OffsetDateTime};

fn url() -> String {
    std::env::var("TESSERA_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

async fn open_store(table: &str, clock: &ManualClock) -> Result<MySqlStore, Error> {
    MySqlStore::builder(&url())?
        .table(table)
        .profile(Profile::FlaskSession, ExpiryPolicy::default())
        .clock(Arc::new(clock.clone()))
        .build()
        .await
}

fn drop_table(table: &str) -> Teardown {
    let sql = format!("DROP TABLE IF EXISTS `{table}`");
    Teardown::new(move || async move {
        if let Ok(pool) = sqlx::MySqlPool::connect(&url()).await {
            let _ = sqlx::query(&sql).execute(&pool).await;
        }
    })
}

async fn harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let table = unique_name("flask_sessions");
    let store = server_or_skip(
        &format!("mysql at {}", url()),
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
                sqlx::query(&format!(
                    "INSERT INTO `{table}` (session_id, data, expiry) VALUES (?, ?, ?)"
                ))
                .bind(format!("session:{}", id.expose()))
                .bind(&b"\xc1 not msgpack"[..])
                .bind(expiry)
                .execute(raw.pool())
                .await
                .unwrap();
            })
        })),
    })
}

// Every case but `large_values`: SQLAlchemy makes `data` a MySQL `BLOB`, which holds at most
// 64 KiB (Flask-Session's own writes fail the same way); see `values_over_64_kib_fail_loudly`.
conformance_suite!(@cases harness;
    round_trip, conditional_writes, delete, touch, exists, expiry_is_honoured,
    expired_save_is_a_delete, clear_expired, corrupt_record_is_a_fresh_session,
    lifecycle_cycle_id, lifecycle_flush, lifecycle_read_only_writes_nothing,
    concurrent_writers_lose_nothing, concurrent_updates_lose_nothing,
    concurrent_get_then_insert_is_kept_or_refused, keys_are_isolated);

#[tokio::test]
async fn values_over_64_kib_fail_loudly() {
    let clock = ManualClock::starting_now();
    let table = unique_name("flask_sessions");
    let Some(store) = server_or_skip(
        &format!("mysql at {}", url()),
        open_store(&table, &clock).await,
    ) else {
        return;
    };
    let _cleanup = drop_table(&table);
    let mut data = tessera::Data::new();
    data.insert("blob".into(), "x".repeat(70 * 1024).into());
    let now = tessera::clock::Clock::now(&clock);
    let record = tessera::Record::new(data, tessera::Expiry::Default, now + Duration::hours(1));
    let id = SessionId::generate().unwrap();
    let saved = store
        .save(&id, &record, tessera::store::Expected::Absent)
        .await;
    assert!(saved.is_err(), "{saved:?}");
    assert!(store.load(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn the_table_is_sqlalchemys() {
    let clock = ManualClock::starting_now();
    let table = unique_name("flask_sessions");
    let options = OpenOptions::default()
        .with_profile(Profile::FlaskSession, ExpiryPolicy::default())
        .with_clock(Arc::new(clock.clone()));
    let Some(store) = server_or_skip(
        &format!("mysql at {}", url()),
        open(&format!("{}?table={table}", url()), &options).await,
    ) else {
        return;
    };
    let _cleanup = drop_table(&table);
    assert_eq!(store.profile(), Profile::FlaskSession);
    let pool = sqlx::MySqlPool::connect(&url()).await.unwrap();
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(COLUMN_KEY AS CHAR) \
         FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(&table)
    .fetch_all(&pool)
    .await
    .unwrap();
    let columns: Vec<_> = columns
        .iter()
        .map(|(n, t, key)| (n.as_str(), t.as_str(), key.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "int(11)", "PRI"),
            ("session_id", "varchar(255)", "UNI"),
            ("data", "blob", ""),
            ("expiry", "datetime", ""),
        ]
    );
}
