//! What a store keeps for one session: the data, the session's expiry choice and its deadline.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::expiry::Expiry;

pub mod data;

pub use data::Data;

/// One session as a store keeps it.
///
/// The data sits behind an [`Arc`] so an in-process store and the session handle share it
/// until the handler writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The session's data.
    pub data: Arc<Data>,
    /// The session's own expiry choice.
    pub expiry: Expiry,
    /// When the store may forget the record.
    pub expires_at: OffsetDateTime,
    /// Who the session belongs to and when it began: what per-user indexes and the absolute
    /// timeout read. Empty for a session nobody logged into, unless a timeout needs `created`.
    pub meta: Meta,
}

/// A session's metadata beside its data: its user, when it began and was last seen, and from
/// which device.
///
/// tessera's own formats keep it in the record (`u`, `c`, `s`, `a`, `i`); the Python profiles
/// keep the user under the framework's own key (Django's `_auth_user_id`, Flask-Login's
/// `_user_id`) and, when a setting needs them, the rest under `_tessera` in the session dict,
/// so Python apps carry it along.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Meta {
    /// The principal the session belongs to ([`Session::set_user`](crate::Session::set_user)),
    /// in tessera's own profile; the Python profiles keep it in the data instead (read either
    /// with [`Record::user_of`]).
    pub user: Option<String>,
    /// When the session began: its first save, or the last
    /// [`cycle_id`](crate::Session::cycle_id). The absolute timeout counts from it.
    pub created: Option<OffsetDateTime>,
    /// When a logged-in session was last saved or touched, to the minute.
    pub seen: Option<OffsetDateTime>,
    /// The `User-Agent` of the request that last saved it (when device recording is on).
    pub agent: Option<String>,
    /// The client address of the request that last saved it (when device recording is on).
    pub client: Option<String>,
}

impl Meta {
    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

mod binary;

pub use binary::BINARY_V1;

/// A record could not be decoded: the store holds something that is not a session.
#[derive(Debug, thiserror::Error)]
#[error("the stored session record is not valid")]
pub struct DecodeError(#[source] Cause);

/// Why a record did not decode; kept private so the formats' error types stay out of the API.
#[derive(Debug, thiserror::Error)]
enum Cause {
    #[error(transparent)]
    Json(serde_json::Error),
    #[error(transparent)]
    Binary(rmp_serde::decode::Error),
    #[error("bytes follow the binary record")]
    Trailing,
    #[error("the record starts with neither `{{` (JSON) nor a known version byte")]
    UnknownFormat,
}

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> Self {
        Self(Cause::Json(e))
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    d: &'a Data,
    #[serde(skip_serializing_if = "is_default")]
    e: Expiry,
    #[serde(with = "time::serde::timestamp")]
    x: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    u: Option<&'a str>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::timestamp::option"
    )]
    c: Option<OffsetDateTime>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::timestamp::option"
    )]
    s: Option<OffsetDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    i: Option<&'a str>,
}

#[derive(Deserialize)]
struct WireIn {
    d: Data,
    #[serde(default)]
    e: Expiry,
    #[serde(with = "time::serde::timestamp")]
    x: OffsetDateTime,
    #[serde(default)]
    u: Option<String>,
    #[serde(default, with = "time::serde::timestamp::option")]
    c: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::timestamp::option")]
    s: Option<OffsetDateTime>,
    #[serde(default)]
    a: Option<String>,
    #[serde(default)]
    i: Option<String>,
}

fn is_default(e: &Expiry) -> bool {
    *e == Expiry::Default
}

impl Record {
    /// A record holding `data`.
    pub fn new(data: Data, expiry: Expiry, expires_at: OffsetDateTime) -> Self {
        Self {
            data: Arc::new(data),
            expiry,
            expires_at,
            meta: Meta::default(),
        }
    }

    /// The record with `meta`.
    #[must_use]
    pub fn with_meta(mut self, meta: Meta) -> Self {
        self.meta = meta;
        self
    }

    /// Whether the record has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }

