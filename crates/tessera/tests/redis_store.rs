//! The conformance suite against single-node Redis (`TESSERA_REDIS_URL`, default
//! `redis://127.0.0.1:6379`).
#![cfg(all(feature = "redis", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use tessera::conformance::Harness;

fn url() -> String {
    std::env::var("TESSERA_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A store whose keys start with a prefix of its own (returned beside it), so a test can read
/// and plant raw keys; `None` (after a loud message) when Redis is absent and not required.
async fn prefixed_store() -> Option<(tessera::store::redis::RedisStore, String)> {
    let prefix = format!("{}:", support::unique("tessera-test:"));
    let options = tessera::store::OpenOptions::default()
        .with_key_prefix(prefix.clone())
        .with_timeout(std::time::Duration::from_secs(5));
    let store = tessera::conformance::server_or_skip(
        &format!("redis at {}", url()),
        tessera::store::redis::RedisStore::connect(&url(), &options).await,
    )?;
    Some((store, prefix))
}

async fn harness() -> Option<Harness> {
    support::redis_harness::harness(url(), "redis").await
}

tessera::conformance_suite!(harness);

#[tokio::test]
async fn listing_skips_what_is_not_a_session() {
    support::redis_harness::listing_skips_what_is_not_a_session(url(), "redis").await;
}

/// The index as Redis holds it, read with a plain connection: a sorted set per user, scored by
/// `until` in Unix milliseconds (never moved earlier), whose key expires at its latest entry's
/// `until`; and names that differ only by `:`, spaces, escapes or non-ASCII get keys of their
/// own, none of which a session key could be.
#[tokio::test]
async fn user_index_is_a_sorted_set_per_user_that_expires_with_its_last_entry() {
    use redis::Commands as _;
    use tessera::store::SessionStore as _;
    use tessera::SessionId;
    use time::{Duration, OffsetDateTime};

    let Some((store, prefix)) = prefixed_store().await else {
        return;
    };
    let index = store.user_index().unwrap();
    let ms = |at: OffsetDateTime| (at.unix_timestamp_nanos() / 1_000_000) as i64;
    let now = OffsetDateTime::now_utc();
    let (first, latest) = (
        SessionId::generate().unwrap(),
        SessionId::generate().unwrap(),
    );
    let ada = "ada: lovelace ü";
    index
        .enter(ada, &first, now + Duration::hours(1))
        .await
        .unwrap();
    index
        .enter(ada, &latest, now + Duration::hours(2))
        .await
        .unwrap();
    index
        .enter(ada, &first, now + Duration::minutes(30))
        .await
        .unwrap();

    let users = [
        "a:b", "a b", "a%3Ab", "a%3ab", "a", "a:", "ü", "u", "{a}", "a\u{0}b",
    ];
    let ids: Vec<SessionId> = users
        .iter()
        .map(|_| SessionId::generate().unwrap())
        .collect();
    for (user, id) in users.iter().zip(&ids) {
        index
            .enter(user, id, now + Duration::hours(1))
            .await
            .unwrap();
    }

    let mut keys: Vec<String> = users.iter().map(|u| store.user_key(u)).collect();
    keys.push(store.user_key(ada));
    let mut con = redis::Client::open(url())
        .unwrap()
        .get_connection()
        .unwrap();
    let key = store.user_key(ada);
    let kind: String = redis::cmd("TYPE").arg(&key).query(&mut con).unwrap();
    let scores: Vec<(String, i64)> = con.zrange_withscores(&key, 0, -1).unwrap();
    let pttl: i64 = con.pttl(&key).unwrap();
    let server_ms = {
        let (s, us): (i64, i64) = redis::cmd("TIME").query(&mut con).unwrap();
        s * 1000 + us / 1000
    };
    let distinct: std::collections::HashSet<&String> = keys.iter().collect();
    let mut seen = Vec::new();
    for user in users {
        seen.push(index.entries(user).await.unwrap());
    }
    support::redis_remover(&url(), &keys);

    assert_eq!(kind, "zset");
    assert_eq!(
        scores,
        [
            (first.expose().to_owned(), ms(now + Duration::hours(1))),
            (latest.expose().to_owned(), ms(now + Duration::hours(2))),
        ],
        "scores are each entry's latest until, in Unix milliseconds"
    );
    let expires = server_ms + pttl;
    assert!(
        (expires - ms(now + Duration::hours(2))).abs() < 5_000,
        "the key expires at its latest entry's until (off by {} ms)",
        expires - ms(now + Duration::hours(2))
    );
    assert_eq!(
        distinct.len(),
        keys.len(),
        "two users share a key: {keys:?}"
    );
    for key in &keys {
        let rest = key.strip_prefix(&prefix).unwrap();
        assert!(
            SessionId::parse(rest).is_err(),
            "{key} could be a session's key"
        );
    }
    for ((user, id), entries) in users.iter().zip(&ids).zip(seen) {
        assert_eq!(
            entries,
            std::slice::from_ref(id),
            "{user:?} sees exactly its own entry"
        );
    }
}

/// A value written before the binary record (`<version>\n` and the JSON record) still loads,
/// and the next save writes the binary form over it.
#[tokio::test]
async fn a_json_record_written_before_still_loads() {
    use redis::Commands as _;
    use tessera::store::{Expected, SessionStore as _};
    use tessera::SessionId;

    let Some((store, _)) = prefixed_store().await else {
        return;
    };
    let id = SessionId::generate().unwrap();
    let key = store.key(&id);
    let deadline = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let json = format!(
        r#"{{"d":{{"f":1.0,"n":7,"s":"é"}},"e":"browser_close","x":{deadline},"u":"ada"}}"#
    );
    let old = format!("3\n{json}");
    let mut con = redis::Client::open(url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = con.set_ex(&key, old.as_bytes(), 3600).unwrap();

    let loaded = store
        .load(&id)
        .await
        .unwrap()
        .expect("the JSON record loads");
    assert_eq!(loaded.version.get(), 3);
    assert_eq!(loaded.record.expiry, tessera::Expiry::BrowserClose);
    assert_eq!(loaded.record.meta.user.as_deref(), Some("ada"));
    assert!(loaded.record.data["f"].is_f64());
    assert_eq!(loaded.record.data["s"], "é");

    let _ = store
        .save(&id, &loaded.record, Expected::Version(loaded.version))
        .await
        .unwrap();
    let raw: Vec<u8> = con.get(&key).unwrap();
    let _: () = con.del(&key).unwrap();
    assert_eq!(&raw[..2], b"4\n");
    assert_eq!(raw[2], tessera::record::BINARY_V1, "{raw:?}");
    let again = tessera::Record::decode(&raw[2..]).unwrap();
    assert_eq!(again.data, loaded.record.data);
    assert!(again.data["f"].is_f64());
}

/// Every script runs by its SHA-1 (`EVALSHA`); a server that no longer knows one (restarted,
/// failed over, `SCRIPT FLUSH`) answers `NOSCRIPT`, and the store loads the script and runs
/// it again instead of failing the request.
#[tokio::test]
async fn scripts_the_server_forgot_are_loaded_again() {
    use tessera::store::{Expected, Saved, SessionStore as _};
    use tessera::{Data, Expiry, Record, SessionId};

    let Some((store, _)) = prefixed_store().await else {
        return;
    };
    let mut con = redis::Client::open(url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut flush = || {
        let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    };
    let id = SessionId::generate().unwrap();
    let until = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let record = Record::new(
        Data::from([("n".to_owned(), serde_json::json!(1))]),
        Expiry::Default,
        until,
    );
    flush();
    let Saved::Written(version) = store.save(&id, &record, Expected::Absent).await.unwrap() else {
        panic!("a first save of a new id is written");
    };
    flush();
    let loaded = store.load(&id).await.unwrap().expect("the session loads");
    assert_eq!(
        (loaded.version, &loaded.record.data),
        (version, &record.data)
    );
    flush();
    let index = store.user_index().unwrap();
    index.enter("ada", &id, until).await.unwrap();
    flush();
    assert_eq!(
        index.entries("ada").await.unwrap(),
        std::slice::from_ref(&id)
    );
    store.delete(&id).await.unwrap();
}
