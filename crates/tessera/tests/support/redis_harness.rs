//! The Redis harness both Redis test files use.

use std::time::Duration;

use tessera::store::redis::RedisStore;
use tessera::store::OpenOptions;

use super::{Cleanup, Tracked};
use tessera::conformance::{server_or_skip, Harness};

/// A harness over the Redis server or cluster at `url`, with its own key prefix; every key
/// written is deleted when the test ends.
pub async fn harness(url: String, what: &str) -> Option<Harness> {
    harness_with(url, what, OpenOptions::default()).await
}

/// [`harness`], with `options` (a profile) besides the key prefix and timeout.
pub async fn harness_with(url: String, what: &str, options: OpenOptions) -> Option<Harness> {
    let pickles = options.profile == tessera::Profile::Django;
    let options = options
        .with_key_prefix(format!("{}:", super::unique("tessera-test:")))
        .with_timeout(Duration::from_secs(5));
    let store = server_or_skip(
        &format!("{what} at {url}"),
        RedisStore::connect(&url, &options).await,
    )?;
    let peer = RedisStore::connect(&url, &options).await.unwrap();
    let keys = store.clone();
    let remover_url = url.clone();
    let cleanup = Cleanup::new(move |ids| {
        let keys: Vec<String> = ids.iter().map(|id| keys.key(id)).collect();
        super::redis_remover(&remover_url, &keys);
    });
    let planter = store.clone();
    let planted = cleanup.clone();
    let (writer, written, writer_url) = (store.clone(), cleanup.clone(), url.clone());
    // What Django's RedisCache `set` does: the bytes, with the deadline as the TTL.
    let foreign = move |id: tessera::SessionId, bytes: Vec<u8>, at: time::OffsetDateTime| {
        written.note(&id);
        let (key, url) = (writer.key(&id), writer_url.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let mut cmd = redis::cmd("SET");
                cmd.arg(&key)
                    .arg(bytes)
                    .arg("EXAT")
                    .arg(at.unix_timestamp());
                if let Some(rest) = url.strip_prefix("redis+cluster://") {
                    let nodes: Vec<String> =
                        rest.split(',').map(|n| format!("redis://{n}")).collect();
                    let mut con = redis::cluster::ClusterClient::new(nodes)
                        .unwrap()
                        .get_connection()
                        .unwrap();
                    let _: () = cmd.query(&mut con).unwrap();
                } else {
                    let mut con = redis::Client::open(url.as_str())
                        .unwrap()
                        .get_connection()
                        .unwrap();
                    let _: () = cmd.query(&mut con).unwrap();
                }
            })
            .await
            .unwrap();
        }
    };
    let corrupt = move |id: tessera::SessionId| {
        let planter = planter.clone();
        let url = url.clone();
        planted.note(&id);
        async move {
            // The bytes a foreign writer (or a bit flip) could leave under a session key.
            tokio::task::spawn_blocking(move || {
                use redis::Commands as _;
                let key = planter.key(&id);
                let value: &[u8] = b"\xff\xfenot a session";
                if let Some(rest) = url.strip_prefix("redis+cluster://") {
                    let nodes: Vec<String> =
                        rest.split(',').map(|n| format!("redis://{n}")).collect();
                    let mut con = redis::cluster::ClusterClient::new(nodes)
                        .unwrap()
                        .get_connection()
                        .unwrap();
                    let _: () = con.set_ex(key, value, 3600).unwrap();
                } else {
                    let mut con = redis::Client::open(url.as_str())
                        .unwrap()
                        .get_connection()
                        .unwrap();
                    let _: () = con.set_ex(key, value, 3600).unwrap();
                }
            })
            .await
            .unwrap();
        }
    };
    let harness = Tracked::harness(store, peer, &cleanup)
        .expired_by_the_server()
        .with_corrupter(corrupt);
    Some(if pickles {
        harness.with_foreign_pickles().with_foreign_writer(foreign)
    } else {
        harness
    })
}

/// Runs `f` on a plain synchronous connection to the server or cluster at `url`.
fn with_connection(url: &str, f: impl FnOnce(&mut dyn redis::ConnectionLike)) {
    if let Some(rest) = url.strip_prefix("redis+cluster://") {
        let nodes: Vec<String> = rest.split(',').map(|n| format!("redis://{n}")).collect();
        let mut con = redis::cluster::ClusterClient::new(nodes)
            .unwrap()
            .get_connection()
            .unwrap();
        f(&mut con);
    } else {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        f(&mut con);
    }
}

/// A listing under a prefix full of glob metacharacters lists the store's sessions and skips
/// what else is under (or seems to match) the prefix: keys whose rest is no id, keys of
/// another type, keys the unescaped pattern would match.
pub async fn listing_skips_what_is_not_a_session(url: String, what: &str) {
    let unique = super::unique("");
    let prefix = format!("tessera-test:[{unique}]*?\\:");
    let options = OpenOptions::default()
        .with_key_prefix(prefix.clone())
        .with_timeout(Duration::from_secs(5));
    let Some(store) = server_or_skip(
        &format!("{what} at {url}"),
        RedisStore::connect(&url, &options).await,
    ) else {
        return;
    };
    let id = tessera::SessionId::generate().unwrap();
    let record = tessera::Record::new(
        Default::default(),
        tessera::Expiry::Default,
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    );
    let saved =
        tessera::store::SessionStore::save(&store, &id, &record, tessera::store::Expected::Absent)
            .await
            .unwrap();
    assert!(matches!(saved, tessera::store::Saved::Written(_)));
    let other = tessera::SessionId::generate().unwrap();
    let planted = [
        format!("{prefix}not an id!"),
        format!("{prefix}{}", other.expose()),
        // What `MATCH <prefix>*` unescaped would match too.
        format!("tessera-test:{}x\\:{}", &unique[..1], id.expose()),
    ];
    let keys = planted.clone();
    tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            with_connection(&url, |con| {
                let _: () = redis::cmd("SET")
                    .arg(&keys[0])
                    .arg("x")
                    .arg("EX")
                    .arg(600)
                    .query(con)
                    .unwrap();
                // A hash, whose STRLEN fails.
                let _: () = redis::cmd("HSET")
                    .arg(&keys[1])
                    .arg("f")
                    .arg("v")
                    .query(con)
                    .unwrap();
                let _: () = redis::cmd("SET")
                    .arg(&keys[2])
                    .arg("x")
                    .arg("EX")
                    .arg(600)
                    .query(con)
                    .unwrap();
            });
        }
    })
    .await
    .unwrap();
    let mut listing = tessera::store::SessionStore::list(&store);
    let mut listed = Vec::new();
    while let Some(l) = tessera::store::listing::next(&mut listing).await {
        listed.push(l.unwrap());
    }
    drop(listing);
    let mut all: Vec<String> = planted.to_vec();
    all.push(store.key(&id));
    super::redis_remover(&url, &all);
    assert_eq!(listed.len(), 1, "only the session: {listed:?}");
    assert_eq!(listed[0].id, id);
}
