//! The conformance suite against single-node Redis (`TESSERA_REDIS_URL`, default
//! `redis://127.0.0.1:6379`).
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used)]

mod conformance;
mod support;

use conformance::Harness;

fn url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn harness() -> Option<Harness> {
    support::redis_harness::harness(url(), "redis").await
}

conformance_suite!(harness);

#[tokio::test]
async fn touch_reports_the_new_deadline() {
    use tessera::store::Expected;
    let Some(h) = harness().await else { return };
    let id = tessera::SessionId::generate().unwrap();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let record = tessera::Record::new(
        Default::default(),
        tessera::Expiry::Default,
        now + time::Duration::minutes(5),
    );
    let _ = h.store.save(&id, &record, Expected::Absent).await.unwrap();
    let later = now + time::Duration::hours(2);
    assert!(h.store.touch(&id, later).await.unwrap());
    let loaded = h.store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.record.expires_at, later);
    h.store.delete(&id).await.unwrap();
}
