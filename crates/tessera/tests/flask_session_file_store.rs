//! The conformance suite against Flask-Session 0.8's `filesystem` layout (cachelib 0.17's
//! `FileSystemCache`) in a scratch directory, the files' exact names and bytes, and a
//! cross-check with the real cachelib through the interop virtualenv's Python.
#![cfg(all(feature = "file", feature = "conformance"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use support::ScratchDir;
use tessera::clock::{Clock as _, ManualClock};
use tessera::conformance::{server_or_skip, Harness, StoreUrl};
use tessera::store::flask_session_file::FlaskSessionFileStore;
use tessera::store::{Error, Expected, OpenOptions, Saved, SessionStore};
use tessera::{Expiry, ExpiryPolicy, Profile, Record, SessionId};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

/// cachelib's count file: `sha256("__wz_cache_count")`.
const COUNT_FILE: &str = "79bc207ee04a581ab2348ca1f3494e64cd0ec36128735b8c6bc85ddd8fe1938c";
/// The lock tessera's writers share.
const LOCK_FILE: &str = ".tessera-lock.__wz_cache";

fn options(clock: &ManualClock) -> OpenOptions {
    OpenOptions::default()
        .with_profile(Profile::FlaskSession, ExpiryPolicy::default())
        .with_clock(Arc::new(clock.clone()))
}

