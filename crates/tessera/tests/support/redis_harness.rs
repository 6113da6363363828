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
