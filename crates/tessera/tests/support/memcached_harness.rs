//! The memcached harness both memcached test files use.

use std::time::Duration;

use tessera::store::memcached::MemcachedStore;
use tessera::store::OpenOptions;

use super::{Cleanup, Tracked};
use tessera::conformance::{server_or_skip, Harness};

pub fn url() -> String {
    std::env::var("TESSERA_MEMCACHED_URL").unwrap_or_else(|_| "memcached://127.0.0.1:11211".into())
}

pub fn address(url: &str) -> String {
    let rest = url.trim_start_matches("memcached://");
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

/// A store on the test server with `prefix`, over `options` (a profile).
pub async fn connect(prefix: &str, options: OpenOptions) -> Option<MemcachedStore> {
    let url = url();
    let options = options
        .with_key_prefix(prefix)
        .with_timeout(Duration::from_secs(5));
    server_or_skip(
        &format!("memcached at {url}"),
        MemcachedStore::connect(&url, &options).await,
    )
}

/// A harness with its own key prefix; every key written is deleted when the test ends.
pub async fn harness(options: OpenOptions) -> Option<Harness> {
    let pickles = options.profile == tessera::Profile::Django;
    let prefix = format!("{}:", super::unique("tessera-test:"));
    let store = connect(&prefix, options.clone()).await?;
    let peer = connect(&prefix, options).await?;
    let keys = store.clone();
    let addr = address(&url());
    let cleanup = Cleanup::new(move |ids| {
        for id in ids {
            let _ =
                super::memcached_command(&addr, format!("delete {}\r\n", keys.key(&id)).as_bytes());
        }
    });
    let planter = store.clone();
    let planted = cleanup.clone();
    let addr = address(&url());
    let corrupt = move |id: tessera::SessionId| {
        planted.note(&id);
        let key = planter.key(&id);
        let addr = addr.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let value: &[u8] = b"\xff\xfenot a session";
                let mut command = format!("set {key} 0 3600 {}\r\n", value.len()).into_bytes();
                command.extend_from_slice(value);
                command.extend_from_slice(b"\r\n");
                let reply = super::memcached_command(&addr, &command).unwrap();
                assert_eq!(reply.trim(), "STORED");
            })
            .await
            .unwrap();
        }
    };
    let (writer, written, writer_addr) = (store.clone(), cleanup.clone(), address(&url()));
    // What Django's PyMemcacheCache `set` does: the pickle under pymemcache's pickle flag,
    // expiring at the deadline, sent as seconds from now up to 30 days and as a Unix time
    // beyond (`BaseMemcachedCache.get_backend_timeout`). A Unix time would be judged by
    // memcached's own clock, which counts from its start and drifts from the wall clock.
    let foreign = move |id: tessera::SessionId, bytes: Vec<u8>, at: time::OffsetDateTime| {
        written.note(&id);
        let (key, addr) = (writer.key(&id), writer_addr.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let left = (at - time::OffsetDateTime::now_utc()).whole_seconds();
                let exptime = if left > 30 * 24 * 3600 {
                    at.unix_timestamp()
                } else if left > 0 {
                    left
                } else {
                    -1 // already expired (memcached reads 0 as "never")
                };
                let mut command = format!("set {key} 1 {exptime} {}\r\n", bytes.len()).into_bytes();
                command.extend_from_slice(&bytes);
                command.extend_from_slice(b"\r\n");
                let reply = super::memcached_command(&addr, &command).unwrap();
                assert_eq!(reply.trim(), "STORED");
            })
            .await
            .unwrap();
        }
    };
    let harness = Tracked::harness(store, peer, &cleanup)
        .expired_by_the_server()
        .with_corrupter(corrupt)
        .without_user_index();
    Some(if pickles {
        harness.with_foreign_pickles().with_foreign_writer(foreign)
    } else {
        harness
    })
}
