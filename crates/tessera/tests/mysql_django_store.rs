//! The conformance suite against Django's `db` engine layout (`django_session`) on MySQL /
//! MariaDB (`TESSERA_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`), and the table
//! `migrate=true` creates.
#![cfg(all(feature = "mysql", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use support::sql::{self, mysql_url as url};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::conformance::{server_or_skip, Harness};
use tessera::crypto::{KeyRing, SecretKey};
use tessera::store::sql::{DjangoDbStore, MySql};
use tessera::store::{open, OpenOptions};
use tessera::{ExpiryPolicy, Profile};

const KEY: &str = "django-db-store-test-secret-key-0123456789";

fn options(clock: &ManualClock) -> OpenOptions {
    OpenOptions::default()
        .with_profile(Profile::Django, ExpiryPolicy::default())
        .with_keys(KeyRing::new(SecretKey::new(KEY).unwrap()))
        .with_clock(Arc::new(clock.clone()))
}

fn drop_table(table: &str) -> Teardown {
    sql::drop_table::<MySql>(&url(), table)
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
    let expire = "UTC_TIMESTAMP(6) + INTERVAL 1 DAY";
    Some(sql::django_harness::<MySql>(
        store,
        peer,
        clock,
        &url(),
        &table,
        expire,
        cleanup,
    ))
}

tessera::conformance_suite!(harness);

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
    assert_eq!(
        sql::mysql_columns(&url(), &table).await,
        [
            ["session_key", "varchar(40)", "NO", "PRI"],
            ["session_data", "longtext", "NO", ""],
            ["expire_date", "datetime(6)", "NO", "MUL"],
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
