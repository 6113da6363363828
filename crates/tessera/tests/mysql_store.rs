//! The conformance suite and the migration tests against MySQL / MariaDB
//! (`TESSERA_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`).
#![cfg(all(feature = "mysql", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use support::sql::{self, live_record, mysql_url as url};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::conformance::{server_or_skip, Harness};
use tessera::store::sql::{MySql, MySqlStore};
use tessera::store::{Error, Expected, Saved, SessionStore};
use tessera::{Profile, SessionId};

async fn open_store(table: &str, clock: &ManualClock) -> Result<MySqlStore, Error> {
    sql::open(&url(), table, Profile::Native, clock).await
}

fn drop_table(table: &str) -> Teardown {
    sql::drop_table::<MySql>(&url(), table)
}

async fn harness() -> Option<Harness> {
    sql::server_harness::<MySql>("mysql", url(), Profile::Native).await
}

tessera::conformance_suite!(harness);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_concurrently_on_a_fresh_table() {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_c");
    let probe = MySqlStore::builder(&url())
        .unwrap()
        .migrate(false)
        .build()
        .await;
    if server_or_skip("mysql", probe).is_none() {
        return;
    }
    let _cleanup = drop_table(&table);
    let builder = || MySqlStore::builder(&url()).unwrap().table(table.clone());
    sql::migrate_concurrently(builder, &clock).await;
}

#[tokio::test]
async fn ids_are_case_sensitive_and_prefixes_bounded() {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_k");
    let Some(store) = server_or_skip("mysql", open_store(&table, &clock).await) else {
        return;
    };
    let _cleanup = drop_table(&table);
    let lower = SessionId::parse("abcdefgh").unwrap();
    let upper = SessionId::parse("ABCDEFGH").unwrap();
    let _ = store
        .save(&lower, &live_record(&clock), Expected::Absent)
        .await
        .unwrap();
    assert!(
        !store.exists(&upper).await.unwrap(),
        "ids differing in case are different sessions"
    );
    assert!(matches!(
        store
            .save(&upper, &live_record(&clock), Expected::Absent)
            .await,
        Ok(Saved::Written(_))
    ));
    let long = MySqlStore::builder(&url())
        .unwrap()
        .key_prefix("p".repeat(128))
        .build()
        .await;
    assert!(matches!(long, Err(Error::BadUrl { .. })));
}

#[tokio::test]
async fn without_migration_a_missing_table_is_an_error_not_a_panic() {
    sql::without_migration_a_missing_table_is_an_error_not_a_panic::<MySql>("mysql", &url()).await;
}

#[tokio::test]
async fn clear_expired_goes_in_batches_and_reports_progress() {
    sql::clear_expired_goes_in_batches_and_reports_progress::<MySql>("mysql", &url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_row_is_a_timeout_not_a_hang() {
    sql::a_locked_row_is_a_timeout_not_a_hang::<MySql>("mysql", &url()).await;
}

#[tokio::test]
async fn user_names_are_data_not_sql() {
    sql::user_names_are_data_not_sql::<MySql>("mysql", &url(), Profile::Native).await;
    sql::user_names_are_data_not_sql::<MySql>("mysql", &url(), Profile::FlaskSession).await;
}

#[tokio::test]
async fn without_migration_a_missing_index_table_turns_the_index_off() {
    sql::without_migration_a_missing_index_table_turns_the_index_off::<MySql>("mysql", &url())
        .await;
}