fn header(at: OffsetDateTime) -> [u8; 4] {
    u32::try_from(at.unix_timestamp()).unwrap().to_ne_bytes()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// cachelib's count file for a count below 256: a zero header, then `pickle.dumps(n, 5)`.
fn small_count(n: u8) -> Vec<u8> {
    vec![0, 0, 0, 0, 0x80, 5, b'K', n, b'.']
}

fn user(clock: &ManualClock, name: &str, lives: Duration) -> Record {
    let mut data = tessera::Data::new();
    data.insert("user".into(), name.into());
    Record::new(data, Expiry::Default, clock.now() + lives)
}

fn id(text: &str) -> SessionId {
    SessionId::parse(text).unwrap()
}

/// The names in `dir`, tessera's lock aside.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != LOCK_FILE)
        .collect()
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

async fn written(
    store: &FlaskSessionFileStore,
    id: &SessionId,
    record: &Record,
) -> tessera::Version {
    match store.save(id, record, Expected::Absent).await.unwrap() {
        Saved::Written(v) => v,
        Saved::Conflict => panic!("conflict"),
    }
}

async fn harness() -> Option<Harness> {
    let dir = Arc::new(ScratchDir::new("flask-session-file"));
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let options = options(&clock);
    let store = FlaskSessionFileStore::open(&dir.url(), &options)
        .await
        .unwrap();
    let peer = FlaskSessionFileStore::open(&dir.url(), &options)
        .await
        .unwrap();
    let url = StoreUrl::new(format!("{}?threshold=777&mode=0640", dir.url()))
        .with_options(options)
        .shown_as("threshold: 777")
        .refusing(format!("{}?mode=0o9", dir.url()))
        .refusing(format!("{}?mode=0400", dir.url()))
        .refusing(format!("{}?threshold=many", dir.url()))
        .refusing(format!("{}?hash_method=md5", dir.url()));
    let (planter, writer) = (store.clone(), store.clone());
    let planted = clock.clone();
    // The directory lives as long as the stores (removed by the cleanup when they drop).
    let cleanup = support::Cleanup::keeping(|_| {}, Some(Box::new(dir)));
    let harness = support::Tracked::harness(store, peer, &cleanup);
    Some(
        harness
            .with_clock(clock)
            .with_url(url)
            .with_corrupter(move |id: SessionId| {
                // A live header before bytes no codec reads.
                let mut bytes = header(planted.now() + Duration::hours(1)).to_vec();
                bytes.extend(b"\xff\xfenot a session");
                let path = planter.path_of(&id);
                async move { std::fs::write(path, bytes).unwrap() }
            })
            .with_foreign_pickles()
            .with_foreign_writer(move |id: SessionId, bytes: Vec<u8>, at: OffsetDateTime| {
                // What cachelib's `set` leaves: the deadline's whole seconds, then the bytes.
                let mut content = header(at).to_vec();
                content.extend(bytes);
                let path = writer.path_of(&id);
                async move { std::fs::write(path, content).unwrap() }
            }),
    )
}

// cachelib names an entry by a hash of its key and keeps no key inside it, so the store
// cannot list its sessions (`listing_is_unsupported` checks it says so).
tessera::conformance_suite!(
    harness;
    except listing_shows_each_record_its_size_and_deadline,
    listing_pages_through_many_records,
    listing_shows_expired_records_until_cleared
);

#[tokio::test]
async fn listing_is_unsupported() {
    let dir = ScratchDir::new("flask-session-file");
    let clock = ManualClock::starting_now();
    let store = FlaskSessionFileStore::open(&dir.url(), &options(&clock))
        .await
        .unwrap();
    written(&store, &id("a"), &user(&clock, "a", Duration::hours(1))).await;
    let mut all = store.list();
    let first = tessera::store::listing::next(&mut all).await;
    assert!(
        matches!(first, Some(Err(Error::Unsupported { op: "list", .. }))),
        "{first:?}"
    );
    assert!(tessera::store::listing::next(&mut all).await.is_none());
}

#[tokio::test]
async fn files_are_cachelibs_layout() {
    let dir = ScratchDir::new("flask-session-file");
    let clock = ManualClock::new(datetime!(2030-01-01 0:00:00.75 UTC));
    let options = options(&clock);
    let store = FlaskSessionFileStore::open(&dir.url(), &options)
        .await
        .unwrap();
    // Opening writes the count, as cachelib's constructor does.
    assert_eq!(
        std::fs::read(dir.path().join(COUNT_FILE)).unwrap(),
        small_count(0)
    );
    let record = user(&clock, "ada", Duration::hours(1));
    written(&store, &id("abc"), &record).await;
    let path = dir
        .path()
        .join("a29d803b477eb42083ebd25596356c45c98474d5c0dacb79829833ca2176e85b");
    assert_eq!(
        path.file_name().unwrap(),
        sha256_hex("session:abc").as_str()
    );
    assert_eq!(store.path_of(&id("abc")), path);
    let bytes = std::fs::read(&path).unwrap();
    // The deadline's whole seconds (2030-01-01 01:00:00), native order, then the codec's bytes.
    assert_eq!(bytes[..4], 1_893_459_600u32.to_ne_bytes());
    let codec = options.codec_for(tessera::store::Backend::File).unwrap();
    assert_eq!(bytes[4..], codec.encode(&record).unwrap());
    #[cfg(unix)]
    {
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(&dir.path().join(COUNT_FILE)), 0o600);
    }
    assert_eq!(
        std::fs::read(dir.path().join(COUNT_FILE)).unwrap(),
        small_count(1)
    );
    // No temporary is left; the lock is the only other file.
    let mut expected: BTreeSet<String> = [COUNT_FILE.to_owned(), sha256_hex("session:abc")].into();
    assert_eq!(names(dir.path()), expected);
    assert!(dir.path().join(LOCK_FILE).exists());
    // The deadline loads to the second, and the record is what was saved.
    let loaded = store.load(&id("abc")).await.unwrap().unwrap();
    assert_eq!(loaded.record.expires_at, datetime!(2030-01-01 1:00 UTC));
    assert_eq!(loaded.record.data, record.data);
    // The key prefix is the options' (SESSION_KEY_PREFIX).
    let other = FlaskSessionFileStore::open(&dir.url(), &options.clone().with_key_prefix("myapp:"))
        .await
        .unwrap();
    written(&other, &id("abc"), &record).await;
    expected.insert(sha256_hex("myapp:abc"));
    assert_eq!(names(dir.path()), expected);
    assert_eq!(
        std::fs::read(dir.path().join(COUNT_FILE)).unwrap(),
        small_count(2)
    );
    // Deleting uncounts.
    store.delete(&id("abc")).await.unwrap();
    assert!(!path.exists());
    assert_eq!(
        std::fs::read(dir.path().join(COUNT_FILE)).unwrap(),
        small_count(1)
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_urls_mode_is_every_files() {
    let dir = ScratchDir::new("flask-session-file");
    let clock = ManualClock::starting_now();
    let url = format!("{}?mode=0640", dir.url());
    let store = tessera::store::open(&url, &options(&clock)).await.unwrap();
    let record = user(&clock, "ada", Duration::hours(1));
    let _ = store
        .save(&id("abc"), &record, Expected::Absent)
        .await
        .unwrap();
    let path = dir.path().join(sha256_hex("session:abc"));
    assert_eq!(mode_of(&path), 0o640);
    assert_eq!(mode_of(&dir.path().join(COUNT_FILE)), 0o640);
    assert!(store
        .touch(&id("abc"), clock.now() + Duration::hours(2))
        .await
        .unwrap());
    assert_eq!(mode_of(&path), 0o640, "a touch keeps the mode");
}

#[tokio::test]
async fn touch_rewrites_only_the_header() {
    let dir = ScratchDir::new("flask-session-file");
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let store = FlaskSessionFileStore::open(&dir.url(), &options(&clock))
        .await
        .unwrap();
    let record = user(&clock, "ada", Duration::minutes(5));
    let version = written(&store, &id("abc"), &record).await;
    let path = store.path_of(&id("abc"));
    let before = std::fs::read(&path).unwrap();
    let later = datetime!(2030-01-01 2:00 UTC);
    assert!(store.touch(&id("abc"), later).await.unwrap());
    let after = std::fs::read(&path).unwrap();
    assert_eq!(after[..4], header(later));
    assert_ne!(after[..4], before[..4]);
    assert_eq!(after[4..], before[4..], "the codec's bytes are untouched");
    let loaded = store.load(&id("abc")).await.unwrap().unwrap();
    assert_eq!(loaded.version, version);
    assert_eq!(loaded.record.expires_at, later);
    // An expired entry is not touched back to life.
    clock.advance(Duration::hours(3));
    assert!(!store
        .touch(&id("abc"), clock.now() + Duration::hours(1))
        .await
        .unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), after);
}

#[tokio::test]
async fn expired_files_stay_until_cleared_and_zero_never_expires() {
    let dir = ScratchDir::new("flask-session-file");
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let options = options(&clock);
    let store = FlaskSessionFileStore::open(&dir.url(), &options)
        .await
        .unwrap();
    written(
        &store,
        &id("short"),
        &user(&clock, "ada", Duration::seconds(10)),
    )
    .await;
    // An entry with header 0, as cachelib writes for a timeout of 0.
    let mut forever = vec![0u8; 4];
    let codec = options.codec_for(tessera::store::Backend::File).unwrap();
    forever.extend(
        codec
            .encode(&user(&clock, "bob", Duration::hours(1)))
            .unwrap(),
    );
    std::fs::write(store.path_of(&id("forever")), forever).unwrap();
    clock.advance(Duration::days(400));
    assert_eq!(store.load(&id("short")).await.unwrap(), None);
    assert!(
        store.path_of(&id("short")).exists(),
        "a load leaves the file, as cachelib's get does"
    );
    // Never expiring: decoded without a deadline, so the profile's lifetime from now.
    let loaded = store.load(&id("forever")).await.unwrap().unwrap();
    assert_eq!(loaded.record.data.get("user"), Some(&"bob".into()));
    let lifetime = ExpiryPolicy::default().lifetime();
    assert_eq!(loaded.record.expires_at, clock.now() + lifetime);
    // The count was 1 (tessera's write); clear_expired uncounts what it removes.
    assert_eq!(store.clear_expired().await.unwrap(), 1);
    assert!(!store.path_of(&id("short")).exists());
    assert!(store.path_of(&id("forever")).exists());
    assert_eq!(
        std::fs::read(dir.path().join(COUNT_FILE)).unwrap(),
        small_count(0)
    );
}

#[tokio::test]
async fn stale_temporaries_are_removed_and_never_counted() {
    let dir = ScratchDir::new("flask-session-file");
    std::fs::create_dir_all(dir.path()).unwrap();
    let stale = dir.path().join("tmpcrashed1.__wz_cache");
    let fresh = dir.path().join("tmpwriting2.__wz_cache");
    std::fs::write(&stale, b"\0\0\0\0half").unwrap();
    std::fs::write(&fresh, b"\0\0\0\0half").unwrap();
    let file = std::fs::File::options().write(true).open(&stale).unwrap();
    file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
        .unwrap();
    drop(file);
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let store = FlaskSessionFileStore::open(&dir.url(), &options(&clock))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join(COUNT_FILE)).unwrap(),
        small_count(0),
        "temporaries are not counted"
    );
    written(&store, &id("abc"), &user(&clock, "ada", Duration::hours(1))).await;
    assert_eq!(store.load(&id("tmpcrashed1")).await.unwrap(), None);
    assert_eq!(
        store.clear_expired().await.unwrap(),
        0,
        "a temporary is no session"
    );
    assert!(
        !stale.exists(),
        "an hour-old temporary is a crashed writer's"
    );
    assert!(fresh.exists(), "a young one may be a live writer's");
    assert!(
        dir.path().join(LOCK_FILE).exists(),
        "the lock is never swept"
    );
    assert!(store.exists(&id("abc")).await.unwrap());
}

