//! The conformance suite against memcached (`TESSERA_MEMCACHED_URL`, default
//! `memcached://127.0.0.1:11211`; started by `scripts/services/memcached.sh`).
#![cfg(all(feature = "memcached", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use tessera::conformance::Harness;
use tessera::store::memcached::MemcachedStore;
use tessera::store::{Error, Expected, OpenOptions, SessionStore};

async fn connect(prefix: &str) -> Option<MemcachedStore> {
    support::memcached_harness::connect(prefix, OpenOptions::default()).await
}

async fn harness() -> Option<Harness> {
    support::memcached_harness::harness(OpenOptions::default()).await
}

tessera::conformance_suite!(harness);

#[tokio::test]
async fn values_over_the_item_limit_are_too_large() {
    let Some(store) = connect(&format!("{}:", support::unique("tessera-test:"))).await else {
        return;
    };
    let mut data = tessera::Data::new();
    data.insert("blob".into(), "x".repeat(2 * 1024 * 1024).into());
    let record = tessera::Record::new(
        data,
        tessera::Expiry::Default,
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    );
    let id = tessera::SessionId::generate().unwrap();
    let err = store
        .save(&id, &record, Expected::Absent)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn deadlines_past_thirty_days_are_kept() {
    let Some(store) = connect(&format!("{}:", support::unique("tessera-test:"))).await else {
        return;
    };
    let id = tessera::SessionId::generate().unwrap();
    let record = tessera::Record::new(
        Default::default(),
        tessera::Expiry::Default,
        time::OffsetDateTime::now_utc() + time::Duration::days(60),
    );
    let _ = store.save(&id, &record, Expected::Absent).await.unwrap();
    assert!(
        store.load(&id).await.unwrap().is_some(),
        "a 60-day session was dropped at once"
    );
    store.delete(&id).await.unwrap();
}

/// A listing lists the store's sessions with their values' sizes, and skips keys under the
/// prefix whose rest is not an id.
#[tokio::test]
async fn listing_skips_what_is_not_a_session() {
    let prefix = format!("{}:", support::unique("tessera-test:"));
    let Some(store) = connect(&prefix).await else {
        return;
    };
    let id = tessera::SessionId::generate().unwrap();
    let record = tessera::Record::new(
        Default::default(),
        tessera::Expiry::Default,
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    );
    let _ = store.save(&id, &record, Expected::Absent).await.unwrap();
    let addr = support::memcached_harness::address(&support::memcached_harness::url());
    let planted = format!("{prefix}not%an%id");
    let reply =
        support::memcached_command(&addr, format!("set {planted} 0 600 1\r\nx\r\n").as_bytes())
            .unwrap();
    assert_eq!(reply.trim(), "STORED");
    let mut listing = store.list();
    let mut listed = Vec::new();
    while let Some(l) = tessera::store::listing::next(&mut listing).await {
        listed.push(l.unwrap());
    }
    drop(listing);
    let _ = support::memcached_command(&addr, format!("delete {planted}\r\n").as_bytes());
    store.delete(&id).await.unwrap();
    assert_eq!(listed.len(), 1, "only the session: {listed:?}");
    assert_eq!(listed[0].id, id);
    assert_eq!(
        listed[0].size,
        record.encode().len() as u64,
        "the value's length"
    );
}
