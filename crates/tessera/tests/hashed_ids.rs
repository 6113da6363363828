//! `SESSION_HASH_IDS`: the conformance suite over [`HashedIdStore`], what a dump of the store
//! shows, and key rotation (Redis at `TESSERA_REDIS_URL`, PostgreSQL at
//! `TESSERA_POSTGRES_URL`; skipped loudly when absent, unless `TESSERA_REQUIRE_SERVICES=1`).
#![cfg(all(feature = "memory", feature = "conformance", feature = "axum"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use http::header::{COOKIE, SET_COOKIE};
use http::Request;
use http_body_util::BodyExt;
use serde_json::json;
use tessera::clock::ManualClock;
use tessera::conformance::Harness;
use tessera::crypto::{KeyRing, SecretKey};
use tessera::store::hashed_ids::HashedIdStore;
use tessera::store::memory::MemoryStore;
use tessera::store::{Expected, Saved, SessionStore, SharedStore};
use tessera::{Data, SessionConfig, SessionId, SessionLayer};
use tower::ServiceExt;

const KEY_A: &str = "hashed-ids-test-key-a-0123456789abcdef";
const KEY_B: &str = "hashed-ids-test-key-b-0123456789abcdef";
const KEY_C: &str = "hashed-ids-test-key-c-0123456789abcdef";

fn ring(current: &str, fallbacks: &[&str]) -> KeyRing {
    fallbacks.iter().fold(
        KeyRing::new(SecretKey::new(current).unwrap()),
        |ring, key| ring.with_fallback(SecretKey::new(key).unwrap()),
    )
}

/// `h` with its store and peer behind a [`HashedIdStore`] keyed by `keys`; a corrupt record is
/// planted under the hashed id, where the wrapper will look.
fn hashed(mut h: Harness, keys: &KeyRing) -> Harness {
    let store = Arc::new(HashedIdStore::new(h.store.clone(), keys));
    let peer: SharedStore = Arc::new(HashedIdStore::new(h.peer.clone(), keys));
    if let Some(corrupt) = h.corrupt.take() {
        let hasher = store.clone();
        let under_hash: tessera::conformance::Corrupter =
            Arc::new(move |id: SessionId| corrupt(hasher.stored_id(&id)));
        h.corrupt = Some(under_hash);
    }
    h.store = store;
    h.peer = peer;
    h.without_user_index()
}

fn memory_harness() -> Harness {
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let store = Arc::new(MemoryStore::new(10_000).with_clock(Arc::new(clock.clone())));
    Harness::new(store.clone(), store).with_clock(clock)
}

mod memory_current_key {
    async fn harness() -> Option<tessera::conformance::Harness> {
        Some(super::hashed(
            super::memory_harness(),
            &super::ring(super::KEY_A, &[]),
        ))
    }
    // Listing is refused: the records' ids are hashes (operators list the inner store).
    tessera::conformance_suite!(harness; except listing_shows_each_record_its_size_and_deadline, listing_pages_through_many_records, listing_shows_expired_records_until_cleared);
}

/// With fallbacks every miss also looks under their hashes: the contract still holds.
mod memory_with_fallbacks {
    async fn harness() -> Option<tessera::conformance::Harness> {
        Some(super::hashed(
            super::memory_harness(),
            &super::ring(super::KEY_B, &[super::KEY_A, super::KEY_C]),
        ))
    }
    // Listing is refused: the records' ids are hashes (operators list the inner store).
    tessera::conformance_suite!(harness; except listing_shows_each_record_its_size_and_deadline, listing_pages_through_many_records, listing_shows_expired_records_until_cleared);
}

#[cfg(feature = "redis")]
fn redis_url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

#[cfg(feature = "redis")]
mod redis_current_key {
    async fn harness() -> Option<tessera::conformance::Harness> {
        let h = crate::support::redis_harness::harness(super::redis_url(), "redis").await?;
        Some(super::hashed(h, &super::ring(super::KEY_A, &[])))
    }
    // Listing is refused: the records' ids are hashes (operators list the inner store).
    tessera::conformance_suite!(harness; except listing_shows_each_record_its_size_and_deadline, listing_pages_through_many_records, listing_shows_expired_records_until_cleared);
}

#[cfg(feature = "redis")]
mod redis_with_fallbacks {
    async fn harness() -> Option<tessera::conformance::Harness> {
        let h = crate::support::redis_harness::harness(super::redis_url(), "redis").await?;
        Some(super::hashed(
            h,
            &super::ring(super::KEY_B, &[super::KEY_A]),
        ))
    }
    // Listing is refused: the records' ids are hashes (operators list the inner store).
    tessera::conformance_suite!(harness; except listing_shows_each_record_its_size_and_deadline, listing_pages_through_many_records, listing_shows_expired_records_until_cleared);
}

