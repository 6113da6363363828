//! The conformance suite against a Redis Cluster (`TESSERA_REDIS_CLUSTER_URL`, default
//! `redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003`; started by
//! `scripts/services/redis-cluster.sh`).
#![cfg(all(feature = "redis", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use tessera::conformance::Harness;

fn url() -> String {
    std::env::var("TESSERA_REDIS_CLUSTER_URL")
        .unwrap_or_else(|_| "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003".into())
}

async fn harness() -> Option<Harness> {
    support::redis_harness::harness(url(), "redis cluster").await
}

tessera::conformance_suite!(harness);

#[tokio::test]
async fn listing_skips_what_is_not_a_session() {
    support::redis_harness::listing_skips_what_is_not_a_session(url(), "redis cluster").await;
}
