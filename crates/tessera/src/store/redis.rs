//! [`RedisStore`]: sessions in Redis or a Redis Cluster (feature `redis`).
//!
//! One key per session, `<key_prefix><id>`, holding a string: the record's version in decimal,
//! a newline, then the bytes of the profile's [`RecordCodec`](crate::codec::RecordCodec)
//! (natively [`Record::encode`]). The key's TTL is the session's deadline, so Redis forgets
//! sessions itself. A user's sessions are indexed in a sorted set of their own,
//! `<key_prefix>user:<escaped user>`, that expires with its last entry. Every write is a Lua
//! script that reads and writes in one step on the server, and every script touches exactly
//! one key, so it runs unchanged on a cluster.
//!
//! A codec whose layout is a foreign framework's ([`Versioning::ContentHash`]: the
//! `flask-session` and `django` profiles) gets the value to itself: the value is exactly the
//! codec's bytes (Flask-Session 0.8's msgpack session dict, what a Flask app with
//! `SESSION_TYPE="redis"` reads and writes; Django's pickled session dict, what its `cache`
//! engine on `RedisCache` reads and writes, under Django's cache key), and the conditional write compares a hash of the value, since such records
//! carry no version.

mod listing;
mod user_index;

use std::future::Future;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, Script, ServerErrorKind};
use time::OffsetDateTime;

use sha1::{Digest, Sha1};

use super::{
    Backend, Error, Expected, Listing, Loaded, OpenOptions, Saved, SessionStore, UserIndex,
};
use crate::codec::{SharedCodec, Versioning};
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::{Record, Version};
use crate::store::url::redact_url;
use user_index::RedisUserIndex;

/// The profiles whose layouts the store keeps: tessera's, Flask-Session's and Django's `cache`
/// engine's (the pickled dict, [`Backend::pickles`]).
const PROFILES: &[Profile] = &[Profile::Native, Profile::FlaskSession, Profile::Django];

/// Reads the value, its remaining TTL and the server's time, atomically.
const LOAD: &str = include_str!("redis/load.lua");

/// The conditional write. ARGV: expected version (empty: absent), payload, deadline (Unix ms).
/// Returns the new version, or 0 on a conflict. A deadline already past on the server's clock
/// deletes the key (a save of an expired record is a delete).
const SAVE: &str = include_str!("redis/save.lua");

/// The conditional write of foreign layouts ([`Versioning::ContentHash`]): their records carry
/// no version, so the token is the first 12 hex digits of the stored value's SHA-1
/// (`redis.sha1hex`). ARGV: expected token (empty: absent), payload, deadline (Unix ms).
/// Returns 1, or 0 on a conflict.
const SAVE_HASHED: &str = include_str!("redis/save_hashed.lua");

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A call of `script` on one key: `EVALSHA <sha1> 1 <key>`, for the caller to add the
/// arguments to. The arguments are written once, into the command itself (a
/// [`redis::ScriptInvocation`] keeps its own copy of each and copies them again into the
/// command: a 64 KB record was copied four times on its way to the socket, now three).
/// `args` arguments of `bytes` bytes in all are to follow: the command is allocated for them
/// at once rather than grown (and copied) as they are written.
pub(super) fn script_call(script: &Script, key: &str, args: usize, bytes: usize) -> Cmd {
    let hash = script.get_hash();
    let mut cmd = Cmd::with_capacity(
        4 + args,
        "EVALSHA".len() + hash.len() + 1 + key.len() + bytes,
    );
    cmd.arg("EVALSHA").arg(hash).arg(1).arg(key);
    cmd
}

/// Sends `call` (made by [`script_call`] for `script`); if the server does not know the
/// script (`NOSCRIPT`: it restarted, failed over, or its script cache was flushed), loads it
/// and sends `call` again, as [`redis::ScriptInvocation`] does.
async fn eval_on<T: FromRedisValue>(
    con: &mut impl redis::aio::ConnectionLike,
    script: &Script,
    call: &Cmd,
) -> RedisResult<T> {
    match call.query_async(con).await {
        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            script.load_async(con).await?;
            call.query_async(con).await
        }
        result => result,
    }
}

