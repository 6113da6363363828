//! What a store keeps for one session: the data, the session's expiry choice and its deadline.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::expiry::Expiry;

/// Session data: string keys, JSON values, kept sorted (as Flask serialises them).
pub type Data = BTreeMap<String, serde_json::Value>;

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
}

/// A record could not be decoded: the store holds something that is not a session.
#[derive(Debug, thiserror::Error)]
#[error("the stored session record is not valid")]
pub struct DecodeError(#[from] serde_json::Error);

#[derive(Serialize)]
struct WireOut<'a> {
    d: &'a Data,
    #[serde(skip_serializing_if = "is_default")]
    e: Expiry,
    #[serde(with = "time::serde::timestamp")]
    x: OffsetDateTime,
}

#[derive(Deserialize)]
struct WireIn {
    d: Data,
    #[serde(default)]
    e: Expiry,
    #[serde(with = "time::serde::timestamp")]
    x: OffsetDateTime,
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
        }
    }

    /// Whether the record has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }

    /// tessera's native encoding: compact JSON `{"d": data, "e": expiry, "x": unix seconds}`.
    ///
    /// ```
    /// use tessera::{Expiry, Record};
    /// use time::macros::datetime;
    ///
    /// let mut data = tessera::Data::new();
    /// data.insert("user".into(), "ada".into());
    /// let record = Record::new(data, Expiry::Default, datetime!(2030-01-01 0:00 UTC));
    /// let bytes = record.encode();
    /// assert_eq!(bytes, br#"{"d":{"user":"ada"},"x":1893456000}"#);
    /// assert_eq!(Record::decode(&bytes).unwrap(), record);
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let wire = WireOut {
            d: &self.data,
            e: self.expiry,
            x: self.expires_at,
        };
        // Serialising string-keyed maps of JSON values into a Vec cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    /// Decodes [`Record::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let wire: WireIn = serde_json::from_slice(bytes)?;
        Ok(Self::new(wire.d, wire.e, wire.x))
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
        }
    }

    #[test]
    fn garbage_is_a_decode_error() {
        for bad in [&b""[..], b"null", b"{\"d\":1}", b"\xff\xfe", b"{\"d\":{}}"] {
            assert!(Record::decode(bad).is_err());
        }
    }
}