#[tokio::test]
async fn pruning_removes_expired_then_by_ascending_expiry() {
    let dir = ScratchDir::new("flask-session-file");
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let store =
        FlaskSessionFileStore::open(&format!("{}?threshold=3", dir.url()), &options(&clock))
            .await
            .unwrap();
    let file = |name: &str| sha256_hex(&format!("session:{name}"));
    let left = || {
        let mut n = names(dir.path());
        assert!(n.remove(COUNT_FILE));
        n
    };
    let count = || std::fs::read(dir.path().join(COUNT_FILE)).unwrap();
    written(&store, &id("a"), &user(&clock, "a", Duration::seconds(10))).await;
    written(&store, &id("b"), &user(&clock, "b", Duration::hours(3))).await;
    written(&store, &id("c"), &user(&clock, "c", Duration::hours(1))).await;
    clock.advance(Duration::seconds(30));
    // cachelib prunes only over the threshold (count > 3): at it, a fourth file is added and
    // even the expired `a` stays.
    written(&store, &id("d"), &user(&clock, "d", Duration::hours(2))).await;
    assert_eq!(left(), ["a", "b", "c", "d"].map(file).into());
    assert_eq!(count(), small_count(4));
    // Over: the expired `a` goes, which is enough.
    written(&store, &id("e"), &user(&clock, "e", Duration::hours(4))).await;
    assert_eq!(left(), ["b", "c", "d", "e"].map(file).into());
    assert_eq!(count(), small_count(4));
    // Over, none expired: the earliest deadline (`c`) goes.
    written(&store, &id("f"), &user(&clock, "f", Duration::hours(5))).await;
    assert_eq!(left(), ["b", "d", "e", "f"].map(file).into());
    // An update prunes too (cachelib's `set` always does), and adds no file.
    let b = store.load(&id("b")).await.unwrap().unwrap();
    let saved = store
        .save(
            &id("b"),
            &user(&clock, "b2", Duration::hours(6)),
            Expected::Version(b.version),
        )
        .await
        .unwrap();
    assert!(matches!(saved, Saved::Written(_)));
    assert_eq!(left(), ["b", "e", "f"].map(file).into());
    assert_eq!(count(), small_count(3));
}

