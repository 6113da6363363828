//! The conformance suite against memcached (`TESSERA_MEMCACHED_URL`) holding sessions as
//! Django 5.2's `cache` engine on `PyMemcacheCache` does (the `django` profile): the pickled
//! session dict, with pymemcache's pickle flag, under Django's cache key.
#![cfg(all(feature = "memcached", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use support::memcached_harness::{address, url};
use tessera::conformance::Harness;
use tessera::crypto::{KeyRing, SecretKey};
use tessera::store::{open, Expected, OpenOptions, Saved};
use tessera::{Expiry, ExpiryPolicy, Profile, Record};
use time::{Duration, OffsetDateTime};

fn options() -> OpenOptions {
    OpenOptions::default()
        .with_profile(Profile::Django, ExpiryPolicy::new(Duration::weeks(2), true))
        .with_keys(KeyRing::new(
            SecretKey::new("django-cache-test-secret-key-0123456789").unwrap(),
        ))
}

async fn harness() -> Option<Harness> {
    support::memcached_harness::harness(options()).await
}

tessera::conformance_suite!(harness);

/// pymemcache unpickles a value only under its pickle flag (1); Django's key is
/// `KEY_PREFIX:VERSION:django.contrib.sessions.cache<key>`.
#[tokio::test]
async fn items_carry_pymemcaches_pickle_flag_under_djangos_key() {
    let prefix = support::unique("tessera-test-django");
    let store_url = format!("{}?key_prefix={prefix}", url());
    let Some(store) = tessera::conformance::server_or_skip(
        &format!("memcached at {}", url()),
        open(&store_url, &options()).await,
    ) else {
        return;
    };
    let id = Profile::Django.generate_id().unwrap();
    let mut data = tessera::Data::new();
    data.insert("_auth_user_id".into(), "7".into());
    let record = Record::new(
        data,
        Expiry::Default,
        OffsetDateTime::now_utc() + Duration::seconds(900),
    );
    let Saved::Written(_) = store.save(&id, &record, Expected::Absent).await.unwrap() else {
        panic!("not written");
    };
    let key = format!("{prefix}:1:django.contrib.sessions.cache{}", id.expose());
    let addr = address(&url());
    let reply =
        support::memcached_command(&addr, format!("mg {key} f t s\r\n").as_bytes()).unwrap();
    let _ = support::memcached_command(&addr, format!("md {key}\r\n").as_bytes());
    let fields: Vec<&str> = reply.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"HD"), "{reply}");
    assert!(fields.contains(&"f1"), "the pickle flag: {reply}");
    let ttl: i64 = fields
        .iter()
        .find_map(|f| f.strip_prefix('t'))
        .unwrap()
        .parse()
        .unwrap();
    assert!((895..=900).contains(&ttl), "TTL {ttl}");
    let size: usize = fields
        .iter()
        .find_map(|f| f.strip_prefix('s'))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        size,
        tessera::interop::pickle::dumps_dict(&tessera::interop::django::dict_from_record(&record))
            .unwrap()
            .len()
    );
}
