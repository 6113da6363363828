//! The conformance suite against Django's `db` engine layout (`django_session`), on PostgreSQL
//! (`TESSERA_POSTGRES_URL`) and on SQLite files, plus the table's exact format.
#![cfg(all(
    feature = "postgres",
    feature = "sqlite",
    feature = "file",
    feature = "conformance"
))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use support::sql::{self, postgres_url as pg_url};
use support::unique_name;
use tessera::clock::ManualClock;
use tessera::conformance::{server_or_skip, Harness};
use tessera::crypto::{KeyRing, SecretKey};
use tessera::interop::django;
use tessera::store::sql::{DjangoDbStore, Postgres, Sqlite};
use tessera::store::{open, Error, Expected, OpenOptions, Saved, SessionStore};
use tessera::{Expiry, ExpiryPolicy, Profile, Record};
use time::{Duration, OffsetDateTime};

const KEY: &str = "django-db-store-test-secret-key-0123456789";

fn keys() -> KeyRing {
    KeyRing::new(SecretKey::new(KEY).unwrap())
}

fn options(clock: &ManualClock) -> OpenOptions {
    OpenOptions::default()
        .with_profile(Profile::Django, ExpiryPolicy::default())
        .with_keys(keys())
        .with_clock(Arc::new(clock.clone()))
        .with_timeout(sql::TEST_TIMEOUT)
}

/// Each harness has its own table (created with Django's schema), so clear_expired counts
/// only its own rows.
async fn pg_harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let table = unique_name("django_session_t");
    let url = format!("{}?table={table}&migrate=true", pg_url());
    let store = server_or_skip(
        &format!("postgres at {}", pg_url()),
        DjangoDbStore::open(&url, &options(&clock)).await,
    )?;
    let peer = DjangoDbStore::open(&url, &options(&clock)).await.unwrap();
    let cleanup = sql::drop_table::<Postgres>(&pg_url(), &table);
    let expire = "now() + interval '1 day'";
    Some(sql::django_harness::<Postgres>(
        store,
        peer,
        clock,
        &pg_url(),
        &table,
        expire,
        cleanup,
    ))
}

async fn sqlite_harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let (path, cleanup) = sql::temp_sqlite("tessera-django");
    let url = format!("sqlite://{}?migrate=true", path.display());
    let store = DjangoDbStore::open(&url, &options(&clock)).await.unwrap();
    let peer = DjangoDbStore::open(&url, &options(&clock)).await.unwrap();
    let db = format!("sqlite://{}", path.display());
    let (table, expire) = ("django_session", "'2999-01-01 00:00:00'");
    Some(sql::django_harness::<Sqlite>(
        store, peer, clock, &db, table, expire, cleanup,
    ))
}

mod postgres {
    use super::*;
    tessera::conformance_suite!(pg_harness);
}

mod sqlite {
    use super::*;
    tessera::conformance_suite!(sqlite_harness);
}

fn live_record(at: OffsetDateTime) -> Record {
    let mut data = tessera::Data::new();
    data.insert("_auth_user_id".into(), "42".into());
    Record::new(data, Expiry::Age(Duration::seconds(600)), at)
}

#[tokio::test]
async fn rows_are_djangos_format() {
    let clock = ManualClock::starting_now();
    let (path, _cleanup) = sql::temp_sqlite("tessera-django");
    let url = format!("sqlite://{}?migrate=true", path.display());
    let store = DjangoDbStore::open(&url, &options(&clock)).await.unwrap();
    let now = tessera::clock::Clock::now(&clock)
        .replace_nanosecond(0)
        .unwrap();
    let id = Profile::Django.generate_id().unwrap();
    let record = live_record(now + Duration::seconds(600));
    let Saved::Written(_) = store.save(&id, &record, Expected::Absent).await.unwrap() else {
        panic!("not written")
    };
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let (key, data, expire): (String, String, String) =
        sqlx::query_as("SELECT session_key, session_data, expire_date FROM django_session")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(key, id.expose());
    let at = record.expires_at;
    assert_eq!(
        expire,
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        )
    );
    let decoded = django::decode_session_data(&keys(), &data, at).unwrap();
    assert_eq!(decoded, record);
    assert!(data.contains(':'), "signing.dumps output: {data}");
}

#[tokio::test]
async fn refuses_ids_django_would_not_make() {
    let clock = ManualClock::starting_now();
    let url = "sqlite::memory:?migrate=true";
    let store = DjangoDbStore::open(url, &options(&clock)).await.unwrap();
    let now = tessera::clock::Clock::now(&clock);
    for bad in ["short", "UPPERCASEKEYSAREOUT", &"a".repeat(41)] {
        let id = tessera::SessionId::parse(bad).unwrap();
        assert!(matches!(
            store
                .save(
                    &id,
                    &live_record(now + Duration::hours(1)),
                    Expected::Absent
                )
                .await,
            Err(Error::RefusedId { .. })
        ));
        assert_eq!(store.load(&id).await.unwrap(), None);
        assert!(!store.touch(&id, now + Duration::hours(1)).await.unwrap());
    }
    // A native 43-character id is refused too: Django's column holds 40.
    let native = tessera::SessionId::generate().unwrap();
    assert!(store
        .save(
            &native,
            &live_record(now + Duration::hours(1)),
            Expected::Absent
        )
        .await
        .is_err());
}

#[tokio::test]
async fn a_missing_table_is_not_created_unless_asked() {
    let clock = ManualClock::starting_now();
    let err = DjangoDbStore::open("sqlite::memory:", &options(&clock))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("manage.py migrate"), "{err}");
    let err = DjangoDbStore::open(
        "sqlite::memory:?migrate=true",
        &OpenOptions::default().with_profile(Profile::Django, ExpiryPolicy::default()),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("SECRET_KEY"), "{err}");
}

#[tokio::test]
async fn open_picks_djangos_layout_for_the_django_profile() {
    let clock = ManualClock::starting_now();
    let store = open("sqlite::memory:?migrate=true", &options(&clock))
        .await
        .unwrap();
    assert_eq!(store.profile(), Profile::Django);
    assert!(format!("{store:?}").contains("DjangoDbStore"));
    let dir = std::env::temp_dir().join(unique_name("tessera-django-open"));
    let store = open(
        &format!("file://{}", dir.display()),
        &options(&clock).with_cookie_name("sessionid"),
    )
    .await
    .unwrap();
    assert_eq!(store.profile(), Profile::Django);
    assert!(format!("{store:?}").contains("DjangoFileStore"));
    let _ = std::fs::remove_dir_all(dir);
}
