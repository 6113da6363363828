//! Cases for what only some stores have: a URL to open them by, a migration, records another
//! framework writes beside tessera. Each does nothing when the harness lacks what it needs.

use serde_json::json;
use time::Duration;

use super::cases::{advance, id, live, now, record, written};
use super::{ForeignWriter, Harness};
use crate::store::{Error, Expected, Saved};
use crate::{Expiry, Profile};

/// The store [`open`](crate::store::open) gives for the harness's URL keeps its sessions
/// where the harness's store does, shows the URL's parameters, and URLs with bad parameters
/// are refused.
///
/// Needs [`Harness::url`].
pub async fn opens_by_url_with_its_parameters(h: Harness) {
    let Some(url) = &h.url else { return };
    let store = crate::store::open(&url.url, &url.options)
        .await
        .expect("the store opens by the harness's URL");
    let id = id(&h);
    assert!(matches!(
        store.save(&id, &live(&h), Expected::Absent).await,
        Ok(Saved::Written(_))
    ));
    if let Some(shown) = &url.shown {
        let debug = format!("{store:?}");
        assert!(
            debug.contains(shown.as_str()),
            "{debug} does not show {shown}"
        );
    }
    assert!(
        h.store.exists(&id).await.unwrap(),
        "the URL opens the harness's sessions"
    );
    for bad in &url.refused {
        let refused = crate::store::open(bad, &url.options).await;
        assert!(matches!(refused, Err(Error::BadUrl { .. })), "{refused:?}");
    }
}

/// The migration runs again and again, and keeps what is stored.
///
/// Needs [`Harness::migrate`].
pub async fn migrate_twice_in_a_row(h: Harness) {
    let Some(migrate) = &h.migrate else { return };
    migrate().await.unwrap();
    migrate().await.unwrap();
    let id = id(&h);
    let saved = h.store.save(&id, &live(&h), Expected::Absent).await;
    assert!(matches!(saved, Ok(Saved::Written(_))), "{saved:?}");
    migrate().await.unwrap();
    assert!(
        h.store.exists(&id).await.unwrap(),
        "migrating keeps the rows"
    );
}

/// msgpack of `{"_permanent": True, "user": "bob"}`, as Flask-Session 0.8 writes it.
const PYTHON_BOB: &[u8] = b"\x82\xaa_permanent\xc3\xa4user\xa3bob";
/// msgpack of `{"user": "carol"}`.
const PYTHON_CAROL: &[u8] = b"\x81\xa4user\xa5carol";
/// `pickle.dumps({"user": "ada"}, protocol=4)`, as Flask-Session before 0.7 stored sessions.
const PICKLED_ADA: &[u8] =
    b"\x80\x04\x95\x13\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04user\x94\x8c\x03ada\x94s.";
/// `pickle.dumps({"_permanent": True, "user": "bob"}, 5)`, as cachelib writes it.
const PICKLED_BOB_FLASK: &[u8] = b"\x80\x05\x95 \x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\n_permanent\x94\x88\x8c\x04user\x94\x8c\x03bob\x94u.";
/// `pickle.dumps({"user": "bob"}, 5)`, as Django's cache engines write it.
const PICKLED_BOB: &[u8] =
    b"\x80\x05\x95\x11\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04user\x94\x8c\x03bob\x94s.";
/// `pickle.dumps({"user": "carol"}, 5)`.
const PICKLED_CAROL: &[u8] =
    b"\x80\x05\x95\x13\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x04user\x94\x8c\x05carol\x94s.";
/// `pickle.dumps({"user": "ada", "at": datetime.datetime(2030, 1, 1)}, 5)`: not plain data.
const PICKLED_DATETIME: &[u8] = b"\x80\x05\x95@\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x04user\x94\x8c\x03ada\x94\x8c\x02at\x94\x8c\x08datetime\x94\x8c\x08datetime\x94\x93\x94C\n\x07\xee\x01\x01\x00\x00\x00\x00\x00\x00\x94\x85\x94R\x94u.";

/// The harness's foreign writer, if it has one; the suite knows Flask-Session's msgpack and
/// the pickled dicts of Flask-Session's `filesystem` backend and Django's cache engines.
fn foreign(h: &Harness) -> Option<&ForeignWriter> {
    let write = h.foreign.as_ref()?;
    let profile = h.store.profile();
    assert!(
        profile == Profile::FlaskSession || (h.foreign_pickles && profile == Profile::Django),
        "the foreign-record cases write Flask-Session's records, or pickled Django ones"
    );
    Some(write)
}

