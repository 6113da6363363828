//! The conformance suite against [`DjangoCachedDbStore`]: Django's `cached_db` engine, its
//! `django_session` table on PostgreSQL (`TESSERA_POSTGRES_URL`) and its pickled cache entry on
//! Redis (`TESSERA_REDIS_URL`), plus how the entry follows the table.
#![cfg(all(feature = "redis", feature = "postgres", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use redis::Commands as _;
use support::sql::{self, postgres_url};
use support::{unique_name, Cleanup, Tracked};
use tessera::clock::{ManualClock, SharedClock};
use tessera::conformance::{server_or_skip, Harness};
use tessera::crypto::{KeyRing, SecretKey};
use tessera::interop::{django, pickle};
use tessera::store::django_cached_db::DjangoCachedDbStore;
use tessera::store::redis::RedisStore;
use tessera::store::sql::{DjangoDbStore, Postgres};
use tessera::store::{Expected, OpenOptions, Saved, SessionStore};
use tessera::{Expiry, ExpiryPolicy, Profile, Record, SessionId};
use time::{Duration, OffsetDateTime};

fn redis_url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn options(clock: SharedClock, prefix: &str) -> OpenOptions {
    OpenOptions::default()
        .with_profile(Profile::Django, ExpiryPolicy::new(Duration::weeks(2), true))
        .with_keys(KeyRing::new(
            SecretKey::new("django-cached-db-test-secret-key-0123456789").unwrap(),
        ))
        .with_clock(clock)
        .with_key_prefix(prefix)
        .with_timeout(StdDuration::from_secs(5))
}

/// Both halves, twice (two app servers), and what a test needs to look behind them.
struct Setup {
    store: DjangoCachedDbStore,
    peer: DjangoCachedDbStore,
    cache: RedisStore,
    db: DjangoDbStore,
    clock: ManualClock,
    table: String,
    cleanup: support::Teardown,
}

async fn setup() -> Option<Setup> {
    // Redis keeps real time; the table and the wrapper judge deadlines by this clock, which
    // starts now so Redis TTLs stay meaningful.
    let clock = ManualClock::starting_now();
    let shared: SharedClock = Arc::new(clock.clone());
    let prefix = format!("{}:", support::unique("tessera-test-cached-db"));
    let options = options(shared.clone(), &prefix);
    let url = redis_url();
    let cache = server_or_skip(
        &format!("redis at {url}"),
        RedisStore::connect(&url, &options).await,
    )?;
    let table = unique_name("django_session_c");
    let db_url = format!("{}?table={table}&migrate=true", postgres_url());
    let db = server_or_skip(
        &format!("postgres at {}", postgres_url()),
        DjangoDbStore::open(&db_url, &options).await,
    )?;
    let cleanup = sql::drop_table::<Postgres>(&postgres_url(), &table);
    let wrap = |cache: RedisStore, db: DjangoDbStore| {
        DjangoCachedDbStore::new(Arc::new(cache), Arc::new(db))
            .with_clock(shared.clone())
            .with_cache_timeout(StdDuration::from_secs(2))
    };
    let store = wrap(cache.clone(), db.clone());
    let peer = wrap(
        RedisStore::connect(&url, &options).await.unwrap(),
        DjangoDbStore::open(&db_url, &options).await.unwrap(),
    );
    Some(Setup {
        store,
        peer,
        cache,
        db,
        clock,
        table,
        cleanup,
    })
}

async fn harness() -> Option<Harness> {
    let s = setup().await?;
    let pool = sqlx::PgPool::connect_lazy(&postgres_url()).unwrap();
    let (table, keep) = (s.table.clone(), s.cleanup.clone());
    let corrupt = move |id: SessionId| {
        let (pool, _keep) = (pool.clone(), keep.clone());
        let statement = format!(
            "INSERT INTO \"{table}\" (session_key, session_data, expire_date) \
             VALUES ('{}', 'not:signed:by-this-key', now() + interval '1 day')",
            id.expose()
        );
        async move {
            sqlx::query(&statement).execute(&pool).await.unwrap();
        }
    };
    let cache = s.cache.clone();
    let url = redis_url();
    let cleanup = Cleanup::keeping(
        move |ids| {
            let keys: Vec<String> = ids.iter().map(|id| cache.key(id)).collect();
            support::redis_remover(&url, &keys);
        },
        None,
    );
    let harness = Tracked::harness(s.store, s.peer, &cleanup);
    Some(harness.with_clock(s.clock).with_corrupter(corrupt))
}

tessera::conformance_suite!(harness);

fn record(user: &str, at: OffsetDateTime) -> Record {
    let mut data = tessera::Data::new();
    data.insert("_auth_user_id".into(), user.into());
    Record::new(data, Expiry::Default, at)
}

/// The raw cache entry under `id`, if any.
async fn entry(cache: &RedisStore, id: &SessionId) -> Option<Vec<u8>> {
    let (url, key) = (redis_url(), cache.key(id));
    tokio::task::spawn_blocking(move || {
        let mut con = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let raw: Option<Vec<u8>> = con.get(&key).unwrap();
        raw
    })
    .await
    .unwrap()
}