impl Connection {
    /// Runs `call`, a [`script_call`] of `script`, bounded by `timeout`.
    async fn eval<T: FromRedisValue>(
        &self,
        op: &'static str,
        timeout: StdDuration,
        script: &Script,
        call: &Cmd,
    ) -> Result<T, Error> {
        let run = async {
            match self {
                Self::Single(c) => eval_on(&mut c.clone(), script, call).await,
                Self::Cluster(c) => eval_on(&mut c.clone(), script, call).await,
            }
        };
        bounded(op, timeout, run).await
    }

    /// Runs a command, bounded by `timeout`.
    async fn query<T: FromRedisValue>(
        &self,
        op: &'static str,
        timeout: StdDuration,
        cmd: Cmd,
    ) -> Result<T, Error> {
        let run = async {
            match self {
                Self::Single(c) => cmd.query_async(&mut c.clone()).await,
                Self::Cluster(c) => cmd.query_async(&mut c.clone()).await,
            }
        };
        bounded(op, timeout, run).await
    }
}

/// Sessions in Redis, a single server or a Redis Cluster.
///
/// - **Keys**: `<key_prefix><id>` (default prefix `session:`, as Flask-Session), one per session.
/// - **Values**: `<version>\n<record>`; the version starts at 1 and grows by one with each
///   write. The bytes after the header are the profile's codec's (`options.profile`); a codec
///   with a foreign layout ([`Versioning::ContentHash`], the `flask-session` profile) has the
///   value to itself, and its version is a hash of the value.
/// - **Expiry**: the key's TTL is the session's deadline, set in the same step as the write, so
///   Redis expires sessions itself and [`clear_expired`](SessionStore::clear_expired) returns 0.
///   [`touch`](SessionStore::touch) is a single `PEXPIREAT`: nothing is rewritten, and
///   [`load`](SessionStore::load) reports the key's true deadline (read with `PTTL` in the
///   same script). Deadlines travel as Unix times and become TTLs on Redis's own clock.
/// - **Conditional writes**: a Lua script compares the stored version with the expected one and
///   writes in the same atomic step. Scripts name one key only, so they are cluster-safe.
/// - **Listing**: [`list`](SessionStore::list) `SCAN`s the keys under the prefix (on every
///   master of a cluster) a page of about 200 at a time, with one pipelined round trip per
///   page for the values' lengths and TTLs.
/// - **Sessions by user** ([`user_index`](SessionStore::user_index)): one sorted set per user,
///   `<key_prefix>user:<user>` ([`user_key`](RedisStore::user_key): the name escaped byte by
///   byte, so no two names share a key, and no session key, whose ids never hold a `:`, is a
///   user's), with the session ids as members scored by their `until` in Unix milliseconds.
///   Each save of a user's session first runs one script on that key alone (cluster-safe): it
///   keeps the later of the old and new score, drops the entries already past on the server's
///   clock, and sets the key to expire (`PEXPIREAT`) at its highest score. So the set holds at
///   most the user's live sessions, its key goes when the last of them ends, and the index's
///   `clear_expired` has nothing to do; the entries are listed with one script
///   (`ZRANGEBYSCORE` after the server's `TIME`) and removed with one `ZREM`. Cost: one more
///   round trip per save with a user, `O(log n)` in the user's `n` live sessions (plus the
///   expired ones it drops). Limits: one user's entries are one key, read whole (a user with
///   very many live sessions makes that key and its reads large, and on a cluster its slot's
///   node serves all of them); the index and the sessions are in different keys (slots), not
///   updated atomically together, which the index's contract does not need.
/// - **Failures**: connections reconnect by themselves after the server comes back (the
///   `redis` crate's `ConnectionManager` and cluster client); every operation is bounded by the
///   store's timeout and fails with [`Error::Timeout`] or [`Error::Unavailable`].
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{redis::RedisStore, OpenOptions};
///
/// let single = RedisStore::connect("redis://127.0.0.1:6379/0", &OpenOptions::default()).await?;
/// let cluster = RedisStore::connect(
///     "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003",
///     &OpenOptions::default(),
/// )
/// .await?;
/// # let _ = (single, cluster); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: String,
    timeout: StdDuration,
    load: Script,
    save: Script,
    codec: SharedCodec,
    /// `codec.versioning()`: a `<version>\n` header before the bytes, or a hash of them.
    versioning: Versioning,
    /// The index of sessions by user, on the same connection.
    users: RedisUserIndex,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.connection {
            Connection::Single(_) => "single",
            Connection::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisStore")
            .field("kind", &kind)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the server a URL names, within `options.timeout`:
    ///
    /// - `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS): one server;
    /// - `redis+cluster://[user:password@]host:port,host:port,…` (or `rediss+cluster://`): a
    ///   Redis Cluster, from any of its nodes.
    ///
    /// Keys start with `options.key_prefix`; every operation is bounded by `options.timeout`;
    /// values are in the format of `options.profile`'s codec ([`OpenOptions::codec`]), the
    /// `native` or the `flask-session` one.
    pub async fn connect(url: &str, options: &OpenOptions) -> Result<Self, Error> {
        let timeout = options.timeout;
        let bad = |reason: String| Error::BadUrl {
            url: redact_url(url),
            reason,
        };
        if url.starts_with("rediss") {
            // Pick rustls' provider explicitly: several in one build would make it refuse to
            // choose. Another part of the program may have installed one already; that is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let connection = if let Some((tls, rest)) = cluster_parts(url) {
            let nodes = cluster_nodes(tls, rest).map_err(bad)?;
            let client = ClusterClientBuilder::new(nodes)
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(2)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            let connection = bounded("connect", timeout, client.get_async_connection()).await?;
            Connection::Cluster(connection)
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            let client = redis::Client::open(url).map_err(|e| bad(e.to_string()))?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                // No response timeout of the manager's own: the store's timeout around every
                // call (`bounded`) already bounds it, waiting for a reconnection included, and
                // a second timer costs about 1,000 instructions per call
                // (BENCHMARKS.md, "Redis clients alone").
                .set_response_timeout(None)
                // Few, short reconnection attempts: a request waiting on a reconnection fails
                // within its timeout anyway, and the next request starts a new attempt.
                .set_number_of_retries(2)
                .set_min_delay(StdDuration::from_millis(50))
                .set_max_delay(StdDuration::from_millis(500));
            let manager = bounded(
                "connect",
                timeout,
                ConnectionManager::new_with_config(client, config),
            )
            .await?;
            Connection::Single(manager)
        } else {
            return Err(bad(
                "expected redis://, rediss://, redis+cluster:// or rediss+cluster://".into(),
            ));
        };
        if !PROFILES.contains(&options.profile) {
            return Err(bad(format!(
                "the Redis store keeps the native, flask-session and django formats, not {}'s",
                options.profile
            )));
        }
        let codec = options
            .codec_for(Backend::Redis)
            .map_err(|e| bad(e.to_string()))?;
        let versioning = codec.versioning();
        let save = match versioning {
            Versioning::Counter => SAVE,
            Versioning::ContentHash => SAVE_HASHED,
        };
        let users = RedisUserIndex::new(connection.clone(), &options.key_prefix, timeout);
        Ok(Self {
            connection,
            prefix: options.key_prefix.clone(),
            timeout,
            load: Script::new(LOAD),
            save: Script::new(save),
            codec,
            versioning,
            users,
        })
    }

    /// The Redis key of a session.
    pub fn key(&self, id: &SessionId) -> String {
        let mut key = String::with_capacity(self.prefix.len() + id.expose().len());
        key.push_str(&self.prefix);
        key.push_str(id.expose());
        key
    }

    /// The Redis key of `user`'s index: `<key_prefix>user:<user>`, every byte of the name
    /// outside `A-Z a-z 0-9 - _ .` written as `%XX`. It is a sorted set of session ids scored by
    /// their `until` in Unix milliseconds ([`SessionStore::user_index`]).
    pub fn user_key(&self, user: &str) -> String {
        self.users.key(user)
    }

    async fn eval<T: FromRedisValue>(
        &self,
        op: &'static str,
        script: &Script,
        call: &Cmd,
    ) -> Result<T, Error> {
        self.connection.eval(op, self.timeout, script, call).await
    }

    async fn query<T: FromRedisValue>(&self, op: &'static str, cmd: Cmd) -> Result<T, Error> {
        self.connection.query(op, self.timeout, cmd).await
    }
}

