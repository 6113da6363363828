//! The conformance suite and PostgreSQL's own tests (`TESSERA_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`).
#![cfg(all(feature = "postgres", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use support::sql::{self, postgres_url as url};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::conformance::{server_or_skip, Harness};
use tessera::store::sql::{Postgres, PostgresStore};
use tessera::Profile;

async fn harness() -> Option<Harness> {
    sql::server_harness::<Postgres>("postgres", url(), Profile::Native).await
}

tessera::conformance_suite!(harness);

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
    let builder = || {
        PostgresStore::builder(&url())
            .unwrap()
            .table(table.clone())
            .schema(schema.clone())
    };
    sql::migrate_concurrently(builder, &clock).await;
}

#[tokio::test]
async fn without_migration_a_missing_table_is_an_error_not_a_panic() {
    sql::without_migration_a_missing_table_is_an_error_not_a_panic::<Postgres>("postgres", &url())
        .await;
}

#[tokio::test]
async fn clear_expired_goes_in_batches_and_reports_progress() {
    sql::clear_expired_goes_in_batches_and_reports_progress::<Postgres>("postgres", &url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_row_is_a_timeout_not_a_hang() {
    sql::a_locked_row_is_a_timeout_not_a_hang::<Postgres>("postgres", &url()).await;
}

#[tokio::test]
async fn user_names_are_data_not_sql() {
    sql::user_names_are_data_not_sql::<Postgres>("postgres", &url(), Profile::Native).await;
    sql::user_names_are_data_not_sql::<Postgres>("postgres", &url(), Profile::FlaskSession).await;
}

#[tokio::test]
async fn without_migration_a_missing_index_table_turns_the_index_off() {
    sql::without_migration_a_missing_index_table_turns_the_index_off::<Postgres>(
        "postgres",
        &url(),
    )
    .await;
}