#[tokio::test]
async fn strangers_are_counted_but_never_pruned() {
    let dir = ScratchDir::new("flask-session-file");
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(dir.path().join("README"), b"\0\0\0\0not cachelib's").unwrap();
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let store =
        FlaskSessionFileStore::open(&format!("{}?threshold=1", dir.url()), &options(&clock))
            .await
            .unwrap();
    let count = || std::fs::read(dir.path().join(COUNT_FILE)).unwrap();
    assert_eq!(
        count(),
        small_count(1),
        "cachelib counts every name but its own"
    );
    written(&store, &id("a"), &user(&clock, "a", Duration::hours(1))).await;
    written(&store, &id("b"), &user(&clock, "b", Duration::hours(2))).await;
    let mut expected: BTreeSet<String> = ["README", COUNT_FILE].map(str::to_owned).into();
    expected.insert(sha256_hex("session:b"));
    assert_eq!(names(dir.path()), expected);
    assert_eq!(count(), small_count(2));
    // Neither is clear_expired's.
    clock.advance(Duration::days(1));
    assert_eq!(store.clear_expired().await.unwrap(), 1);
    assert!(dir.path().join("README").exists());
}

#[tokio::test]
async fn an_unreadable_count_file_is_recounted() {
    let dir = ScratchDir::new("flask-session-file");
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let store = FlaskSessionFileStore::open(&dir.url(), &options(&clock))
        .await
        .unwrap();
    written(&store, &id("a"), &user(&clock, "a", Duration::hours(1))).await;
    written(&store, &id("b"), &user(&clock, "b", Duration::hours(1))).await;
    let path = dir.path().join(COUNT_FILE);
    for garbage in [&b"\0\0\0\0\x80\x05}\x94."[..], b"\x01", b""] {
        std::fs::write(&path, garbage).unwrap();
        written(&store, &id("c"), &user(&clock, "c", Duration::hours(1))).await;
        assert_eq!(std::fs::read(&path).unwrap(), small_count(3), "{garbage:?}");
        store.delete(&id("c")).await.unwrap();
    }
    std::fs::remove_file(&path).unwrap();
    store.delete(&id("b")).await.unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        small_count(1),
        "a missing count is recounted"
    );
    // A count that drifted (a Python writer racing) is taken from the listing once over.
    std::fs::write(&path, tessera_count(900)).unwrap();
    let store =
        FlaskSessionFileStore::open(&format!("{}?threshold=5", dir.url()), &options(&clock))
            .await
            .unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        small_count(1),
        "opening recounts"
    );
    std::fs::write(&path, tessera_count(900)).unwrap();
    written(&store, &id("d"), &user(&clock, "d", Duration::hours(1))).await;
    assert!(
        store.exists(&id("a")).await.unwrap(),
        "a drifted count empties nothing"
    );
    assert_eq!(std::fs::read(&path).unwrap(), small_count(2));
}