// --- Through the middleware -------------------------------------------------------------

fn routes() -> Router {
    support::routes::put_and_all()
}

/// The layer `config` opens, or `None` (skipped) when its server is absent.
async fn app(what: &str, config: SessionConfig) -> Option<Router> {
    let layer =
        tessera::conformance::server_or_skip(what, SessionLayer::from_config(config).await)?;
    Some(routes().layer(layer))
}

/// The `name=value` of the response's session cookie, if it set one, and the body as data.
async fn send(app: &Router, uri: &str, cookie: Option<&str>) -> (Option<String>, Data) {
    let mut req = Request::get(uri);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(res.status().is_success(), "{uri}: {}", res.status());
    let set = res
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let data = if body.is_empty() {
        Data::new()
    } else {
        serde_json::from_slice(&body).unwrap()
    };
    (set, data)
}

/// The session id a cookie carries (`session=<id>` or, signed, `session=<id>.<mac>`).
fn id_of(cookie: &str) -> SessionId {
    let value = cookie.split_once('=').unwrap().1;
    SessionId::parse(value.split('.').next().unwrap()).unwrap()
}

/// The id `id` is stored under with `key` as the current key.
fn stored_under(key: &str, id: &SessionId) -> SessionId {
    HashedIdStore::new(Arc::new(MemoryStore::new(1)), &ring(key, &[])).stored_id(id)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[cfg(feature = "redis")]
mod redis_raw {
    use super::*;

    /// Every key under `prefix`, with its value.
    pub(super) fn dump(prefix: &str) -> Vec<(String, Vec<u8>)> {
        use redis::Commands as _;
        let mut con = redis::Client::open(redis_url())
            .unwrap()
            .get_connection()
            .unwrap();
        let keys: Vec<String> = con.keys(format!("{prefix}*")).unwrap();
        keys.into_iter()
            .map(|key| {
                let value: Vec<u8> = con.get(&key).unwrap();
                (key, value)
            })
            .collect()
    }

    /// Removes every key under its prefix when dropped.
    pub(super) struct Prefix(pub(super) String);

    impl Drop for Prefix {
        fn drop(&mut self) {
            let keys: Vec<String> = dump(&self.0).into_iter().map(|(k, _)| k).collect();
            crate::support::redis_remover(&redis_url(), &keys);
        }
    }

    pub(super) fn prefix() -> Prefix {
        Prefix(format!("{}:", crate::support::unique("tessera-hash-test:")))
    }

    pub(super) fn config(prefix: &Prefix, key: &str, fallbacks: &[&str]) -> SessionConfig {
        fallbacks
            .iter()
            .fold(SessionConfig::builder().secret_key(key), |b, k| {
                b.fallback_key(k)
            })
            .url(redis_url())
            .key_prefix(prefix.0.clone())
            .hash_ids(true)
            // The id travels bare, so the rotation cases below test the store's hashing alone
            // (a signed id would already be refused by a layer without the signing key).
            .sign_id(false)
            .build()
            .unwrap()
    }
}

/// A dump of Redis shows hashed keys only: the cookie's id is in no key and no value.
#[cfg(feature = "redis")]
#[tokio::test]
async fn a_redis_dump_holds_no_session_id() {
    let prefix = redis_raw::prefix();
    let config = SessionConfig::builder()
        .secret_key(KEY_A)
        .url(redis_url())
        .key_prefix(prefix.0.clone())
        .hash_ids(true)
        .build()
        .unwrap();
    let Some(app) = app("redis", config).await else {
        return;
    };
    let (cookie, _) = send(&app, "/put/user/ada", None).await;
    let cookie = cookie.expect("a new session sets its cookie");
    let id = id_of(&cookie);
    let value = cookie.split_once('=').unwrap().1.to_owned();
    assert!(value.contains('.'), "the id is signed by default: {value}");

    let dump = redis_raw::dump(&prefix.0);
    assert_eq!(dump.len(), 1, "one session, one key");
    let (key, stored) = &dump[0];
    assert_eq!(
        key,
        &format!("{}{}", prefix.0, stored_under(KEY_A, &id).expose())
    );
    for secret in [id.expose(), value.as_str()] {
        assert!(!key.contains(secret), "the key holds the id");
        assert!(!contains(stored, secret), "the value holds the id");
    }
    assert!(contains(stored, "ada"), "the data is there");

    let (_, data) = send(&app, "/all", Some(&cookie)).await;
    assert_eq!(data.get("user"), Some(&json!("ada")), "the session loads");
}

/// The same through a PostgreSQL table: its key column holds the hash, no row the id.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_postgres_table_holds_no_session_id() {
    let url = support::sql::postgres_url();
    let table = support::unique_name("tessera_hashed");
    let config = SessionConfig::builder()
        .secret_key(KEY_A)
        .url(format!("{url}?table={table}"))
        .hash_ids(true)
        .build()
        .unwrap();
    let key_prefix = config.key_prefix().to_owned();
    let Some(app) = app("postgres", config).await else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let (drop_url, drop_table) = (
        url.clone(),
        format!("DROP TABLE IF EXISTS {table}, {table}_users"),
    );
    // Its own pool: the teardown runs on a runtime of its own, where this test's pool's
    // connections are never polled.
    let _cleanup = support::Teardown::new(move || async move {
        let pool = sqlx::PgPool::connect(&drop_url).await.unwrap();
        sqlx::query(&drop_table).execute(&pool).await.unwrap();
    });
    let (cookie, _) = send(&app, "/put/user/ada", None).await;
    let cookie = cookie.expect("a new session sets its cookie");
    let id = id_of(&cookie);
    let value = cookie.split_once('=').unwrap().1.to_owned();

    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(&format!("SELECT id, data FROM {table}"))
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one session, one row");
    let (key, stored) = &rows[0];
    assert_eq!(
        key,
        &format!("{key_prefix}{}", stored_under(KEY_A, &id).expose())
    );
    for secret in [id.expose(), value.as_str()] {
        assert!(!key.contains(secret), "the key column holds the id");
        assert!(!contains(stored, secret), "the data column holds the id");
    }
    assert!(contains(stored, "ada"), "the data is there");

    let (_, data) = send(&app, "/all", Some(&cookie)).await;
    assert_eq!(data.get("user"), Some(&json!("ada")), "the session loads");
}

