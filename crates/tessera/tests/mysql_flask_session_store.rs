//! The conformance suite against MySQL / MariaDB (`TESSERA_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306/test`) keeping Flask-Session 0.8's `sessions` table (the
//! `flask-session` profile), and the shape of that table.
#![cfg(all(feature = "mysql", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use support::sql::{self, mysql_url as url};
use support::{unique_name, Teardown};
use tessera::clock::ManualClock;
use tessera::conformance::{server_or_skip, Harness};
use tessera::store::sql::{MySql, MySqlStore};
use tessera::store::{open, Error, OpenOptions, SessionStore};
use tessera::{ExpiryPolicy, Profile, SessionId};
use time::Duration;

async fn open_store(table: &str, clock: &ManualClock) -> Result<MySqlStore, Error> {
    sql::open(&url(), table, Profile::FlaskSession, clock).await
}

fn drop_table(table: &str) -> Teardown {
    sql::drop_table::<MySql>(&url(), table)
}

async fn harness() -> Option<Harness> {
    sql::server_harness::<MySql>("mysql", url(), Profile::FlaskSession).await
}

// Every case but `large_values`: SQLAlchemy makes `data` a MySQL `BLOB`, which holds at most
// 64 KiB (Flask-Session's own writes fail the same way); see `values_over_64_kib_fail_loudly`.
tessera::conformance_suite!(harness; except large_values);

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
    // SQLAlchemy's columns take NULL unless they are the primary key.
    assert_eq!(
        sql::mysql_columns(&url(), &table).await,
        [
            ["id", "int(11)", "NO", "PRI"],
            ["session_id", "varchar(255)", "YES", "UNI"],
            ["data", "blob", "YES", ""],
            ["expiry", "datetime", "YES", ""],
        ]
    );
}