/// cachelib's count file for 256 ≤ n < 65536.
fn tessera_count(n: u16) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 0, 0x80, 5, 0x95, 4, 0, 0, 0, 0, 0, 0, 0, b'M'];
    out.extend(n.to_le_bytes());
    out.push(b'.');
    out
}

#[tokio::test]
async fn a_held_lock_times_out_and_never_writes_late() {
    let dir = ScratchDir::new("flask-session-file");
    let clock = ManualClock::starting_now();
    let options = options(&clock).with_timeout(std::time::Duration::from_millis(300));
    let store = FlaskSessionFileStore::open(&dir.url(), &options)
        .await
        .unwrap();
    written(&store, &id("a"), &user(&clock, "a", Duration::hours(1))).await;
    let lock = std::fs::File::options()
        .write(true)
        .open(dir.path().join(LOCK_FILE))
        .unwrap();
    lock.lock().unwrap();
    let started = std::time::Instant::now();
    let saved = store
        .save(
            &id("b"),
            &user(&clock, "b", Duration::hours(1)),
            Expected::Absent,
        )
        .await;
    assert!(
        matches!(saved, Err(Error::Timeout { op: "save", .. })),
        "{saved:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(matches!(
        store.delete(&id("a")).await,
        Err(Error::Timeout { .. })
    ));
    // Reads take no lock.
    assert!(store.load(&id("a")).await.unwrap().is_some());
    drop(lock);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(
        !store.path_of(&id("b")).exists(),
        "the timed-out save gave up"
    );
    assert!(
        store.path_of(&id("a")).exists(),
        "the timed-out delete gave up"
    );
    written(&store, &id("b"), &user(&clock, "b", Duration::hours(1))).await;
}

#[tokio::test]
async fn an_id_naming_the_count_file_is_refused() {
    let dir = ScratchDir::new("flask-session-file");
    let clock = ManualClock::starting_now();
    let store = FlaskSessionFileStore::open(&dir.url(), &options(&clock).with_key_prefix(""))
        .await
        .unwrap();
    let count = id("__wz_cache_count");
    let saved = store
        .save(
            &count,
            &user(&clock, "a", Duration::hours(1)),
            Expected::Absent,
        )
        .await;
    assert!(matches!(saved, Err(Error::RefusedId { .. })), "{saved:?}");
    assert_eq!(store.load(&count).await.unwrap(), None);
    assert!(!store.touch(&count, clock.now()).await.unwrap());
    store.delete(&count).await.unwrap();
    assert_eq!(
        std::fs::read(dir.path().join(COUNT_FILE)).unwrap(),
        small_count(0)
    );
}

// The cross-check with cachelib itself.