/// With a Redis cache in front of PostgreSQL, both hold the hash and neither the id: the
/// hashing wraps the cache too.
#[cfg(all(feature = "postgres", feature = "redis"))]
#[tokio::test]
async fn a_cache_and_its_database_hold_no_session_id() {
    let url = support::sql::postgres_url();
    let table = support::unique_name("tessera_hashed");
    let prefix = redis_raw::prefix();
    let config = SessionConfig::builder()
        .secret_key(KEY_A)
        .url(format!("{url}?table={table}"))
        .cache_url(redis_url())
        .key_prefix(prefix.0.clone())
        .hash_ids(true)
        .build()
        .unwrap();
    let Some(app) = app("postgres and redis", config).await else {
        return;
    };
    let (drop_url, drop_table) = (
        url.clone(),
        format!("DROP TABLE IF EXISTS {table}, {table}_users"),
    );
    let _cleanup = support::Teardown::new(move || async move {
        let pool = sqlx::PgPool::connect(&drop_url).await.unwrap();
        sqlx::query(&drop_table).execute(&pool).await.unwrap();
    });
    let (cookie, _) = send(&app, "/put/user/ada", None).await;
    let cookie = cookie.expect("a new session sets its cookie");
    // A read fills the cache.
    let (_, data) = send(&app, "/all", Some(&cookie)).await;
    assert_eq!(data.get("user"), Some(&json!("ada")));
    let id = id_of(&cookie);
    let value = cookie.split_once('=').unwrap().1.to_owned();
    let expected = format!("{}{}", prefix.0, stored_under(KEY_A, &id).expose());

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(&format!("SELECT id, data FROM {table}"))
        .fetch_all(&pool)
        .await
        .unwrap();
    let cached = redis_raw::dump(&prefix.0);
    assert_eq!(rows.len(), 1, "one row in the database");
    assert_eq!(cached.len(), 1, "one copy in the cache");
    for (key, stored) in rows.iter().chain(&cached) {
        assert_eq!(key, &expected);
        for secret in [id.expose(), value.as_str()] {
            assert!(!key.contains(secret), "a key holds the id");
            assert!(!contains(stored, secret), "a value holds the id");
        }
        assert!(contains(stored, "ada"), "the data is there");
    }
}

