//! The conformance suite against single-node Redis (`TESSERA_REDIS_URL`) holding sessions in
//! Flask-Session 0.8's layout (the `flask-session` profile).
#![cfg(all(feature = "redis", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use tessera::conformance::Harness;
use tessera::store::OpenOptions;
use tessera::{ExpiryPolicy, Profile};

fn url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn harness() -> Option<Harness> {
    let options =
        OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
    support::redis_harness::harness_with(url(), "redis", options).await
}

tessera::conformance_suite!(harness);

#[tokio::test]
async fn values_are_flask_session_msgpack() {
    use tessera::store::Expected;
    let Some(h) = harness().await else { return };
    let id = tessera::SessionId::generate().unwrap();
    let mut data = tessera::Data::new();
    data.insert("user".into(), "ada".into());
    let record = tessera::Record::new(
        data,
        tessera::Expiry::Default,
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    );
    let _ = h.store.save(&id, &record, Expected::Absent).await.unwrap();
    let url = url();
    let key = id.expose().to_owned();
    let raw: Vec<Vec<u8>> = tokio::task::spawn_blocking(move || {
        use redis::Commands as _;
        let mut con = redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let keys: Vec<String> = con.keys(format!("*{key}")).unwrap();
        keys.iter().map(|k| con.get(k).unwrap()).collect()
    })
    .await
    .unwrap();
    assert_eq!(raw.len(), 1);
    let stored = tessera::interop::flask_session::decode_record(&raw[0]).unwrap();
    assert_eq!(stored.get("user"), Some(&serde_json::json!("ada")));
    assert_eq!(
        stored.get("_permanent"),
        Some(&serde_json::json!(true)),
        "Flask-Session's default SESSION_PERMANENT"
    );
    h.store.delete(&id).await.unwrap();
}
