//! Where the Python profiles keep a session's [`Meta`]: the user under the framework's own key,
//! the rest under `_tessera` in the session dict.
//!
//! The user stays in the dict (Django's `_auth_user_id`, Flask-Login's `_user_id`): Python
//! apps and Rust handlers read it there, and [`Meta::user`] is a view of it. `_tessera`
//! (`{"c": created, "s": seen, "a": user agent, "i": client}`, Unix seconds) is tessera's
//! own: it leaves the dict when a record is read and returns when it is written, so handlers
//! never see it, and a Python app that saves the session carries it along untouched.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::Profile;
use crate::record::{Data, Meta};

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

/// The metadata in a Python session dict: `_tessera` is taken out of `data`; the user is read
/// from the framework's key and left in place. A `_tessera` that is not tessera's shape stays
/// in the dict as data.
pub(crate) fn take(profile: Profile, data: &mut Data) -> Meta {
    let mut meta = Meta::default();
    if let Some(key) = profile.user_key() {
        meta.user = data.get(key).and_then(user_of);
    }
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

/// Puts `meta` back into a Python session dict: `_tessera` when anything but the user is set,
/// and the user under the framework's key if the dict lacks it.
pub(crate) fn put(profile: Profile, meta: &Meta, data: &mut Data) {
    if let (Some(key), Some(user)) = (profile.user_key(), &meta.user) {
        data.entry(key.to_owned())
            .or_insert_with(|| Value::String(user.clone()));
    }
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

/// A user id as the frameworks store it: a string (Django's `pk.value_to_string`, Flask-Login's
/// `str(get_id())`), or a number some apps put there.
fn user_of(v: &Value) -> Option<String> {
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
            user: Some("42".into()),
            created: Some(datetime!(2030-01-01 0:00 UTC)),
            seen: Some(datetime!(2030-01-02 0:00 UTC)),
            agent: Some("curl".into()),
            client: None,
        };
        let mut dict = data(json!({"cart": 1}));
        put(Profile::Django, &meta, &mut dict);
        assert_eq!(
            Value::Object(dict.clone().into_iter().collect()),
            json!({"cart": 1, "_auth_user_id": "42", "_tessera": {"c": 1893456000, "s": 1893542400, "a": "curl"}})
        );
        let back = take(Profile::Django, &mut dict);
        assert_eq!(back, meta);
        assert_eq!(
            Value::Object(dict.into_iter().collect()),
            json!({"cart": 1, "_auth_user_id": "42"}),
            "the user stays where Django reads it; _tessera leaves the data"
        );
    }

    #[test]
    fn a_dict_without_metadata_is_left_alone() {
        let mut dict = data(json!({"_user_id": 7, "_tessera": "not ours"}));
        let meta = take(Profile::FlaskSession, &mut dict);
        assert_eq!(meta.user.as_deref(), Some("7"));
        assert_eq!(dict.len(), 2, "a foreign _tessera stays data");
        let mut empty = Data::new();
        put(Profile::Flask, &Meta::default(), &mut empty);
        assert!(empty.is_empty(), "empty metadata writes nothing");
    }
}
