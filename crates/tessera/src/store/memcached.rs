//! [`MemcachedStore`]: sessions in memcached (feature `memcached`).
//!
//! Speaks memcached's meta protocol through `async-memcached`, over a small pool of
//! connections that reconnect on their next use after a failure.
//!
//! Values are the bytes of the profile's [`RecordCodec`](crate::codec::RecordCodec). With the
//! `flask-session` profile they are Flask-Session 0.8's msgpack session dicts under
//! `SESSION_KEY_PREFIX` + id (never hashed), what a Flask app with `SESSION_TYPE="memcached"`
//! reads and writes; with the `django` profile, Django's pickled session dicts under Django's
//! cache key with pymemcache's pickle flag, what its `cache` engine on `PyMemcacheCache` reads
//! and writes. CAS still guards every write.

mod listing;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_memcached::{Client, MetaProtocol, Status};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tokio::sync::{Mutex, MutexGuard};

use super::{Backend, Error, Expected, Listing, Loaded, OpenOptions, Saved, SessionStore};
use crate::clock::SharedClock;
use crate::codec::{SharedCodec, Versioning};
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::{Record, Version};
use crate::store::url::redact_url;

/// memcached's default item size limit (`-I 1m`), less room for the key and item header.
pub const DEFAULT_MAX_VALUE: usize = 1024 * 1024 - 512;
/// How many connections a store keeps unless the URL's `pool` says otherwise.
pub const DEFAULT_POOL: usize = 4;
/// The longest key memcached accepts.
const MAX_KEY: usize = 250;
/// Expiry times over 30 days are Unix times in memcached's protocol.
const RELATIVE_LIMIT: i64 = 60 * 60 * 24 * 30;
/// The profiles whose records the store keeps: tessera's, Flask-Session's and Django's `cache`
/// engine's.
const PROFILES: &[Profile] = &[Profile::Native, Profile::FlaskSession, Profile::Django];

/// Sessions in memcached.
///
/// - **Keys**: `<key_prefix><id>` when that is a valid memcached key (at most 250 bytes, no
///   spaces or control characters); otherwise `tessera:` and the SHA-256 of it in hex.
/// - **Values**: the bytes of the profile's codec (natively [`Record::encode`]), binary-safe,
///   with the codec's client flags ([`RecordCodec::memcached_flags`](crate::codec::RecordCodec::memcached_flags));
///   values over
///   the item limit (1 MB by default, `?max_value=BYTES` in the URL) are [`Error::TooLarge`].
/// - **Versions**: memcached's CAS values. Creating is an `add` (`ms … ME`), replacing is a
///   set that names the CAS value it loaded (`ms … C<cas>`), so the server decides atomically.
/// - **Expiry**: the item's TTL is the session's deadline (sent as a Unix time past 30 days, as
///   the protocol requires), so memcached forgets sessions itself and
///   [`clear_expired`](SessionStore::clear_expired) returns 0; [`touch`](SessionStore::touch)
///   moves the TTL only (`mg … T<ttl>`), leaving data and CAS alone; a deadline moved that way
///   is reported by [`load`](SessionStore::load) to within memcached's one-second clock.
/// - **Listing**: [`list`](SessionStore::list) streams `lru_crawler metadump all` and looks
///   the keys under the prefix up a page of 200 at a time; hashed keys (see **Keys**) cannot
///   be told apart from others' and are not listed. A server whose LRU crawler is off fails
///   the listing with [`Error::Unsupported`], saying how to turn it on.
/// - **Failures**: a broken connection is dropped and reopened on its next use; every operation
///   is bounded by the store's timeout.
///
/// Mind that memcached may evict any item when it runs out of memory: sessions there are a
/// cache, as with Django's `cache` backend. Put it in front of a database with
/// [`CachedStore`](super::cached::CachedStore) when sessions must last.
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{memcached::MemcachedStore, OpenOptions};
///
/// let store = MemcachedStore::connect("memcached://127.0.0.1:11211", &OpenOptions::default()).await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Clone)]
pub struct MemcachedStore {
    inner: Arc<Inner>,
}

struct Inner {
    address: String,
    slots: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
    prefix: String,
    timeout: StdDuration,
    max_value: usize,
    clock: SharedClock,
    codec: SharedCodec,
}

impl std::fmt::Debug for MemcachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedStore")
            .field("address", &self.inner.address)
            .field("pool", &self.inner.slots.len())
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Why one client call failed.
enum Failure {
    /// The server answered with this status (`NS`, `EX`, `NF`, …).
    Status(Status),
    /// The connection or the protocol failed.
    Client(async_memcached::Error),
}

