//! [`RedisStore`](super::RedisStore)'s index of sessions by user: one sorted set per user,
//! `<key_prefix>user:<escaped user>`, whose members are session ids scored by their `until` in
//! Unix milliseconds. The key expires at its highest score, so Redis forgets a user's index
//! when its last entry ends.
//!
//! Every operation is one command or one Lua script on the user's key alone, so it runs
//! unchanged on a Redis Cluster, where the user's key and the session keys live in different
//! slots: nothing here needs the two to change together (the middleware enters an id before it
//! writes the session, and readers check each entry against its record).

use std::time::Duration as StdDuration;

use async_trait::async_trait;
use redis::Script;
use time::OffsetDateTime;

use super::{script_call, Connection};
use crate::id::SessionId;
use crate::store::{Error, UserIndex};

/// What follows the store's key prefix in a user's key. Session ids never hold a `:`
/// (`A-Z a-z 0-9 - _`), so no session key (nor Django's cache key, `…cache<key>`, nor
/// Flask-Session's, `session:<sid>`) can be a user's key.
const USER_KEYS: &str = "user:";

/// Enters `ARGV[2]` with score `max(its score, ARGV[1])` (Unix ms, as a decimal string), drops
/// the members already past on the server's clock, and sets the key to expire at its highest
/// score. Scores travel as strings both ways: Lua would print a large number in `%.14g`.
const ENTER: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = ARGV[1]
local kept = redis.call('ZSCORE', KEYS[1], ARGV[2])
if kept and tonumber(kept) > tonumber(score) then score = kept end
redis.call('ZADD', KEYS[1], score, ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return 1
";

/// The members whose score is later than the server's clock.
const ENTRIES: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', now), '+inf')
";

/// The index a [`RedisStore`](super::RedisStore) owns; see the [module docs](self).
#[derive(Clone)]
pub(super) struct RedisUserIndex {
    connection: Connection,
    /// `<key_prefix>user:`.
    prefix: String,
    timeout: StdDuration,
    enter: Script,
    entries: Script,
}

impl std::fmt::Debug for RedisUserIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisUserIndex")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisUserIndex {
    pub(super) fn new(connection: Connection, key_prefix: &str, timeout: StdDuration) -> Self {
        Self {
            connection,
            prefix: format!("{key_prefix}{USER_KEYS}"),
            timeout,
            enter: Script::new(ENTER),
            entries: Script::new(ENTRIES),
        }
    }

    /// The key of `user`'s sorted set.
    pub(super) fn key(&self, user: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + user.len());
        key.push_str(&self.prefix);
        escape_into(user, &mut key);
        key
    }
}

/// Appends `user` with every byte outside `A-Z a-z 0-9 - _ .` as `%XX`: one-to-one (a `%` is
/// escaped too), and free of what a key might trip on (`:` separators, `{…}` cluster hash tags,
/// glob metacharacters, spaces, control characters).
fn escape_into(user: &str, key: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in user.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            key.push(char::from(b));
        } else {
            key.push('%');
            key.push(char::from(HEX[usize::from(b >> 4)]));
            key.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// `at` in Unix milliseconds (floored), saturating at `i64`'s range.
fn unix_ms(at: OffsetDateTime) -> i64 {
    let ms = at.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

#[async_trait]
impl UserIndex for RedisUserIndex {
    /// One `EVAL` on the user's key: `ZSCORE`, `ZADD`, `ZREMRANGEBYSCORE` of the entries past on
    /// the server's clock, and `PEXPIREAT` at the highest remaining score.
    async fn enter(&self, user: &str, id: &SessionId, until: OffsetDateTime) -> Result<(), Error> {
        let until = unix_ms(until).to_string();
        let mut call = script_call(
            &self.enter,
            &self.key(user),
            2,
            until.len() + id.expose().len(),
        );
        call.arg(until).arg(id.expose());
        let _: i64 = self
            .connection
            .eval("enter in the user index", self.timeout, &self.enter, &call)
            .await?;
        Ok(())
    }

    /// One `EVAL` on the user's key: `ZRANGEBYSCORE (<server now> +inf`.
    async fn entries(&self, user: &str) -> Result<Vec<SessionId>, Error> {
        let call = script_call(&self.entries, &self.key(user), 0, 0);
        let members: Vec<String> = self
            .connection
            .eval("read the user index", self.timeout, &self.entries, &call)
            .await?;
        // Only `enter` writes members, so each is an id; anything else under the key was put
        // there by someone else and names no session of ours.
        Ok(members
            .iter()
            .filter_map(|member| SessionId::parse(member).ok())
            .collect())
    }

    /// One `ZREM` of all of `ids` (none: no round trip). A set left empty is deleted by Redis.
    async fn remove(&self, user: &str, ids: &[SessionId]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.key(user));
        for id in ids {
            cmd.arg(id.expose());
        }
        let _: i64 = self
            .connection
            .query("remove from the user index", self.timeout, cmd)
            .await?;
        Ok(())
    }

    /// Redis expires a user's key at its last entry's `until`, and the entries past their
    /// `until` inside a live key are never listed and go at the user's next `enter`.
    async fn clear_expired(&self) -> Result<u64, Error> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(user: &str) -> String {
        let mut key = String::new();
        escape_into(user, &mut key);
        key
    }

    #[test]
    fn user_names_are_escaped_one_to_one() {
        assert_eq!(escaped("ada.l-ove_1"), "ada.l-ove_1");
        assert_eq!(escaped("a:b c"), "a%3Ab%20c");
        assert_eq!(escaped("a%3Ab"), "a%253Ab");
        assert_eq!(escaped("ü{x}*"), "%C3%BC%7Bx%7D%2A");
        assert_eq!(escaped(""), "");
    }

    #[test]
    fn deadlines_are_whole_milliseconds() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_999_999).unwrap();
        assert_eq!(unix_ms(at), 1_700_000_000_123);
        let before = OffsetDateTime::from_unix_timestamp_nanos(-1).unwrap();
        assert_eq!(unix_ms(before), -1);
    }
}