/// `Some((tls, "hosts…"))` for a cluster URL.
fn cluster_parts(url: &str) -> Option<(bool, &str)> {
    url.strip_prefix("redis+cluster://")
        .map(|rest| (false, rest))
        .or_else(|| {
            url.strip_prefix("rediss+cluster://")
                .map(|rest| (true, rest))
        })
}

/// One `redis://` URL per node of `[userinfo@]host:port,host:port[/…]`.
fn cluster_nodes(tls: bool, rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.split(['/', '?']).next().unwrap_or_default();
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((user, hosts)) => (format!("{user}@"), hosts),
        None => (String::new(), rest),
    };
    let scheme = if tls { "rediss" } else { "redis" };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|host| format!("{scheme}://{userinfo}{host}"))
        .collect();
    if nodes.is_empty() {
        return Err("a cluster URL names at least one node: redis+cluster://host:port,…".into());
    }
    Ok(nodes)
}

/// Runs a client call under `after`, mapping its failures to store errors.
async fn bounded<T>(
    op: &'static str,
    after: StdDuration,
    fut: impl Future<Output = RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(after, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if e.is_timeout() => Err(Error::Timeout { op, after }),
        Ok(Err(e)) => Err(Error::unavailable(op, e)),
        Err(_) => Err(Error::Timeout { op, after }),
    }
}

