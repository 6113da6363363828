//! The conformance suite against single-node Redis (`TESSERA_REDIS_URL`, default
//! `redis://127.0.0.1:6379`).
#![cfg(all(feature = "redis", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use tessera::conformance::Harness;

fn url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn harness() -> Option<Harness> {
    support::redis_harness::harness(url(), "redis").await
}

tessera::conformance_suite!(harness);

#[tokio::test]
async fn listing_skips_what_is_not_a_session() {
    support::redis_harness::listing_skips_what_is_not_a_session(url(), "redis").await;
}