/// `{"_permanent": True, "user": "bob"}` for Flask-Session, `{"user": "bob"}` for Django: a
/// session at the default expiry, as the foreign framework writes it.
fn bob(h: &Harness) -> &'static [u8] {
    match (h.foreign_pickles, h.store.profile()) {
        (false, _) => PYTHON_BOB,
        (true, Profile::FlaskSession) => PICKLED_BOB_FLASK,
        (true, _) => PICKLED_BOB,
    }
}

fn carol(h: &Harness) -> &'static [u8] {
    if h.foreign_pickles {
        PICKLED_CAROL
    } else {
        PYTHON_CAROL
    }
}

/// A record Flask-Session wrote loads, with its deadline to the second; once expired it is
/// never returned, though still stored, and `clear_expired` removes it.
///
/// Needs [`Harness::foreign`]; the expiry half needs a clock.
pub async fn records_python_wrote_are_read_and_expired_ones_ignored(h: Harness) {
    let Some(write) = foreign(&h) else { return };
    let now = now(&h);
    let id = id(&h);
    // Python's deadlines carry microseconds.
    let deadline = now + Duration::minutes(10) + Duration::microseconds(123_456);
    write(id.clone(), bob(&h).to_vec(), deadline).await;
    let loaded = h
        .store
        .load(&id)
        .await
        .unwrap()
        .expect("the record Python wrote");
    assert_eq!(loaded.record.data.get("user"), Some(&json!("bob")));
    assert!(loaded.record.expiry == Expiry::Default);
    let off =
        loaded.record.expires_at.unix_timestamp() - (now + Duration::minutes(10)).unix_timestamp();
    // A server that expires records itself may count whole seconds on its own clock
    // (memcached's TTLs): a second either way; every other store keeps the second exactly.
    let slack = i64::from(h.server_expires);
    assert!(off.abs() <= slack, "the deadline is {off} s off");
    if h.clock.is_none() {
        return;
    }
    advance(&h, Duration::minutes(11));
    assert!(
        h.store.load(&id).await.unwrap().is_none(),
        "expired, though still stored"
    );
    if !h.server_expires {
        assert_eq!(h.store.clear_expired().await.unwrap(), 1);
    }
}

/// A session Flask-Session rewrote after tessera loaded it is a conflict for tessera's save,
/// and Python's write stays.
///
/// Needs [`Harness::foreign`].
pub async fn a_python_write_between_load_and_save_is_a_conflict(h: Harness) {
    let Some(write) = foreign(&h) else { return };
    let id = id(&h);
    let user = |name: &str| {
        record(
            json!({ "user": name }),
            Expiry::Default,
            now(&h) + Duration::hours(1),
        )
    };
    written(&h.store, &id, &user("ada"), Expected::Absent).await;
    let loaded = h.store.load(&id).await.unwrap().unwrap();
    write(id.clone(), carol(&h).to_vec(), loaded.record.expires_at).await;
    let saved = h
        .store
        .save(&id, &user("dave"), Expected::Version(loaded.version))
        .await
        .unwrap();
    assert_eq!(saved, Saved::Conflict);
    let now = h.store.load(&id).await.unwrap().unwrap();
    assert_eq!(now.record.data.get("user"), Some(&json!("carol")));
}

/// A pickle the store must not run is corrupt, with a reason saying why: where the framework
/// stores msgpack, any pickle (older Flask-Session's); where it pickles, one that is not plain
/// data (a `datetime`, which only a `GLOBAL` and a `REDUCE` can build).
///
/// Needs [`Harness::foreign`].
pub async fn pickled_records_are_refused_never_unpickled(h: Harness) {
    let Some(write) = foreign(&h) else { return };
    let id = id(&h);
    let (bytes, reason) = if h.foreign_pickles {
        (PICKLED_DATETIME, "STACK_GLOBAL")
    } else {
        (PICKLED_ADA, "pickle")
    };
    write(id.clone(), bytes.to_vec(), now(&h) + Duration::minutes(10)).await;
    let err = h.store.load(&id).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    let why = crate::chain::Chain(&err).to_string();
    assert!(why.contains(reason), "{why}");
}