/// Unix milliseconds of `at`, truncated to whole seconds as the record encoding keeps it.
fn deadline_ms(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().saturating_mul(1000)
}

/// A foreign layout's version token: the first 48 bits of the value's SHA-1, what
/// [`SAVE_HASHED`] compares.
fn content_version(value: &[u8]) -> Version {
    let digest = Sha1::digest(value);
    let mut be = [0u8; 8];
    be[2..].copy_from_slice(&digest[..6]);
    Version::new(u64::from_be_bytes(be))
}

/// Splits `<version>\n<codec bytes>`.
fn parse_value<'a>(id: &SessionId, value: &'a [u8]) -> Result<(Version, &'a [u8]), Error> {
    let corrupt = |what: &str| Error::corrupt(id, format!("the Redis value {what}"));
    let newline = value
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| corrupt("has no version header"))?;
    let version = std::str::from_utf8(&value[..newline])
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| corrupt("has an unreadable version header"))?;
    Ok((Version::new(version), &value[newline + 1..]))
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let call = script_call(&self.load, &self.key(id), 0, 0);
        let reply: Option<(Vec<u8>, i64, i64, i64)> = self.eval("load", &self.load, &call).await?;
        let Some((value, pttl, seconds, micros)) = reply else {
            return Ok(None);
        };
        let (version, bytes) = match self.versioning {
            Versioning::Counter => parse_value(id, &value)?,
            Versioning::ContentHash => (content_version(&value), &value[..]),
        };
        // The true deadline (moved by touch), rounded to the whole second it was set to; none
        // if the key has no TTL.
        let deadline = if pttl >= 0 {
            let deadline_ms = seconds * 1000 + micros / 1000 + pttl;
            Some(
                OffsetDateTime::from_unix_timestamp((deadline_ms + 500) / 1000)
                    .map_err(|e| Error::corrupt(id, e))?,
            )
        } else {
            None
        };
        let record = self
            .codec
            .decode(bytes, deadline)
            .map_err(|e| Error::undecodable(id, e))?;
        Ok(Some(Loaded { record, version }))
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let payload = self
            .codec
            .encode(record)
            .map_err(|e| Error::unencodable(id, e))?;
        // The expected token as the script compares it, and the version a write makes when the
        // version is the value's hash.
        let (condition, hashed) = match self.versioning {
            Versioning::Counter => (
                match expected {
                    Expected::Absent => String::new(),
                    Expected::Version(v) => v.get().to_string(),
                },
                None,
            ),
            Versioning::ContentHash => (
                match expected {
                    Expected::Absent => String::new(),
                    Expected::Version(v) => format!("{:012x}", v.get()),
                },
                Some(content_version(&payload)),
            ),
        };
        let deadline = deadline_ms(record.expires_at);
        // The deadline takes at most 20 digits.
        let bytes = condition.len() + payload.len() + 20;
        let mut call = script_call(&self.save, &self.key(id), 3, bytes);
        call.arg(condition).arg(payload).arg(deadline);
        let written: u64 = self.eval("save", &self.save, &call).await?;
        let saved = match (written, hashed) {
            (0, _) => Saved::Conflict,
            (_, Some(version)) => Saved::Written(version),
            (v, None) => Saved::Written(Version::new(v)),
        };
        Ok(saved)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(id));
        let _: i64 = self.query("delete", cmd).await?;
        Ok(())
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let mut cmd = redis::cmd("PEXPIREAT");
        cmd.arg(self.key(id)).arg(deadline_ms(expires_at));
        let set: i64 = self.query("touch", cmd).await?;
        Ok(set == 1)
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        // Redis expires keys itself, the user indexes' too.
        Ok(0)
    }

    fn server_expires(&self) -> bool {
        true
    }

    /// `SCAN … MATCH <prefix>* COUNT 200` over the server, or over every master of a cluster,
    /// then per page one pipeline of `STRLEN` (the size: the stored value's bytes, the
    /// `<version>\n` header included) and `PTTL` of each key. Keys under the prefix whose rest
    /// is not an id this store takes are skipped.
    fn list(&self) -> Listing<'_> {
        self.listing()
    }

    fn bounded_by(&self) -> Option<StdDuration> {
        Some(self.timeout)
    }

    /// A sorted set per user under [`user_key`](RedisStore::user_key); see the store's docs.
    fn user_index(&self) -> Result<&dyn UserIndex, Error> {
        Ok(&self.users)
    }

    fn profile(&self) -> Profile {
        self.codec.profile()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_name_every_node() {
        let (tls, rest) = cluster_parts("redis+cluster://:pw@a:1,b:2/").unwrap();
        assert!(!tls);
        assert_eq!(
            cluster_nodes(tls, rest).unwrap(),
            ["redis://:pw@a:1", "redis://:pw@b:2"]
        );
        let (tls, rest) = cluster_parts("rediss+cluster://h:7001").unwrap();
        assert_eq!(cluster_nodes(tls, rest).unwrap(), ["rediss://h:7001"]);
        assert!(cluster_nodes(false, "").is_err());
        assert!(cluster_parts("redis://h").is_none());
    }

    #[test]
    fn values_carry_their_version() {
        let id = SessionId::generate().unwrap();
        let record = Record::new(
            Default::default(),
            crate::Expiry::Default,
            OffsetDateTime::UNIX_EPOCH,
        );
        let mut value = b"42\n".to_vec();
        value.extend(record.encode());
        let (version, bytes) = parse_value(&id, &value).unwrap();
        assert_eq!((version, bytes), (Version::new(42), &record.encode()[..]));
        for bad in [&b"no header"[..], b"x\n{}", b"\xff\xfe"] {
            assert!(matches!(parse_value(&id, bad), Err(Error::Corrupt { .. })));
        }
    }
}