/// Written with key A; current B with fallback A finds and moves it; B alone then finds it;
/// C alone finds nothing.
#[cfg(feature = "redis")]
#[tokio::test]
async fn rotation_moves_records_to_the_current_keys_hash() {
    let prefix = redis_raw::prefix();
    let Some(with_a) = app("redis", redis_raw::config(&prefix, KEY_A, &[])).await else {
        return;
    };
    let (cookie, _) = send(&with_a, "/put/user/ada", None).await;
    let cookie = cookie.unwrap();
    let id = id_of(&cookie);
    let key = |k: &str| format!("{}{}", prefix.0, stored_under(k, &id).expose());
    let keys = || -> Vec<String> {
        let mut keys: Vec<String> = redis_raw::dump(&prefix.0)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(), [key(KEY_A)]);

    let rotated = app("redis", redis_raw::config(&prefix, KEY_B, &[KEY_A]))
        .await
        .unwrap();
    let (_, data) = send(&rotated, "/all", Some(&cookie)).await;
    assert_eq!(
        data.get("user"),
        Some(&json!("ada")),
        "found under the fallback"
    );
    assert_eq!(keys(), [key(KEY_B)], "moved: the A-hash entry is gone");

    let only_b = app("redis", redis_raw::config(&prefix, KEY_B, &[]))
        .await
        .unwrap();
    let (_, data) = send(&only_b, "/all", Some(&cookie)).await;
    assert_eq!(data.get("user"), Some(&json!("ada")), "found with B alone");
    let (_, data) = send(&only_b, "/put/n/2", Some(&cookie)).await;
    assert!(data.is_empty());
    let (_, data) = send(&only_b, "/all", Some(&cookie)).await;
    assert_eq!(data.get("n"), Some(&json!("2")), "and it saves under B");

    let only_c = app("redis", redis_raw::config(&prefix, KEY_C, &[]))
        .await
        .unwrap();
    let (_, data) = send(&only_c, "/all", Some(&cookie)).await;
    assert!(
        data.is_empty(),
        "C finds nothing: a fresh session, {data:?}"
    );
    let (_, data) = send(&with_a, "/all", Some(&cookie)).await;
    assert!(data.is_empty(), "A alone no longer finds the moved record");
}

/// The same rotation with signed ids (the default): the fallback verifies the cookie and
/// finds the record, the response re-signs the cookie, and B alone takes it from then on.
#[cfg(feature = "redis")]
#[tokio::test]
async fn rotation_with_signed_ids_reissues_the_cookie() {
    let prefix = redis_raw::prefix();
    let config = |key: &str, fallbacks: &[&str]| {
        fallbacks
            .iter()
            .fold(SessionConfig::builder().secret_key(key), |b, k| {
                b.fallback_key(k)
            })
            .url(redis_url())
            .key_prefix(prefix.0.clone())
            .hash_ids(true)
            .build()
            .unwrap()
    };
    let Some(with_a) = app("redis", config(KEY_A, &[])).await else {
        return;
    };
    let (cookie, _) = send(&with_a, "/put/user/ada", None).await;
    let cookie = cookie.unwrap();
    let id = id_of(&cookie);
    let rotated = app("redis", config(KEY_B, &[KEY_A])).await.unwrap();
    let (resigned, data) = send(&rotated, "/all", Some(&cookie)).await;
    assert_eq!(data.get("user"), Some(&json!("ada")));
    let resigned = resigned.expect("a cookie a fallback verified is re-signed");
    assert_eq!(id_of(&resigned), id, "same session");
    assert_ne!(resigned, cookie);
    let keys: Vec<String> = redis_raw::dump(&prefix.0)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        keys,
        [format!("{}{}", prefix.0, stored_under(KEY_B, &id).expose())]
    );
    let only_b = app("redis", config(KEY_B, &[])).await.unwrap();
    let (_, data) = send(&only_b, "/all", Some(&resigned)).await;
    assert_eq!(data.get("user"), Some(&json!("ada")));
}

/// Logging out with key B deletes the copy under A's hash too.
#[cfg(feature = "redis")]
#[tokio::test]
async fn delete_removes_the_fallback_copy_too() {
    let prefix = redis_raw::prefix();
    let url = redis_url();
    let options = tessera::store::OpenOptions::default().with_key_prefix(prefix.0.clone());
    let Some(inner) = tessera::conformance::server_or_skip(
        "redis",
        tessera::store::redis::RedisStore::connect(&url, &options).await,
    ) else {
        return;
    };
    let inner: SharedStore = Arc::new(inner);
    let id = SessionId::generate().unwrap();
    let (a, b) = (
        HashedIdStore::new(inner.clone(), &ring(KEY_A, &[])),
        HashedIdStore::new(inner.clone(), &ring(KEY_B, &[KEY_A])),
    );
    for store in [&a, &b] {
        let saved = store
            .save(&id, &record("ada"), Expected::Absent)
            .await
            .unwrap();
        assert!(matches!(saved, Saved::Written(_)));
    }
    assert_eq!(redis_raw::dump(&prefix.0).len(), 2);
    b.delete(&id).await.unwrap();
    assert!(redis_raw::dump(&prefix.0).is_empty(), "no copy is left");
    assert!(!b.exists(&id).await.unwrap());
}