    /// tessera's native encoding, what server-side stores keep: the version byte
    /// [`BINARY_V1`] followed by MessagePack of the same fields as
    /// [`encode_json`](Self::encode_json) (a map keyed `d`, `e`, `x`, and the [`Meta`] fields
    /// that are set). Smaller and cheaper to read than JSON for large sessions; the JSON values
    /// keep their exact types (an integral float stays a float).
    ///
    /// ```
    /// use tessera::{Expiry, Record};
    /// use time::macros::datetime;
    ///
    /// let mut data = tessera::Data::new();
    /// data.insert("user".into(), "ada".into());
    /// let record = Record::new(data, Expiry::Default, datetime!(2030-01-01 0:00 UTC));
    /// let bytes = record.encode();
    /// assert_eq!(bytes[0], tessera::record::BINARY_V1);
    /// assert_eq!(Record::decode(&bytes).unwrap(), record);
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        binary::encode(&self.wire()).unwrap_or_else(|| self.encode_json())
    }

    /// The record as compact JSON `{"d": data, "e": expiry, "x": unix seconds}`, with the
    /// [`Meta`] fields that are set: `u` user, `c` created, `s` seen (unix seconds), `a` user
    /// agent, `i` client address. tessera's signed cookie sessions carry this form; operator tools
    /// show and export it; [`Record::decode`] reads it, as every tessera version wrote it
    /// before the binary form.
    ///
    /// ```
    /// use tessera::{Expiry, Record};
    /// use time::macros::datetime;
    ///
    /// let mut data = tessera::Data::new();
    /// data.insert("user".into(), "ada".into());
    /// let record = Record::new(data, Expiry::Default, datetime!(2030-01-01 0:00 UTC));
    /// let bytes = record.encode_json();
    /// assert_eq!(bytes, br#"{"d":{"user":"ada"},"x":1893456000}"#);
    /// assert_eq!(Record::decode(&bytes).unwrap(), record);
    /// ```
    pub fn encode_json(&self) -> Vec<u8> {
        // Serialising string-keyed maps of JSON values into a Vec cannot fail.
        serde_json::to_vec(&self.wire()).unwrap_or_default()
    }

    fn wire(&self) -> WireOut<'_> {
        WireOut {
            d: &self.data,
            e: self.expiry,
            x: self.expires_at,
            u: self.meta.user.as_deref(),
            c: self.meta.created,
            s: self.meta.seen,
            a: self.meta.agent.as_deref(),
            i: self.meta.client.as_deref(),
        }
    }

    /// Decodes either form, by its first byte: `{` is [`encode_json`](Self::encode_json)'s
    /// JSON (records stored before the binary form keep loading), [`BINARY_V1`] is
    /// [`encode`](Self::encode)'s; anything else is an error. Nesting deeper than 128 arrays
    /// and maps is refused in both forms (serde_json's limit), so a hostile record cannot
    /// exhaust the stack.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire: WireIn = match bytes.split_first() {
            Some((b'{', _)) => serde_json::from_slice(bytes)?,
            Some((&BINARY_V1, rest)) => binary::decode(rest)?,
            _ => return Err(DecodeError(Cause::UnknownFormat)),
        };
        let meta = Meta {
            user: wire.u,
            created: wire.c,
            seen: wire.s,
            agent: wire.a,
            client: wire.i,
        };
        Ok(Self::new(wire.d, wire.e, wire.x).with_meta(meta))
    }
}

/// The token of a conditional write: which stored version a session was loaded from.
///
/// Stores number versions from 1 and bump them on every write; memcached uses its CAS value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(u64);

impl Version {
    /// The version of a newly created record.
    pub const FIRST: Self = Self(1);

    /// A version from its stored number.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The stored number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The version after a write.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn floats_read_back_exactly() {
        // Found by the record_native fuzz target: serde_json's default float parsing is not
        // correctly rounded, so `1e-25` (as Python and ryu write it) read back as
        // 9.999999999999999e-26 and a decoded record did not survive its own encoding.
        let bytes = br#"{"d":{"h":1e-25,"i":-0.0,"j":123456.789,"k":5e-324},"x":1700003600}"#;
        let record = Record::decode(bytes).unwrap();
        assert_eq!(record.data["h"].as_f64(), Some(1e-25));
        assert_eq!(record.data["k"].as_f64(), Some(5e-324));
        assert_eq!(Record::decode(&record.encode()).unwrap(), record);
        assert_eq!(Record::decode(&record.encode_json()).unwrap(), record);
    }

    #[test]
    fn encode_round_trips_every_expiry() {
        let mut data = Data::new();
        data.insert("n".into(), 3.into());
        data.insert("nested".into(), serde_json::json!({"a": [1, 2, null]}));
        for expiry in [
            Expiry::Default,
            Expiry::BrowserClose,
            Expiry::Age(Duration::seconds(5)),
            Expiry::At(datetime!(2031-01-01 0:00 UTC)),
        ] {
            let r = Record::new(data.clone(), expiry, datetime!(2030-01-01 0:00 UTC));
            assert_eq!(Record::decode(&r.encode()).unwrap(), r);
            assert_eq!(Record::decode(&r.encode_json()).unwrap(), r);
        }
    }

    #[test]
    fn meta_round_trips_and_is_absent_when_empty() {
        let at = datetime!(2030-01-01 0:00 UTC);
        let plain = Record::new(Data::new(), Expiry::Default, at);
        assert_eq!(plain.encode_json(), br#"{"d":{},"x":1893456000}"#);
        let meta = Meta {
            user: Some("42".into()),
            created: Some(at - Duration::hours(2)),
            seen: Some(at - Duration::minutes(1)),
            agent: Some("Firefox".into()),
            client: Some("192.0.2.7".into()),
        };
        let r = plain.with_meta(meta);
        assert_eq!(
            r.encode_json(),
            br#"{"d":{},"x":1893456000,"u":"42","c":1893448800,"s":1893455940,"a":"Firefox","i":"192.0.2.7"}"#
        );
        assert_eq!(Record::decode(&r.encode()).unwrap(), r);
        assert_eq!(Record::decode(&r.encode_json()).unwrap(), r);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        for bad in [
            &b""[..],
            b"null",
            b"{\"d\":1}",
            b"\xff\xfe",
            b"{\"d\":{}}",
            b" {\"d\":{},\"x\":1}",
        ] {
            assert!(Record::decode(bad).is_err());
        }
    }
}
