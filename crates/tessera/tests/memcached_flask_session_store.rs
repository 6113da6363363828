//! The conformance suite against memcached (`TESSERA_MEMCACHED_URL`) holding sessions in
//! Flask-Session 0.8's layout (the `flask-session` profile).
#![cfg(feature = "memcached")]
#![allow(clippy::unwrap_used)]

mod conformance;
mod support;

use conformance::Harness;
use tessera::store::OpenOptions;
use tessera::{ExpiryPolicy, Profile};

async fn harness() -> Option<Harness> {
    let options =
        OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
    support::memcached_harness::harness(options).await
}

conformance_suite!(harness);