impl From<async_memcached::Error> for Failure {
    fn from(e: async_memcached::Error) -> Self {
        match e {
            async_memcached::Error::Protocol(status) => Self::Status(status),
            other => Self::Client(other),
        }
    }
}

impl MemcachedStore {
    /// Connects to `memcached://host[:port][?pool=N&max_value=BYTES]` within
    /// `options.timeout` (one connection is opened to check the server; the rest on demand).
    pub async fn connect(url: &str, options: &OpenOptions) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadUrl {
            url: redact_url(url),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if parsed.scheme() != "memcached" {
            return Err(bad("expected the scheme `memcached`".into()));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("expected memcached://host:port".into()))?;
        let address = format!("tcp://{host}:{}", parsed.port().unwrap_or(11211));
        let mut pool = DEFAULT_POOL;
        let mut max_value = DEFAULT_MAX_VALUE;
        for (key, value) in parsed.query_pairs() {
            let number = || {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(format!("{key} {value:?} is not a positive whole number")))
            };
            match &*key {
                "pool" => pool = number()?,
                "max_value" => max_value = number()?,
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?}; known: pool, max_value"
                    )))
                }
            }
        }
        if !PROFILES.contains(&options.profile) {
            return Err(bad(format!(
                "the memcached store keeps the native, flask-session and django formats, not {}'s",
                options.profile
            )));
        }
        let codec = options
            .codec_for(Backend::Memcached)
            .map_err(|e| bad(e.to_string()))?;
        if codec.versioning() == Versioning::ContentHash {
            // A foreign framework looks sessions up under prefix + id as is: never hashed.
            let longest = options.key_prefix.len() + crate::id::MAX_ID_LEN;
            if longest > MAX_KEY || !options.key_prefix.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(format!(
                    "the {} layout needs SESSION_KEY_PREFIX to be printable ASCII of at most {} bytes",
                    codec.profile(),
                    MAX_KEY - crate::id::MAX_ID_LEN
                )));
            }
        }
        let store = Self {
            inner: Arc::new(Inner {
                address,
                slots: (0..pool).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
                prefix: options.key_prefix.clone(),
                timeout: options.timeout,
                max_value,
                clock: options.clock.clone(),
                codec,
            }),
        };
        store
            .bounded("connect", async {
                let mut client = store.client().await?;
                client.version().await?;
                Ok(())
            })
            .await?
            .map_err(|status| status_error("connect", &status))?;
        Ok(store)
    }

    /// The memcached key of a session.
    pub fn key(&self, id: &SessionId) -> String {
        let key = format!("{}{}", self.inner.prefix, id.expose());
        let valid = key.len() <= MAX_KEY && key.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            return key;
        }
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("tessera:{hex}")
    }

    /// A connection from the pool, reopened if the last use broke it.
    async fn client(&self) -> Result<tokio::sync::MappedMutexGuard<'_, Client>, Failure> {
        let slots = &self.inner.slots;
        let index = self.inner.next.fetch_add(1, Ordering::Relaxed) % slots.len();
        let mut slot: MutexGuard<'_, Option<Client>> = slots[index].lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = None;
            *slot = Some(Client::new(&self.inner.address).await?);
        }
        MutexGuard::try_map(slot, Option::as_mut).map_err(|_| {
            // Unreachable: the slot was filled just above.
            Failure::Client(async_memcached::Error::ConnectionClosed)
        })
    }

    /// Runs one operation under the store's timeout. A cancelled operation leaves its
    /// connection marked closed, so the next use reconnects.
    async fn bounded<T>(
        &self,
        op: &'static str,
        fut: impl std::future::Future<Output = Result<T, Failure>>,
    ) -> Result<Result<T, Status>, Error> {
        let after = self.inner.timeout;
        match tokio::time::timeout(after, fut).await {
            Err(_) => Err(Error::Timeout { op, after }),
            Ok(Ok(value)) => Ok(Ok(value)),
            Ok(Err(Failure::Status(status))) => Ok(Err(status)),
            Ok(Err(Failure::Client(e))) => Err(Error::unavailable(op, e)),
        }
    }

    /// memcached's expiry argument for a deadline: seconds from now up to 30 days, a Unix
    /// time past that; `None` when the deadline has passed.
    fn ttl(&self, expires_at: OffsetDateTime) -> Option<i64> {
        let left = expires_at - self.inner.clock.now();
        if left <= Duration::ZERO {
            return None;
        }
        let seconds = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
        Some(if seconds > RELATIVE_LIMIT {
            expires_at.unix_timestamp()
        } else {
            seconds
        })
    }

    async fn delete_if(&self, key: &str, cas: Option<u64>) -> Result<Result<(), Status>, Error> {
        let flag = cas.map(|c| format!("C{c}"));
        self.bounded("delete", async {
            let flags: Vec<&str> = flag.iter().map(String::as_str).collect();
            let mut client = self.client().await?;
            client.meta_delete(key, false, None, Some(&flags)).await?;
            Ok(())
        })
        .await
    }
}

