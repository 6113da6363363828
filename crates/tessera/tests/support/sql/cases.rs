//! Cases only the SQL stores have, generic over the dialect: each dialect's test file calls
//! them once, with its database's URL (`what` names it in the skip message).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use tessera::clock::{Clock as _, ManualClock};
use tessera::conformance::server_or_skip;
use tessera::store::sql::{Dialect, SqlStore, SqlStoreBuilder};
use tessera::store::{Error, Expected, Saved, SessionStore};
use tessera::{Expiry, Profile, Record, SessionId};
use time::Duration;

use super::{drop_table, index_table, DialectSql};
use crate::support::unique_name;

/// An empty record, live for an hour by `clock`.
pub fn live_record(clock: &ManualClock) -> Record {
    Record::new(
        Default::default(),
        Expiry::Default,
        clock.now() + Duration::hours(1),
    )
}

/// With `clear_batch(100)`, 230 expired rows of 250 are deleted 100 at a time, each batch
/// reported.
pub async fn clear_expired_goes_in_batches_and_reports_progress<D: DialectSql>(
    what: &str,
    url: &str,
) {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_b");
    let builder = SqlStore::<D>::builder(url)
        .unwrap()
        .table(table.clone())
        .clock(Arc::new(clock.clone()))
        .clear_batch(100);
    let Some(store) = server_or_skip(what, builder.build().await) else {
        return;
    };
    let _cleanup = drop_table::<D>(url, &table);
    let now = clock.now();
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

/// Eight stores built at once from `builder()`, on a table (and schema, file …) that does not
/// exist yet, all start, and share it.
pub async fn migrate_concurrently<D: Dialect>(
    builder: impl Fn() -> SqlStoreBuilder<SqlStore<D>>,
    clock: &ManualClock,
) {
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let builder = builder().clock(Arc::new(clock.clone()));
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
        .save(&id, &live_record(clock), Expected::Absent)
        .await;
    assert!(matches!(saved, Ok(Saved::Written(_))));
    assert!(stores[7].exists(&id).await.unwrap());
}

/// A store told not to migrate, on a table that does not exist: a load fails as
/// [`Error::Unavailable`], without a panic.
pub async fn without_migration_a_missing_table_is_an_error_not_a_panic<D: Dialect>(
    what: &str,
    url: &str,
) {
    let table = unique_name("tessera_n");
    let url = format!("{url}?table={table}&migrate=false");
    let Some(store) = server_or_skip(what, SqlStore::<D>::connect(&url).await) else {
        return;
    };
    let id = SessionId::generate().unwrap();
    assert!(matches!(
        store.load(&id).await,
        Err(Error::Unavailable { op: "load", .. })
    ));
}

/// A save of a row another transaction holds locked (`SELECT … FOR UPDATE`) times out within
/// 2 s, with a 300 ms timeout, instead of waiting for the lock.
pub async fn a_locked_row_is_a_timeout_not_a_hang<D: DialectSql>(what: &str, url: &str) {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_l");
    let builder = SqlStore::<D>::builder(url)
        .unwrap()
        .table(table.clone())
        .clock(Arc::new(clock.clone()))
        .timeout(StdDuration::from_millis(300));
    let Some(store) = server_or_skip(what, builder.build().await) else {
        return;
    };
    let _cleanup = drop_table::<D>(url, &table);
    let id = SessionId::generate().unwrap();
    let Saved::Written(v) = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await
        .unwrap()
    else {
        panic!("a fresh id conflicted")
    };
    let lock = format!(
        "SELECT 1 FROM {} WHERE id = 'session:{}' FOR UPDATE",
        D::quote(&table),
        id.expose()
    );
    let tx = D::in_transaction(store.pool(), &lock).await.unwrap();
    assert_a_save_times_out(store.save(&id, &live_record(&clock), Expected::Version(v))).await;
    tx.rollback().await.unwrap();
}

/// `save`, against a store with a 300 ms timeout that cannot take its lock, fails as a timeout
/// within 2 s.
pub async fn assert_a_save_times_out(
    save: impl std::future::Future<Output = Result<Saved, Error>>,
) {
    let started = std::time::Instant::now();
    let result = save.await;
    assert!(
        matches!(result, Err(Error::Timeout { op: "save", .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < StdDuration::from_secs(2));
}

/// A user name with quotes, a statement and a comment in it is an ordinary user: entered,
/// listed and removed as any other, kept verbatim in the index table, and no other user's
/// name (nor the tables) is touched by it.
pub async fn user_names_are_data_not_sql<D: DialectSql>(what: &str, url: &str, profile: Profile) {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_q");
    let Some(store) = server_or_skip(what, super::open::<D>(url, &table, profile, &clock).await)
    else {
        return;
    };
    let _cleanup = drop_table::<D>(url, &table);
    let index = store.user_index().unwrap();
    let nasty = format!("O'Brien\"; DROP TABLE {table}; -- ü\\");
    let plain = "O'Brien";
    let (id, other) = (
        SessionId::generate().unwrap(),
        SessionId::generate().unwrap(),
    );
    let until = clock.now() + Duration::hours(1);
    index.enter(&nasty, &id, until).await.unwrap();
    index.enter(plain, &other, until).await.unwrap();
    assert_eq!(
        index.entries(&nasty).await.unwrap(),
        std::slice::from_ref(&id)
    );
    assert_eq!(
        index.entries(plain).await.unwrap(),
        std::slice::from_ref(&other)
    );
    let mut names = D::texts(
        store.pool(),
        &format!(
            "SELECT {} FROM {}",
            D::as_text("user_name"),
            D::quote(&index_table(&table))
        ),
    )
    .await
    .unwrap();
    names.sort();
    let mut expected = vec![nasty.clone(), plain.to_owned()];
    expected.sort();
    assert_eq!(names, expected, "user names are stored verbatim");
    // The session table is still there.
    let _ = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await
        .unwrap();
    index
        .remove(&nasty, &[id.clone(), other.clone()])
        .await
        .unwrap();
    assert!(index.entries(&nasty).await.unwrap().is_empty());
    assert_eq!(index.entries(plain).await.unwrap(), [other]);
}

/// A store told not to migrate, whose index table is missing, keeps no index (and says so)
/// while its sessions and `clear_expired` work; its migration makes the index table and
/// turns the index on.
pub async fn without_migration_a_missing_index_table_turns_the_index_off<D: DialectSql>(
    what: &str,
    url: &str,
) {
    let clock = ManualClock::starting_now();
    let table = unique_name("tessera_m");
    let Some(made) = server_or_skip(
        what,
        super::open::<D>(url, &table, Profile::Native, &clock).await,
    ) else {
        return;
    };
    let _cleanup = drop_table::<D>(url, &table);
    D::run_sql(
        made.pool(),
        &format!("DROP TABLE {}", D::quote(&index_table(&table))),
    )
    .await
    .unwrap();
    let store = SqlStore::<D>::builder(url)
        .unwrap()
        .table(table.clone())
        .migrate(false)
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap();
    assert!(matches!(store.user_index(), Err(Error::Unsupported { .. })));
    let id = SessionId::generate().unwrap();
    let _ = store
        .save(&id, &live_record(&clock), Expected::Absent)
        .await
        .unwrap();
    assert_eq!(store.clear_expired().await.unwrap(), 0);
    store.migrate().await.unwrap();
    let index = store.user_index().unwrap();
    index
        .enter("ada", &id, clock.now() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(index.entries("ada").await.unwrap(), [id]);
    // A store opened without migration on the existing index table keeps it.
    let reopened = SqlStore::<D>::builder(url)
        .unwrap()
        .table(table.clone())
        .migrate(false)
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap();
    assert_eq!(
        reopened
            .user_index()
            .unwrap()
            .entries("ada")
            .await
            .unwrap()
            .len(),
        1
    );
}