async fn forget(cache: &RedisStore, id: &SessionId) {
    support::redis_remover(&redis_url(), &[cache.key(id)]);
}

#[tokio::test]
async fn writes_set_djangos_entry_and_deletes_remove_it() {
    let Some(s) = setup().await else { return };
    let at = tessera::clock::Clock::now(&s.clock) + Duration::hours(1);
    let id = Profile::Django.generate_id().unwrap();
    let first = record("1", at);
    let Saved::Written(v1) = s.store.save(&id, &first, Expected::Absent).await.unwrap() else {
        panic!("not written");
    };
    let raw = entry(&s.cache, &id).await.expect("the entry is written");
    assert_eq!(
        pickle::loads_dict(&raw).unwrap(),
        django::dict_from_record(&first)
    );
    // An update through the other app server: its entry follows.
    let loaded = s.peer.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.record.data, first.data);
    let second = record("2", at);
    let Saved::Written(v2) = s
        .peer
        .save(&id, &second, Expected::Version(loaded.version))
        .await
        .unwrap()
    else {
        panic!("the update conflicted");
    };
    assert_ne!(v1, v2);
    let raw = entry(&s.cache, &id).await.unwrap();
    assert_eq!(pickle::loads_dict(&raw).unwrap()["_auth_user_id"], "2");
    // A logout: row and entry gone.
    s.store.delete(&id).await.unwrap();
    assert_eq!(entry(&s.cache, &id).await, None);
    assert_eq!(s.db.load(&id).await.unwrap(), None);
}

#[tokio::test]
async fn a_write_on_a_stale_entry_conflicts_and_the_row_wins() {
    let Some(s) = setup().await else { return };
    let at = tessera::clock::Clock::now(&s.clock) + Duration::hours(1);
    let id = Profile::Django.generate_id().unwrap();
    let Saved::Written(_) = s
        .store
        .save(&id, &record("1", at), Expected::Absent)
        .await
        .unwrap()
    else {
        panic!("not written");
    };
    // The row moves on without the entry (a Django process whose cache write failed).
    let row = s.db.load(&id).await.unwrap().unwrap();
    let Saved::Written(_) =
        s.db.save(&id, &record("2", at), Expected::Version(row.version))
            .await
            .unwrap()
    else {
        panic!("not written");
    };
    // tessera reads the stale entry, as Django would, and its write on it conflicts.
    let stale = s.store.load(&id).await.unwrap().unwrap();
    assert_eq!(stale.record.data["_auth_user_id"], "1");
    assert_eq!(
        s.store
            .save(&id, &record("3", at), Expected::Version(stale.version))
            .await
            .unwrap(),
        Saved::Conflict
    );
    assert_eq!(
        entry(&s.cache, &id).await,
        None,
        "the stale entry is dropped"
    );
    // The retry reads the row and goes through.
    let fresh = s.store.reload(&id).await.unwrap().unwrap();
    assert_eq!(fresh.record.data["_auth_user_id"], "2");
    let Saved::Written(_) = s
        .store
        .save(&id, &record("3", at), Expected::Version(fresh.version))
        .await
        .unwrap()
    else {
        panic!("the retry conflicted");
    };
    assert_eq!(
        pickle::loads_dict(&entry(&s.cache, &id).await.unwrap()).unwrap()["_auth_user_id"],
        "3"
    );
    s.store.delete(&id).await.unwrap();
}

#[tokio::test]
async fn a_write_from_the_entry_goes_through_when_the_row_agrees() {
    let Some(s) = setup().await else { return };
    let at = tessera::clock::Clock::now(&s.clock) + Duration::hours(1);
    let id = Profile::Django.generate_id().unwrap();
    let Saved::Written(_) = s
        .store
        .save(&id, &record("1", at), Expected::Absent)
        .await
        .unwrap()
    else {
        panic!("not written");
    };
    let cached = s.store.load(&id).await.unwrap().unwrap();
    let row = s.db.load(&id).await.unwrap().unwrap();
    assert_ne!(cached.version, row.version, "read from the entry");
    let Saved::Written(_) = s
        .store
        .save(&id, &record("2", at), Expected::Version(cached.version))
        .await
        .unwrap()
    else {
        panic!("conflicted although the row agrees");
    };
    assert_eq!(
        s.db.load(&id).await.unwrap().unwrap().record.data["_auth_user_id"],
        "2"
    );
    s.store.delete(&id).await.unwrap();
}

#[tokio::test]
async fn a_miss_fills_the_entry_from_the_row() {
    let Some(s) = setup().await else { return };
    let at = tessera::clock::Clock::now(&s.clock) + Duration::hours(1);
    let id = Profile::Django.generate_id().unwrap();
    let Saved::Written(_) =
        s.db.save(&id, &record("9", at), Expected::Absent)
            .await
            .unwrap()
    else {
        panic!("not written");
    };
    forget(&s.cache, &id).await;
    let loaded = s.store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.record.data["_auth_user_id"], "9");
    let raw = entry(&s.cache, &id).await.expect("filled");
    assert_eq!(pickle::loads_dict(&raw).unwrap()["_auth_user_id"], "9");
    s.store.delete(&id).await.unwrap();
}
