//! The conformance suite against Redis (`TESSERA_REDIS_URL`) and a Redis Cluster
//! (`TESSERA_REDIS_CLUSTER_URL`) holding sessions as Django 5.2's `cache` engine does (the
//! `django` profile): the pickled session dict under Django's cache key.
#![cfg(all(feature = "redis", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use redis::Commands as _;
use tessera::conformance::Harness;
use tessera::crypto::{KeyRing, SecretKey};
use tessera::interop::{django, pickle};
use tessera::store::{open, Expected, OpenOptions, Saved};
use tessera::{Expiry, ExpiryPolicy, Profile, Record};
use time::{Duration, OffsetDateTime};

fn url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn cluster_url() -> String {
    std::env::var("TESSERA_REDIS_CLUSTER_URL")
        .unwrap_or_else(|_| "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003".into())
}

fn options() -> OpenOptions {
    OpenOptions::default()
        .with_profile(Profile::Django, ExpiryPolicy::new(Duration::weeks(2), true))
        .with_keys(KeyRing::new(
            SecretKey::new("django-cache-test-secret-key-0123456789").unwrap(),
        ))
}

mod single {
    use super::*;

    async fn harness() -> Option<Harness> {
        support::redis_harness::harness_with(url(), "redis", options()).await
    }

    tessera::conformance_suite!(harness);
}

mod cluster {
    use super::*;

    async fn harness() -> Option<Harness> {
        support::redis_harness::harness_with(cluster_url(), "redis cluster", options()).await
    }

    tessera::conformance_suite!(harness);
}

fn login(at: OffsetDateTime) -> Record {
    let mut data = tessera::Data::new();
    data.insert("_auth_user_id".into(), "42".into());
    data.insert("cart".into(), serde_json::json!({" t": [1, "two"]}));
    Record::new(data, Expiry::Age(Duration::seconds(600)), at)
}

/// What Django's `cache` engine finds under its key: the pickled dict, with the session's
/// age as the TTL; `KEY_PREFIX` and `VERSION` from the URL.
#[tokio::test]
async fn values_are_djangos_pickled_dict_under_djangos_key() {
    let prefix = support::unique("tessera-test-django");
    let store_url = format!("{}/0?key_prefix={prefix}&version=3", url());
    let Some(store) = tessera::conformance::server_or_skip(
        &format!("redis at {}", url()),
        open(&store_url, &options()).await,
    ) else {
        return;
    };
    let id = Profile::Django.generate_id().unwrap();
    let record = login(OffsetDateTime::now_utc() + Duration::seconds(600));
    let Saved::Written(_) = store.save(&id, &record, Expected::Absent).await.unwrap() else {
        panic!("not written");
    };
    let key = format!("{prefix}:3:django.contrib.sessions.cache{}", id.expose());
    let redis_url = url();
    let (raw, ttl): (Vec<u8>, i64) = tokio::task::spawn_blocking(move || {
        let mut con = redis::Client::open(redis_url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let raw: Vec<u8> = con.get(&key).unwrap();
        let ttl: i64 = con.ttl(&key).unwrap();
        let _: () = con.del(&key).unwrap();
        (raw, ttl)
    })
    .await
    .unwrap();
    assert_eq!(&raw[..2], b"\x80\x04", "a pickle");
    let dict = pickle::loads_dict(&raw).unwrap();
    assert_eq!(dict, django::dict_from_record(&record));
    assert_eq!(dict.get("_session_expiry"), Some(&serde_json::json!(600)));
    assert!((595..=600).contains(&ttl), "TTL {ttl}");
}
