//! The conformance suite against Django's `file` engine layout, in a scratch directory, plus
//! the files' exact names and content.
#![cfg(all(feature = "file", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use support::ScratchDir;
use tessera::clock::ManualClock;
use tessera::conformance::Harness;
use tessera::crypto::{KeyRing, SecretKey};
use tessera::interop::django;
use tessera::store::django_file::DjangoFileStore;
use tessera::store::{Error, Expected, OpenOptions, Saved, SessionStore};
use tessera::{Expiry, ExpiryPolicy, Profile, Record};
use time::Duration;

const KEY: &str = "django-file-store-test-secret-key-0123456789";

fn keys() -> KeyRing {
    KeyRing::new(SecretKey::new(KEY).unwrap())
}

fn options(clock: &ManualClock) -> OpenOptions {
    OpenOptions::default()
        .with_profile(
            Profile::Django,
            ExpiryPolicy::new(Duration::seconds(1_209_600), true),
        )
        .with_keys(keys())
        .with_cookie_name("sessionid")
        .with_clock(Arc::new(clock.clone()))
}

async fn harness() -> Option<Harness> {
    let clock = ManualClock::starting_now();
    let dir = Arc::new(ScratchDir::new("tessera-django-file"));
    let store = DjangoFileStore::open(&dir.url(), &options(&clock))
        .await
        .unwrap();
    let peer = DjangoFileStore::open(&dir.url(), &options(&clock))
        .await
        .unwrap();
    let planter = store.clone();
    let harness = Harness::new(Arc::new(store), Arc::new(peer)).with_clock(clock);
    Some(harness.with_corrupter(move |id: tessera::SessionId| {
        let (path, _dir) = (planter.path_of(&id).unwrap(), dir.clone());
        async move { std::fs::write(path, "not:signed:by-this-key").unwrap() }
    }))
}

tessera::conformance_suite!(harness);

#[tokio::test]
async fn files_are_djangos_format() {
    let clock = ManualClock::starting_now();
    let dir = ScratchDir::new("tessera-django-file");
    let store = DjangoFileStore::open(&dir.url(), &options(&clock))
        .await
        .unwrap();
    let now = tessera::clock::Clock::now(&clock)
        .replace_nanosecond(0)
        .unwrap();
    let id = Profile::Django.generate_id().unwrap();
    let mut data = tessera::Data::new();
    data.insert("_auth_user_id".into(), "7".into());
    let record = Record::new(data, Expiry::Default, now + Duration::seconds(1_209_600));
    let Saved::Written(_) = store.save(&id, &record, Expected::Absent).await.unwrap() else {
        panic!("not written")
    };
    let path = dir.path().join(format!("sessionid{}", id.expose()));
    assert_eq!(store.path_of(&id), Some(path.clone()));
    let content = std::fs::read_to_string(&path).unwrap();
    let decoded = django::decode_session_data(&keys(), &content, record.expires_at).unwrap();
    assert_eq!(decoded.data, record.data);
    assert!(!content.contains('\n'));
    // Django's deadline: the mtime plus SESSION_COOKIE_AGE.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mtime = time::OffsetDateTime::from(mtime)
        .replace_nanosecond(0)
        .unwrap();
    assert_eq!(mtime + Duration::seconds(1_209_600), record.expires_at);
    // Nothing else is left in the directory (no temporary file).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // Keys Django would not make never become paths.
    for bad in ["short", "has_underscore1", "UPPERCASEKEY"] {
        let id = tessera::SessionId::parse(bad).unwrap();
        assert_eq!(store.path_of(&id), None);
        assert!(matches!(
            store.save(&id, &record, Expected::Absent).await,
            Err(Error::RefusedId { .. })
        ));
    }
}

/// A process holding a session file's lock forever makes writes to it fail within the store's
/// timeout, and a write that timed out never lands afterwards.
#[tokio::test]
async fn a_held_lock_times_out_and_never_writes_late() {
    let clock = ManualClock::starting_now();
    let dir = ScratchDir::new("tessera-django-file");
    let options = options(&clock).with_timeout(std::time::Duration::from_millis(300));
    let store = DjangoFileStore::open(&dir.url(), &options).await.unwrap();
    let id = Profile::Django.generate_id().unwrap();
    let at = tessera::clock::Clock::now(&clock) + Duration::hours(1);
    let mut data = tessera::Data::new();
    data.insert("n".into(), 1.into());
    let first = Record::new(data.clone(), Expiry::Default, at);
    let Saved::Written(v) = store.save(&id, &first, Expected::Absent).await.unwrap() else {
        panic!("not written");
    };
    let path = store.path_of(&id).unwrap();
    let before = std::fs::read(&path).unwrap();
    let lock = std::fs::File::open(&path).unwrap();
    lock.lock().unwrap();
    data.insert("n".into(), 2.into());
    let second = Record::new(data, Expiry::Default, at);
    let started = std::time::Instant::now();
    let saved = store.save(&id, &second, Expected::Version(v)).await;
    assert!(
        matches!(saved, Err(Error::Timeout { op: "save", .. })),
        "{saved:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    drop(lock);
    // Long enough for a stranded thread that got the lock to have written.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the timed-out save gave up"
    );
    assert_eq!(
        store
            .save(&id, &second, Expected::Version(v))
            .await
            .unwrap(),
        store
            .load(&id)
            .await
            .unwrap()
            .map(|l| Saved::Written(l.version))
            .unwrap()
    );
}