fn record(user: &str) -> tessera::Record {
    let mut data = Data::new();
    data.insert("user".into(), user.into());
    tessera::Record::new(
        data,
        tessera::Expiry::Default,
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    )
}

// --- Concurrent migration ---------------------------------------------------------------

/// Many requests loading one record found under a fallback hash at once: each gets the
/// record, and exactly one copy is left, under the current hash.
async fn concurrent_loads_migrate_once(stores: Vec<SharedStore>) {
    let id = SessionId::generate().unwrap();
    let old = HashedIdStore::new(stores[0].clone(), &ring(KEY_A, &[]));
    let saved = old
        .save(&id, &record("ada"), Expected::Absent)
        .await
        .unwrap();
    assert!(matches!(saved, Saved::Written(_)));
    // As the store keeps it (Redis keeps deadlines to the second).
    let written = old.load(&id).await.unwrap().unwrap().record;
    let rotated: Vec<Arc<HashedIdStore>> = stores
        .iter()
        .map(|s| Arc::new(HashedIdStore::new(s.clone(), &ring(KEY_B, &[KEY_A]))))
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let (store, id, barrier) = (
                rotated[n % rotated.len()].clone(),
                id.clone(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                store.load(&id).await.unwrap()
            })
        })
        .collect();
    let mut versions = std::collections::HashSet::new();
    for task in tasks {
        let loaded = task.await.unwrap().expect("every load finds the session");
        assert_eq!(loaded.record.data, written.data, "the data is intact");
        assert_eq!(
            loaded.record.expires_at, written.expires_at,
            "and its deadline"
        );
        versions.insert(loaded.version);
    }
    assert_eq!(versions.len(), 1, "every load saw the one migrated copy");
    let inner = &stores[0];
    assert!(
        inner.load(&old.stored_id(&id)).await.unwrap().is_none(),
        "the A-hash entry is gone"
    );
    let current = inner
        .load(&rotated[0].stored_id(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.record.data, written.data);
    assert!(versions.contains(&current.version));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migration_over_memory() {
    let store: SharedStore = Arc::new(MemoryStore::new(100));
    concurrent_loads_migrate_once(vec![store]).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migration_over_redis() {
    let prefix = redis_raw::prefix();
    let options = tessera::store::OpenOptions::default().with_key_prefix(prefix.0.clone());
    let mut stores: Vec<SharedStore> = Vec::new();
    // Four connections, standing in for four app servers.
    for _ in 0..4 {
        let connected = tessera::store::redis::RedisStore::connect(&redis_url(), &options).await;
        let Some(store) = tessera::conformance::server_or_skip("redis", connected) else {
            return;
        };
        stores.push(Arc::new(store));
    }
    concurrent_loads_migrate_once(stores).await;
    assert_eq!(
        redis_raw::dump(&prefix.0).len(),
        1,
        "exactly one record is left"
    );
}

// --- Configuration ------------------------------------------------------------------------

#[test]
fn hashed_ids_are_refused_where_they_cannot_work() {
    for (profile, url) in [
        (tessera::Profile::FlaskSession, "redis://127.0.0.1:6379"),
        (tessera::Profile::Django, "redis://127.0.0.1:6379"),
        (tessera::Profile::Flask, "cookie"),
        (tessera::Profile::Native, "cookie"),
        (tessera::Profile::Native, "cookie+signed"),
        (tessera::Profile::Native, "cookie+encrypted"),
    ] {
        let err = SessionConfig::builder()
            .secret_key(KEY_A)
            .profile(profile)
            .url(url)
            .hash_ids(true)
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("SESSION_HASH_IDS"),
            "{profile} {url}: {err}"
        );
    }
    let vars = [
        ("SECRET_KEY", KEY_A),
        ("SESSION_PROFILE", "django"),
        ("SESSION_URL", "redis://127.0.0.1:6379"),
        ("SESSION_HASH_IDS", "true"),
    ];
    let err = tessera::config::SessionConfigBuilder::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
    .build()
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("SESSION_HASH_IDS"), "{err}");
}