/// The interop virtualenv's Python with cachelib and Flask-Session, or `None` (a loud skip,
/// a failure under `TESSERA_REQUIRE_SERVICES=1`).
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("TESSERA_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-interop/bin/python"),
        PathBuf::from,
    );
    let found = std::process::Command::new(&python)
        .args([
            "-c",
            "import cachelib, flask_session; print(cachelib.__version__)",
        ])
        .output()
        .map_err(|e| e.to_string())
        .and_then(|out| {
            if out.status.success() {
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        });
    let version = server_or_skip(
        &format!(
            "Python with cachelib at {} (TESSERA_PYTHON, or scripts/services/python-interop.sh)",
            python.display()
        ),
        found,
    )?;
    assert_eq!(
        version, "0.17.0",
        "the layout was checked against cachelib 0.17.0"
    );
    Some(python)
}

/// Flask-Session's own `FileSystemCache` (as `SESSION_TYPE="filesystem"` makes it), driven by
/// one command; prints JSON.
const CACHELIB: &str = r#"
import hashlib, json, os, struct, sys, warnings
warnings.simplefilter("ignore")
from flask import Flask
from flask_session.filesystem import FileSystemSessionInterface

command, directory, threshold, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4], 8)
args = json.loads(sys.argv[5])
app = Flask(__name__)
iface = FileSystemSessionInterface(
    app, key_prefix="session:", cache_dir=directory, threshold=threshold, mode=mode
)
cache = iface.cache
key = iface._get_store_id
out = {}
if command == "set":
    # [[sid, timeout], ...]: cachelib's set, as _upsert_session calls it.
    for sid, timeout in args:
        cache.set(key(sid), {"sid": sid}, timeout=timeout)
elif command == "inspect":
    # {"check": [sid, ...], "read": [sid, ...]}: has() and the raw header of each checked
    # entry, get() of those cachelib wrote (tessera's bytes are not pickle: never unpickled).
    for sid in args.get("check", []):
        path = cache._get_filename(key(sid))
        header = None
        if os.path.exists(path):
            with open(path, "rb") as f:
                header = struct.unpack("I", f.read(4))[0]
        out[sid] = {"has": cache.has(key(sid)), "header": header}
    for sid in args.get("read", []):
        out[sid]["value"] = cache.get(key(sid))
out["hash_method"] = cache._hash_method.__name__
out["name_of_abc"] = os.path.basename(cache._get_filename(key("abc")))
out["count_name"] = os.path.basename(cache._get_filename(cache._fs_count_file))
out["file_count"] = cache._file_count
count_path = os.path.join(directory, out["count_name"])
if os.path.exists(count_path):
    with open(count_path, "rb") as f:
        out["count_bytes"] = f.read().hex()
out["files"] = sorted(os.listdir(directory))
print(json.dumps(out))
"#;

