//! The conformance suite against Django's `db` engine layout (`django_session`) on MySQL /
//! MariaDB (`TESSERA_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`), and the table
//! `migrate=true` creates.
#![cfg(feature = "mysql")]
#![allow(clippy::unwrap_used)]

mod conformance;
mod support;

use std::sync::Arc;

use conformance::{server_or_skip, Harness};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::crypto::{KeyRing, SecretKey};
use tessera::store::sql::DjangoDbStore;
use tessera::store::{open, OpenOptions};
use tessera::{ExpiryPolicy, Profile};

const KEY: &str = "django-db-store-test-secret-key-0123456789";

fn url() -> String {
    std::env::var("TESSERA_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned())
}

fn options(clock: &ManualClock) -> OpenOptions {
    OpenOptions::default()
        .with_profile(Profile::Django, ExpiryPolicy::default())
        .with_keys(KeyRing::new(SecretKey::new(KEY).unwrap()))
        .with_clock(Arc::new(clock.clone()))
}

fn drop_table(table: &str) -> Teardown {
    let drop = format!("DROP TABLE IF EXISTS `{table}`");
    Teardown::new(move || async move {
        if let Ok(pool) = sqlx::MySqlPool::connect(&url()).await {
            let _ = sqlx::query(&drop).execute(&pool).await;
        }
    })
}

/// Each harness has its own table (created with Django's schema), so clear_expired counts
/// only its own rows.
async fn harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let table = unique_name("django_session_t");
    let store_url = format!("{}?table={table}&migrate=true", url());
    let store = server_or_skip(
        &format!("mysql at {}", url()),
        DjangoDbStore::open(&store_url, &options(&clock)).await,
    )?;
    let peer = DjangoDbStore::open(&store_url, &options(&clock))
        .await
        .unwrap();
    let cleanup = drop_table(&table);
    let insert = format!(
        "INSERT INTO `{table}` (session_key, session_data, expire_date) \
         VALUES (?, ?, UTC_TIMESTAMP(6) + INTERVAL 1 DAY)"
    );
    Some(Harness {
        store: Arc::new(store),
        peer: Arc::new(peer),
        clock: Some(clock),
        server_expires: false,
        corrupt: Some(Arc::new(move |id| {
            let (insert, _cleanup) = (insert.clone(), cleanup.clone());
            Box::pin(async move {
                let pool = sqlx::MySqlPool::connect(&url()).await.unwrap();
                sqlx::query(&insert)
                    .bind(id.expose())
                    .bind("not:signed:by-this-key")
                    .execute(&pool)
                    .await
                    .unwrap();
            })
        })),
    })
}

conformance_suite!(harness);

#[tokio::test]
async fn migrate_creates_what_djangos_migration_creates() {
    let clock = ManualClock::starting_now();
    let table = unique_name("django_session_t");
    let store_url = format!("{}?table={table}&migrate=true", url());
    let Some(store) = server_or_skip(
        &format!("mysql at {}", url()),
        open(&store_url, &options(&clock)).await,
    ) else {
        return;
    };
    let _cleanup = drop_table(&table);
    assert_eq!(store.profile(), Profile::Django);
    assert!(format!("{store:?}").contains("DjangoDbStore"));
    let pool = sqlx::MySqlPool::connect(&url()).await.unwrap();
    let columns: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR), \
         CAST(COLUMN_KEY AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(&table)
    .fetch_all(&pool)
    .await
    .unwrap();
    let columns: Vec<_> = columns
        .iter()
        .map(|(n, t, null, key)| (n.as_str(), t.as_str(), null.as_str(), key.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("session_key", "varchar(40)", "NO", "PRI"),
            ("session_data", "longtext", "NO", ""),
            ("expire_date", "datetime(6)", "NO", "MUL"),
        ]
    );
    // Without migrate=true a missing table is an error that says how to make it.
    let missing = format!("{}?table={}", url(), unique_name("django_missing"));
    let err = open(&missing, &options(&clock))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("manage.py migrate"), "{err}");
}
