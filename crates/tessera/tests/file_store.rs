//! The conformance suite against [`FileStore`], in a scratch directory.
#![cfg(all(feature = "file", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use support::ScratchDir;
use tessera::clock::ManualClock;
use tessera::conformance::{Harness, StoreUrl};
use tessera::store::file::FileStore;
use tessera::store::{Expected, OpenOptions, SessionStore};
use tessera::{Expiry, Record, SessionId};
use time::Duration;

async fn harness() -> Option<Harness> {
    let dir = Arc::new(ScratchDir::new("file"));
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let options = OpenOptions::default().with_clock(Arc::new(clock.clone()));
    // No threshold: the listing cases write more sessions (600) than the default keeps (500).
    let unbounded = format!("{}?threshold=0", dir.url());
    let store = FileStore::open(&unbounded, &options).await.unwrap();
    let peer = FileStore::open(&unbounded, &options).await.unwrap();
    let planter = store.clone();
    let url = StoreUrl::new(format!("{}?threshold=777", dir.url()))
        .with_options(options)
        .shown_as("threshold: 777");
    // The directory lives as long as the stores (removed by the cleanup when they drop).
    let cleanup = support::Cleanup::keeping(|_| {}, Some(Box::new(dir)));
    let harness = support::Tracked::harness(store, peer, &cleanup);
    Some(
        harness
            .with_clock(clock)
            .with_url(url)
            .with_corrupter(move |id: SessionId| {
                let path = planter.path_of(&id);
                async move { std::fs::write(path, b"\xff\xfenot a session").unwrap() }
            }),
    )
}

tessera::conformance_suite!(harness);

fn record(expires_at: time::OffsetDateTime) -> Record {
    let mut data = tessera::Data::new();
    data.insert("a".into(), 1.into());
    Record::new(data, Expiry::Default, expires_at)
}

#[tokio::test]
async fn threshold_removes_expired_then_oldest() {
    let dir = ScratchDir::new("threshold");
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let store = FileStore::open(
        &format!("{}?threshold=4", dir.url()),
        &OpenOptions::default(),
    )
    .await
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    let now = tessera::clock::Clock::now(&clock);
    let short = SessionId::generate().unwrap();
    let _ = store
        .save(
            &short,
            &record(now + Duration::seconds(5)),
            Expected::Absent,
        )
        .await
        .unwrap();
    let mut live = Vec::new();
    for _ in 0..3 {
        let id = SessionId::generate().unwrap();
        let _ = store
            .save(&id, &record(now + Duration::hours(1)), Expected::Absent)
            .await
            .unwrap();
        live.push(id);
        // Distinct modification times order the files.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    clock.advance(Duration::seconds(10));
    // Full (4 files): the expired one goes first, the live ones stay.
    let fifth = SessionId::generate().unwrap();
    let _ = store
        .save(&fifth, &record(now + Duration::hours(1)), Expected::Absent)
        .await
        .unwrap();
    for id in &live {
        assert!(store.load(id).await.unwrap().is_some());
    }
    // Full again, nothing expired: the oldest goes.
    let sixth = SessionId::generate().unwrap();
    let _ = store
        .save(&sixth, &record(now + Duration::hours(1)), Expected::Absent)
        .await
        .unwrap();
    assert!(
        store.load(&live[0]).await.unwrap().is_none(),
        "the oldest session was kept"
    );
    for id in live[1..].iter().chain([&fifth, &sixth]) {
        assert!(store.load(id).await.unwrap().is_some());
    }
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_str()
                    .unwrap()
                    .ends_with(".session")
            })
            .count(),
        4
    );
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = ScratchDir::new("modes");
    let store = FileStore::open(&dir.url(), &OpenOptions::default())
        .await
        .unwrap();
    let id = SessionId::generate().unwrap();
    let _ = store
        .save(
            &id,
            &record(time::OffsetDateTime::now_utc() + Duration::hours(1)),
            Expected::Absent,
        )
        .await
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&store.path_of(&id)), 0o600);
    assert!(!store.path_of(&id).to_str().unwrap().contains(id.expose()));
}

#[tokio::test]
async fn clear_expired_works_in_batches() {
    let dir = ScratchDir::new("batches");
    let clock = ManualClock::new(time::macros::datetime!(2030-01-01 0:00 UTC));
    let store = FileStore::open(
        &format!("{}?threshold=0", dir.url()),
        &OpenOptions::default(),
    )
    .await
    .unwrap()
    .with_clock(Arc::new(clock.clone()));
    let now = tessera::clock::Clock::now(&clock);
    for i in 0..600 {
        let expires = if i % 3 == 0 {
            now + Duration::hours(1)
        } else {
            now + Duration::seconds(1)
        };
        let _ = store
            .save(
                &SessionId::generate().unwrap(),
                &record(expires),
                Expected::Absent,
            )
            .await
            .unwrap();
    }
    clock.advance(Duration::seconds(5));
    assert_eq!(store.clear_expired().await.unwrap(), 400);
    assert_eq!(store.clear_expired().await.unwrap(), 0);
}

