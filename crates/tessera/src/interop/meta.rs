//! Where the Python profiles keep a session's [`Meta`]: the user under the framework's own key,
//! the rest under `_tessera` in the session dict.
//!
//! The user stays in the dict (Django's `_auth_user_id`, Flask-Login's `_user_id`), where
//! Python apps and Rust handlers read it ([`Record::user_of`]); [`Meta::user`] is tessera's
//! own profile's place for it and stays `None` here. `_tessera`
//! (`{"c": created, "s": seen, "a": user agent, "i": client}`, Unix seconds) is tessera's
//! own: it leaves the dict when a record is read and returns when it is written, so handlers
//! never see it, and a Python app that saves the session carries it along untouched. The
//! middleware writes it only when a setting needs it (`SESSION_ABSOLUTE_TIMEOUT`,
//! `SESSION_RECORD_DEVICES`); otherwise the dict is exactly the framework's.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::Profile;
use crate::record::{Data, Meta, Record};

/// The session-dict key of tessera's metadata in the Python profiles.
pub const META_KEY: &str = "_tessera";

impl Profile {
    /// The session key under which the profile's framework keeps the logged-in user, if it
    /// has one: Django's `_auth_user_id`, Flask-Login's `_user_id`. tessera's
    /// [`Session::set_user`](crate::Session::set_user) writes it there too, so the Python app
    /// sees the user.
    ///
    /// ```
    /// use tessera::Profile;
    ///
    /// assert_eq!(Profile::Django.user_key(), Some("_auth_user_id"));
    /// assert_eq!(Profile::Native.user_key(), None);
    /// ```
    pub fn user_key(self) -> Option<&'static str> {
        match self {
            Self::Native => None,
            Self::Flask | Self::FlaskSession => Some("_user_id"),
            Self::Django => Some("_auth_user_id"),
        }
    }
}

/// The metadata in a Python session dict: `_tessera` is taken out of `data`. A `_tessera`
/// that is not tessera's shape stays in the dict as data.
pub(crate) fn take(data: &mut Data) -> Meta {
    let mut meta = Meta::default();
    let Some(Value::Object(fields)) = data.get(META_KEY) else {
        return meta;
    };
    let at = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_i64)
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
    };
    let text = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_owned);
    let known = fields
        .keys()
        .all(|k| matches!(k.as_str(), "c" | "s" | "a" | "i"));
    if !known {
        return meta;
    }
    meta.created = at("c");
    meta.seen = at("s");
    meta.agent = text("a");
    meta.client = text("i");
    data.remove(META_KEY);
    meta
}

/// Puts `meta` back into a Python session dict as `_tessera`, when anything is set.
pub(crate) fn put(meta: &Meta, data: &mut Data) {
    let mut fields = Map::new();
    let mut at = |k: &str, t: Option<OffsetDateTime>| {
        if let Some(t) = t {
            fields.insert(k.into(), Value::from(t.unix_timestamp()));
        }
    };
    at("c", meta.created);
    at("s", meta.seen);
    for (k, v) in [("a", &meta.agent), ("i", &meta.client)] {
        if let Some(v) = v {
            fields.insert(k.into(), Value::String(v.clone()));
        }
    }
    if !fields.is_empty() {
        data.insert(META_KEY.to_owned(), Value::Object(fields));
    }
}

impl Record {
    /// The user this record's session belongs to under `profile`: [`Meta::user`] in tessera's
    /// own profile, the framework's key in the session dict in the Python ones
    /// ([`Profile::user_key`]).
    pub fn user_of(&self, profile: Profile) -> Option<String> {
        match profile.user_key() {
            Some(key) => self.data.get(key).and_then(user_value),
            None => self.meta.user.clone(),
        }
    }
}

/// A user id as the frameworks store it: a string (Django's `pk.value_to_string`, Flask-Login's
/// `str(get_id())`), or a number some apps put there.
pub(crate) fn user_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn data(v: Value) -> Data {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn round_trips_through_the_dict() {
        let meta = Meta {
            user: None,
            created: Some(datetime!(2030-01-01 0:00 UTC)),
            seen: Some(datetime!(2030-01-02 0:00 UTC)),
            agent: Some("curl".into()),
            client: None,
        };
        let mut dict = data(json!({"cart": 1, "_auth_user_id": "42"}));
        put(&meta, &mut dict);
        assert_eq!(
            Value::Object(dict.clone().into_iter().collect()),
            json!({"cart": 1, "_auth_user_id": "42", "_tessera": {"c": 1893456000, "s": 1893542400, "a": "curl"}})
        );
        let back = take(&mut dict);
        assert_eq!(back, meta);
        assert_eq!(
            Value::Object(dict.clone().into_iter().collect()),
            json!({"cart": 1, "_auth_user_id": "42"}),
            "_tessera leaves the data"
        );
        let record = Record::new(dict, crate::Expiry::Default, datetime!(2030-01-01 0:00 UTC));
        assert_eq!(
            record.user_of(Profile::Django).as_deref(),
            Some("42"),
            "the user stays where Django reads it"
        );
        assert_eq!(record.user_of(Profile::Native), None);
    }

    #[test]
    fn a_dict_without_metadata_is_left_alone() {
        let mut dict = data(json!({"_user_id": 7, "_tessera": "not ours"}));
        assert_eq!(take(&mut dict), Meta::default());
        assert_eq!(dict.len(), 2, "a foreign _tessera stays data");
        let record = Record::new(dict, crate::Expiry::Default, datetime!(2030-01-01 0:00 UTC));
        assert_eq!(record.user_of(Profile::FlaskSession).as_deref(), Some("7"));
        let mut empty = Data::new();
        put(&Meta::default(), &mut empty);
        assert!(empty.is_empty(), "empty metadata writes nothing");
    }
}