fn status_error(op: &'static str, status: &Status) -> Error {
    Error::unavailable(op, format!("memcached answered {status:?}"))
}

#[async_trait]
impl SessionStore for MemcachedStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let key = self.key(id);
        let found = self
            .bounded("load", async {
                let mut client = self.client().await?;
                Ok(client
                    .meta_get(&key, false, None, Some(&["v", "c", "t"]))
                    .await?)
            })
            .await?
            .map_err(|status| status_error("load", &status))?;
        let Some(item) = found else {
            return Ok(None);
        };
        let cas = item
            .cas
            .ok_or_else(|| Error::unavailable("load", "memcached sent no CAS value"))?;
        let bytes = item.data.unwrap_or_default();
        let ttl = item.ttl_remaining.filter(|t| *t >= 0);
        let deadline = ttl.map(|ttl| self.inner.clock.now() + Duration::seconds(ttl));
        let whole = |at: OffsetDateTime| at.replace_nanosecond(0).unwrap_or(at);
        let codec = &self.inner.codec;
        let record = if codec.carries_deadline() {
            let mut record = codec
                .decode(&bytes, None)
                .map_err(|e| Error::undecodable(id, e))?;
            // memcached counts whole seconds on its own clock; only a deadline moved by touch
            // differs from the saved one by more than that.
            if let Some(deadline) = deadline {
                if (deadline - record.expires_at).abs() > Duration::seconds(2) {
                    record.expires_at = whole(deadline);
                }
            }
            record
        } else {
            codec
                .decode(&bytes, deadline.map(whole))
                .map_err(|e| Error::undecodable(id, e))?
        };
        Ok(Some(Loaded {
            record,
            version: Version::new(cas),
        }))
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let key = self.key(id);
        let Some(ttl) = self.ttl(record.expires_at) else {
            // An expired record: delete what `expected` names.
            return Ok(match expected {
                Expected::Absent => match self.load(id).await? {
                    Some(_) => Saved::Conflict,
                    None => Saved::Written(Version::FIRST),
                },
                Expected::Version(v) => match self.delete_if(&key, Some(v.get())).await? {
                    Ok(()) => Saved::Written(v.next()),
                    Err(_) => Saved::Conflict,
                },
            });
        };
        let value = self
            .inner
            .codec
            .encode(record)
            .map_err(|e| Error::unencodable(id, e))?;
        if value.len() > self.inner.max_value {
            return Err(Error::TooLarge {
                size: value.len(),
                limit: self.inner.max_value,
            });
        }
        let ttl_flag = format!("T{ttl}");
        let client_flags = format!("F{}", self.inner.codec.memcached_flags());
        let condition = match expected {
            Expected::Absent => "ME".to_owned(),
            Expected::Version(v) => format!("C{}", v.get()),
        };
        let written = self
            .bounded("save", async {
                let mut client = self.client().await?;
                let flags = [
                    ttl_flag.as_str(),
                    client_flags.as_str(),
                    condition.as_str(),
                    "c",
                ];
                Ok(client
                    .meta_set(&key, value.as_slice(), false, None, Some(&flags))
                    .await?)
            })
            .await?;
        let saved = match written {
            // With flags to return, the outcome comes back as the item's status.
            Ok(Some(item))
                if matches!(
                    item.status,
                    Some(Status::NotStored | Status::Exists | Status::NotFound)
                ) =>
            {
                Saved::Conflict
            }
            Ok(item) => {
                let cas = item
                    .and_then(|i| i.cas)
                    .ok_or_else(|| Error::unavailable("save", "memcached sent no CAS value"))?;
                Saved::Written(Version::new(cas))
            }
            Err(Status::NotStored | Status::Exists | Status::NotFound) => Saved::Conflict,
            Err(Status::Error(async_memcached::ErrorKind::Server(message)))
                if message.contains("too large") =>
            {
                return Err(Error::TooLarge {
                    size: value.len(),
                    limit: self.inner.max_value,
                });
            }
            Err(status) => return Err(status_error("save", &status)),
        };
        Ok(saved)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        match self.delete_if(&self.key(id), None).await? {
            Ok(()) | Err(Status::NotFound) => Ok(()),
            Err(status) => Err(status_error("delete", &status)),
        }
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let key = self.key(id);
        let Some(ttl) = self.ttl(expires_at) else {
            let existed = self.load(id).await?.is_some();
            self.delete(id).await?;
            return Ok(existed);
        };
        let ttl_flag = format!("T{ttl}");
        let found = self
            .bounded("touch", async {
                let mut client = self.client().await?;
                Ok(client
                    // `c` makes a hit come back as an item (a bare `HD` reads as a miss).
                    .meta_get(&key, false, None, Some(&[ttl_flag.as_str(), "c"]))
                    .await?)
            })
            .await?;
        match found {
            Ok(item) => Ok(item.is_some()),
            Err(Status::NotFound) => Ok(false),
            Err(status) => Err(status_error("touch", &status)),
        }
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        // memcached expires items itself.
        Ok(0)
    }

    fn server_expires(&self) -> bool {
        true
    }

    /// The keys under the prefix that `lru_crawler metadump all` dumps (on a connection of its
    /// own; needs memcached's LRU crawler, on by default), looked up 200 at a time with
    /// `mg <key> s t` for the value's length (the size) and remaining TTL. Items past their
    /// TTL are not dumped: memcached treats them as gone.
    fn list(&self) -> Listing<'_> {
        self.listing()
    }

    fn profile(&self) -> Profile {
        self.inner.codec.profile()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(prefix: &str) -> MemcachedStore {
        // No server needed: the pool connects lazily after the first check, which is skipped.
        MemcachedStore {
            inner: Arc::new(Inner {
                address: "127.0.0.1:1".into(),
                slots: vec![Mutex::new(None)],
                next: AtomicUsize::new(0),
                prefix: prefix.into(),
                timeout: StdDuration::from_millis(10),
                max_value: DEFAULT_MAX_VALUE,
                clock: crate::clock::system(),
                codec: Arc::new(crate::codec::NativeCodec),
            }),
        }
    }

    #[tokio::test]
    async fn keys_are_valid_memcached_keys() {
        let id = SessionId::generate().unwrap();
        let plain = store("session:").await.key(&id);
        assert_eq!(plain, format!("session:{}", id.expose()));
        for prefix in ["with space ", "ctl\u{1}", &"p".repeat(300), "é:"] {
            let key = store(prefix).await.key(&id);
            assert!(key.starts_with("tessera:") && key.len() == 8 + 64, "{key}");
        }
    }

    #[tokio::test]
    async fn long_deadlines_are_unix_times() {
        let s = store("s:").await;
        let now = OffsetDateTime::now_utc();
        assert_eq!(s.ttl(now - Duration::seconds(1)), None);
        let short = s.ttl(now + Duration::hours(1)).unwrap();
        assert!((3599..=3601).contains(&short), "{short}");
        let far = now + Duration::days(31);
        assert_eq!(s.ttl(far), Some(far.unix_timestamp()));
    }

    #[test]
    fn bad_urls_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for url in [
            "memcached://",
            "memcached://h:1?pool=0",
            "memcached://h:1?size=3",
            "redis://h",
        ] {
            let err = rt
                .block_on(MemcachedStore::connect(url, &OpenOptions::default()))
                .unwrap_err();
            assert!(matches!(err, Error::BadUrl { .. }), "{url}: {err}");
        }
    }

    #[tokio::test]
    async fn foreign_layouts_need_keys_they_can_look_up() {
        // Refused before connecting: nothing listens on port 1.
        let policy = crate::ExpiryPolicy::default();
        let options = OpenOptions::default()
            .with_profile(Profile::FlaskSession, policy)
            .with_key_prefix("with space:");
        let err = MemcachedStore::connect("memcached://127.0.0.1:1", &options)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the flask-session layout needs SESSION_KEY_PREFIX"),
            "{err}"
        );
        let options = OpenOptions::default().with_profile(Profile::Flask, policy);
        let err = MemcachedStore::connect("memcached://127.0.0.1:1", &options)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not flask's"), "{err}");
    }
}