fn cachelib(
    python: &Path,
    command: &str,
    dir: &Path,
    threshold: u64,
    mode: &str,
    args: &serde_json::Value,
) -> serde_json::Value {
    let output = std::process::Command::new(python)
        .args(["-c", CACHELIB, command])
        .arg(dir)
        .args([threshold.to_string(), mode.to_owned(), args.to_string()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn files(dir: &Path) -> serde_json::Value {
    serde_json::json!(names(dir))
}

#[tokio::test]
async fn names_and_counts_are_cachelibs() {
    let Some(python) = python() else { return };
    let (ours, theirs) = (ScratchDir::new("fs-ours"), ScratchDir::new("fs-theirs"));
    let clock = ManualClock::starting_now();
    let store = FlaskSessionFileStore::open(&ours.url(), &options(&clock))
        .await
        .unwrap();
    // 300 sessions: past 255, the count's pickle takes a frame and a two-byte int.
    let sids: Vec<String> = (0..300).map(|i| format!("sid{i}")).collect();
    let sets: Vec<(String, i64)> = sids.iter().map(|s| (s.clone(), 3600)).collect();
    let python_side = cachelib(
        &python,
        "set",
        theirs.path(),
        500,
        "600",
        &serde_json::json!(sets),
    );
    for sid in &sids {
        written(&store, &id(sid), &user(&clock, sid, Duration::hours(1))).await;
    }
    assert_eq!(python_side["hash_method"], "openssl_sha256");
    assert_eq!(python_side["name_of_abc"], sha256_hex("session:abc"));
    assert_eq!(
        store.path_of(&id("abc")).file_name().unwrap().to_str(),
        python_side["name_of_abc"].as_str()
    );
    assert_eq!(python_side["count_name"], COUNT_FILE);
    assert_eq!(python_side["file_count"], 300);
    let count = std::fs::read(ours.path().join(COUNT_FILE)).unwrap();
    assert_eq!(python_side["count_bytes"], hex(&count));
    assert_eq!(python_side["files"], files(ours.path()));
    // And cachelib reads tessera's count as its own.
    // (Its constructor recounts: tessera's lock is not counted.)
    let read_back = cachelib(
        &python,
        "inspect",
        ours.path(),
        500,
        "600",
        &serde_json::json!({}),
    );
    assert_eq!(read_back["file_count"], 300);
    assert_eq!(
        hex(&std::fs::read(ours.path().join(COUNT_FILE)).unwrap()),
        hex(&count)
    );
}

#[tokio::test]
async fn cachelib_judges_tessera_files_by_the_same_deadline() {
    let Some(python) = python() else { return };
    let dir = ScratchDir::new("fs-deadline");
    let now = OffsetDateTime::now_utc();
    // A store whose clock is two hours behind writes a session that, by the real time, is an
    // hour past its deadline.
    let behind = ManualClock::new(now - Duration::hours(2));
    let past = FlaskSessionFileStore::open(&dir.url(), &options(&behind))
        .await
        .unwrap();
    written(&past, &id("old"), &user(&behind, "old", Duration::hours(1))).await;
    let clock = ManualClock::new(now);
    let store = FlaskSessionFileStore::open(&dir.url(), &options(&clock))
        .await
        .unwrap();
    written(
        &store,
        &id("live"),
        &user(&clock, "live", Duration::hours(1)),
    )
    .await;
    let seen = cachelib(
        &python,
        "inspect",
        dir.path(),
        500,
        "600",
        &serde_json::json!({"check": ["live", "old", "none"]}),
    );
    assert_eq!(seen["live"]["has"], true);
    assert_eq!(
        seen["live"]["header"],
        (now + Duration::hours(1)).unix_timestamp()
    );
    assert_eq!(seen["old"]["has"], false);
    assert_eq!(
        seen["old"]["header"],
        (now - Duration::hours(1)).unix_timestamp()
    );
    assert_eq!(seen["none"]["has"], false);
    assert!(store.load(&id("live")).await.unwrap().is_some());
    assert_eq!(store.load(&id("old")).await.unwrap(), None);
    assert_eq!(seen["file_count"], 2);
    assert_eq!(
        hex(&std::fs::read(dir.path().join(COUNT_FILE)).unwrap()),
        seen["count_bytes"]
    );

    // cachelib's own entry: tessera's touch moves its header and leaves cachelib's pickle
    // readable; clear_expired removes it once expired and uncounts it as cachelib would.
    cachelib(
        &python,
        "set",
        dir.path(),
        500,
        "600",
        &serde_json::json!([["py", 600]]),
    );
    let later = now + Duration::hours(5);
    assert!(store.touch(&id("py"), later).await.unwrap());
    let seen = cachelib(
        &python,
        "inspect",
        dir.path(),
        500,
        "600",
        &serde_json::json!({"check": ["py"], "read": ["py"]}),
    );
    assert_eq!(seen["py"]["header"], later.unix_timestamp());
    assert_eq!(seen["py"]["value"], serde_json::json!({"sid": "py"}));
    assert_eq!(seen["file_count"], 3);
    clock.advance(Duration::hours(6));
    assert_eq!(store.clear_expired().await.unwrap(), 3);
    let seen = cachelib(
        &python,
        "inspect",
        dir.path(),
        500,
        "600",
        &serde_json::json!({"check": ["py"]}),
    );
    assert_eq!(seen["py"]["has"], false);
    assert_eq!(seen["file_count"], 0);
    assert_eq!(seen["files"], serde_json::json!([LOCK_FILE, COUNT_FILE]));
}

/// Copies the files of `from` into `to` (a fresh directory), as they are.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A threshold, the entries cachelib makes (id, timeout), and how many one more set prunes.
type Scenario = (u64, &'static [(&'static str, i64)], usize);

#[tokio::test]
async fn pruning_leaves_what_cachelib_leaves() {
    let Some(python) = python() else { return };
    // (threshold, [(sid, timeout)] made by cachelib, how many go when each side sets one more).
    let scenarios: [Scenario; 4] = [
        // Over by two, two expired: the expired go.
        (
            5,
            &[
                ("x1", -100),
                ("x2", -200),
                ("a", 100),
                ("b", 200),
                ("c", 300),
                ("d", 400),
                ("e", 500),
            ],
            2,
        ),
        // Over by three, none expired: the three earliest deadlines go.
        (
            5,
            &[
                ("h", 800),
                ("c", 300),
                ("a", 100),
                ("g", 700),
                ("b", 200),
                ("f", 600),
                ("e", 500),
                ("d", 400),
            ],
            3,
        ),
        // One expired is not enough: then header 0 (never expires) sorts first and goes.
        (
            4,
            &[
                ("zero", 0),
                ("x", -50),
                ("c", 300),
                ("a", 100),
                ("b", 200),
                ("d", 400),
            ],
            2,
        ),
        // At the threshold nothing goes, not even the expired (cachelib prunes over it only).
        (
            5,
            &[("a", 100), ("x", -100), ("b", 200), ("c", 300), ("d", 400)],
            0,
        ),
    ];
    for (threshold, entries, gone) in scenarios {
        let theirs = ScratchDir::new("fs-prune-theirs");
        let ours = ScratchDir::new("fs-prune-ours");
        // Made without a threshold, then counted by a cache with one (its constructor counts).
        cachelib(
            &python,
            "set",
            theirs.path(),
            0,
            "600",
            &serde_json::json!(entries),
        );
        cachelib(
            &python,
            "inspect",
            theirs.path(),
            threshold,
            "600",
            &serde_json::json!({}),
        );
        copy_dir(theirs.path(), ours.path());
        let after = cachelib(
            &python,
            "set",
            theirs.path(),
            threshold,
            "600",
            &serde_json::json!([["new", 7200]]),
        );
        let clock = ManualClock::starting_now();
        let store = FlaskSessionFileStore::open(
            &format!("{}?threshold={threshold}", ours.url()),
            &options(&clock),
        )
        .await
        .unwrap();
        written(&store, &id("new"), &user(&clock, "new", Duration::hours(2))).await;
        assert_eq!(
            after["files"],
            files(ours.path()),
            "threshold {threshold}, {entries:?}"
        );
        let count = std::fs::read(ours.path().join(COUNT_FILE)).unwrap();
        assert_eq!(
            after["count_bytes"],
            hex(&count),
            "threshold {threshold}, {entries:?}"
        );
        // The entries, the new one and the count file, less those pruned.
        assert_eq!(
            after["files"].as_array().unwrap().len(),
            entries.len() + 2 - gone,
            "{after}"
        );
    }
}

/// The index by user lives in a directory cachelib skips like its temporaries: it is not
/// counted, and clearing never takes it for a crashed writer's temporary however old.
#[tokio::test]
async fn the_user_index_is_invisible_to_cachelibs_walks() {
    let dir = ScratchDir::new("flask-file-users");
    let clock = ManualClock::new(datetime!(2030-01-01 0:00 UTC));
    let store = FlaskSessionFileStore::open(&dir.url(), &options(&clock))
        .await
        .unwrap();
    let ada = id("ada-session");
    let _ = store
        .save(
            &ada,
            &user(&clock, "ada", Duration::hours(1)),
            Expected::Absent,
        )
        .await
        .unwrap();
    let index = store.user_index().unwrap();
    index
        .enter("ada", &ada, clock.now() + Duration::hours(1))
        .await
        .unwrap();
    let index_dir = dir.path().join(".tessera-users.__wz_cache");
    assert!(index_dir.is_dir());
    // Old enough for a temporary to be taken for a crashed writer's.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::open(&index_dir)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.clear_expired().await.unwrap(), 0);
    assert_eq!(index.entries("ada").await.unwrap(), vec![ada.clone()]);
    // One session counted, as cachelib counts it.
    assert_eq!(
        std::fs::read(dir.path().join(COUNT_FILE)).unwrap(),
        small_count(1)
    );
    clock.advance(Duration::hours(2));
    assert_eq!(store.clear_expired().await.unwrap(), 1);
    assert!(index.entries("ada").await.unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(&index_dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != ".lock")
            .count(),
        0,
        "the expired entry and its empty user directory are gone"
    );
}
