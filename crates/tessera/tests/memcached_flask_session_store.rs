//! The conformance suite against memcached (`TESSERA_MEMCACHED_URL`) holding sessions in
//! Flask-Session 0.8's layout (the `flask-session` profile).
#![cfg(all(feature = "memcached", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use tessera::conformance::Harness;
use tessera::store::OpenOptions;
use tessera::{ExpiryPolicy, Profile};

async fn harness() -> Option<Harness> {
    let options =
        OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
    support::memcached_harness::harness(options).await
}

tessera::conformance_suite!(harness);