/// A process holding the directory's lock forever makes writes fail within the store's
/// timeout, and a write that timed out never lands afterwards.
#[tokio::test]
async fn a_held_lock_times_out_and_never_writes_late() {
    let dir = ScratchDir::new("file");
    let options = OpenOptions::default().with_timeout(std::time::Duration::from_millis(300));
    let store = FileStore::open(&dir.url(), &options).await.unwrap();
    let at = time::OffsetDateTime::now_utc() + Duration::hours(1);
    let (a, b) = (
        SessionId::generate().unwrap(),
        SessionId::generate().unwrap(),
    );
    let record = Record::new(Default::default(), Expiry::Default, at);
    let _ = store.save(&a, &record, Expected::Absent).await.unwrap();
    let lock = std::fs::File::options()
        .write(true)
        .open(dir.path().join(".tessera.lock"))
        .unwrap();
    lock.lock().unwrap();
    let started = std::time::Instant::now();
    let saved = store.save(&b, &record, Expected::Absent).await;
    assert!(
        matches!(
            saved,
            Err(tessera::store::Error::Timeout { op: "save", .. })
        ),
        "{saved:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(matches!(
        store.delete(&a).await,
        Err(tessera::store::Error::Timeout { .. })
    ));
    drop(lock);
    // Long enough for a stranded thread that got the lock to have written.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(!store.path_of(&b).exists(), "the timed-out save gave up");
    assert!(store.path_of(&a).exists(), "the timed-out delete gave up");
    let _ = store.save(&b, &record, Expected::Absent).await.unwrap();
}

/// A listing holds this store's sessions only: not another prefix's sharing the directory,
/// not a temporary, not a file written before the header held the id, and never an error.
#[tokio::test]
async fn listing_skips_what_is_not_this_stores_session() {
    let dir = ScratchDir::new("file");
    let ours = FileStore::open(&dir.url(), &OpenOptions::default().with_key_prefix("ours:"))
        .await
        .unwrap();
    let theirs = FileStore::open(
        &dir.url(),
        &OpenOptions::default().with_key_prefix("theirs:"),
    )
    .await
    .unwrap();
    let at = time::OffsetDateTime::now_utc() + Duration::hours(1);
    let (mine, other, old) = (
        SessionId::generate().unwrap(),
        SessionId::generate().unwrap(),
        SessionId::generate().unwrap(),
    );
    let _ = ours
        .save(&mine, &record(at), Expected::Absent)
        .await
        .unwrap();
    let _ = theirs
        .save(&other, &record(at), Expected::Absent)
        .await
        .unwrap();
    // The header before it held the deadline and id (and the JSON record of then): loads,
    // but cannot be listed.
    let mut content = b"3\n".to_vec();
    content.extend(record(at).encode_json());
    std::fs::write(ours.path_of(&old), content).unwrap();
    std::fs::write(dir.path().join(".tmp-x.session-0"), b"1 0 abc\n{}").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"1 0 abc\n{}").unwrap();
    assert!(ours.load(&old).await.unwrap().is_some());

    let mut listing = ours.list();
    let mut listed = Vec::new();
    while let Some(item) = tessera::store::listing::next(&mut listing).await {
        listed.push(item.unwrap());
    }
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, mine);
    assert_eq!(
        listed[0].expires_at,
        Some(at.replace_nanosecond(0).unwrap())
    );
    let size = std::fs::metadata(ours.path_of(&mine)).unwrap().len();
    assert_eq!(listed[0].size, size, "the file's length");
    // What the store wrote is the binary record after the header.
    let written = std::fs::read(ours.path_of(&mine)).unwrap();
    let newline = written.iter().position(|b| *b == b'\n').unwrap();
    assert_eq!(written[newline + 1], tessera::record::BINARY_V1);
    let stored = Record::decode(&written[newline + 1..]).unwrap();
    assert_eq!(stored.data, record(at).data);
}

/// Every file under `dir`, depth first.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn user_names_never_steer_the_index_path() {
    let root = ScratchDir::new("user-paths");
    let sessions = root.0.join("sessions");
    std::fs::create_dir_all(&sessions).unwrap();
    let url = url::Url::from_file_path(&sessions).unwrap().to_string();
    let store = FileStore::open(&url, &OpenOptions::default())
        .await
        .unwrap();
    let index = store.user_index().unwrap();
    let id = SessionId::generate().unwrap();
    let until = time::OffsetDateTime::now_utc() + Duration::hours(1);
    for user in ["../../etc/passwd", "/etc/passwd", "..", "a\0b", "ü/ü"] {
        index.enter(user, &id, until).await.unwrap();
        assert_eq!(
            index.entries(user).await.unwrap(),
            vec![id.clone()],
            "{user:?}"
        );
    }
    let index_dir = sessions.join(".tessera-users.__wz_cache");
    let hex = |name: &std::ffi::OsStr| {
        let name = name.to_str().unwrap();
        name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let mut entries = 0;
    for file in files_under(&root.0) {
        if file.file_name().unwrap() == ".lock" {
            assert_eq!(file.parent(), Some(index_dir.as_path()));
            continue;
        }
        // <index>/<hash of the user>/<hash of the id>: nothing else, nowhere else.
        let user_dir = file.parent().unwrap();
        assert_eq!(user_dir.parent(), Some(index_dir.as_path()), "{file:?}");
        assert!(hex(user_dir.file_name().unwrap()) && hex(file.file_name().unwrap()));
        entries += 1;
    }
    assert_eq!(entries, 5);
    // The raw name is inside, for an operator, never in a path.
    let all = files_under(&index_dir);
    assert!(all.iter().any(|f| std::fs::read_to_string(f)
        .unwrap()
        .ends_with("\n../../etc/passwd")));
    // The session walks do not take the index for sessions.
    assert!(store.clear_expired().await.is_ok());
    let mut listing = store.list();
    assert!(tessera::store::listing::next(&mut listing).await.is_none());
}
