//! [`FileStore`]: one file per session in a directory (feature `file`).

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, SystemTime};

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::dir_listing::{self, unless_gone, SessionDir};
use super::dir_user_index::DirUserIndex;
use super::{
    Error, Expected, Listed, Listing, Loaded, OpenOptions, Saved, SessionStore, UserIndex,
};
use crate::clock::SharedClock;
use crate::id::SessionId;
use crate::record::{Record, Version};

/// How many sessions a directory holds before the oldest are removed (Flask-Session's
/// `SESSION_FILE_THRESHOLD`).
pub const DEFAULT_THRESHOLD: usize = 500;
/// How many files [`SessionStore::clear_expired`] examines per hold of the directory lock.
const BATCH: usize = 256;
const SUFFIX: &str = ".session";
const LOCK: &str = ".tessera.lock";
const TEMP: &str = ".tmp-";
/// The longest header a listing reads: a version, a deadline and the longest id, spaced.
const MAX_HEADER: u64 = 20 + 1 + 21 + 1 + crate::id::MAX_ID_LEN as u64 + 1;

/// Sessions as files in one directory: for single-host deployments and development, like
/// Flask-Session's `filesystem` type.
///
/// - **Names**: each session is `<sha256(key_prefix + id) in hex>.session`, so no id can steer
///   the path, and stores with different prefixes can share a directory.
/// - **Content**: `<version> <deadline> <id>\n<record>`, the record in tessera's binary form
///   ([`Record::encode`]; files holding its JSON form, as written before, load too); the
///   deadline is inside the record, judged by the store's clock. The header repeats it (in
///   Unix seconds) with the id, which the name, a hash, does not give back, so that
///   [`list`](SessionStore::list) reads only headers. Files written before the header held
///   them (`<version>\n`) load as ever and are listed once written again.
/// - **Writes**: a temporary file in the same directory renamed over the old one, so readers
///   never see half a record. Files are created `0600`, and the directory `0700` if absent.
/// - **Conditional writes**: every write holds an exclusive lock (`flock`) on the directory's
///   `.tessera.lock` while it compares versions and renames, so they are atomic across
///   processes on the host.
/// - **Threshold**: creating a session in a directory that already holds `threshold` sessions
///   first removes expired ones, then the least recently written (Flask-Session's
///   `SESSION_FILE_THRESHOLD`, default 500; `0` turns it off).
/// - **Expiry**: [`clear_expired`](SessionStore::clear_expired) scans the directory in batches,
///   taking the lock once per batch (and removes temporary files a crashed writer left).
/// - **Index by user** ([`user_index`](SessionStore::user_index)): in the subdirectory
///   `.tessera-users.__wz_cache/`, which no session walk reads, one directory per user named
///   by the BLAKE3 hash of the user name, holding one small file per session (named by the
///   hash of the id; `<until> <id>\n<user>` inside), written through a temporary file and a
///   rename under the index's own `flock`, so `until` only moves later. A save with a user
///   costs one more small file write (or only a read when the entry already lasts long
///   enough); listing a user's sessions reads one directory. Expired entries are skipped when
///   read and removed, with empty user directories, by `clear_expired`; sessions the
///   threshold removes keep their entries until these expire (callers check each). The index
///   shares the sessions' host-only limits: it is consistent across processes that share the
///   directory on a local file system with working `flock`.
///
/// File I/O runs on tokio's blocking pool, bounded by the store's timeout.
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{file::FileStore, OpenOptions};
///
/// let store = FileStore::open("file:///var/lib/myapp/sessions?threshold=10000", &OpenOptions::default()).await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    prefix: String,
    threshold: usize,
    timeout: StdDuration,
    clock: SharedClock,
    users: DirUserIndex,
}

impl FileStore {
    /// A store in `dir` (created `0700` if absent), with the default threshold, prefix
    /// `session:`, the system clock and a 3 s timeout.
    pub async fn new(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let options = OpenOptions::default();
        Self::build(dir.into(), DEFAULT_THRESHOLD, &options).await
    }

    /// A store from `file:///path/to/dir[?threshold=N]`, with `options`' prefix, clock and
    /// timeout.
    pub async fn open(url: &str, options: &OpenOptions) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if parsed.scheme() != "file" {
            return Err(bad("expected the scheme `file`".into()));
        }
        if parsed
            .host_str()
            .is_some_and(|h| !h.is_empty() && h != "localhost")
        {
            return Err(bad("expected file:///absolute/path (three slashes)".into()));
        }
        let dir = parsed
            .to_file_path()
            .map_err(|()| bad("expected file:///absolute/path".into()))?;
        let mut threshold = DEFAULT_THRESHOLD;
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "threshold" => {
                    threshold = value
                        .parse()
                        .map_err(|_| bad(format!("threshold {value:?} is not a whole number")))?;
                }
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?}; known: threshold"
                    )))
                }
            }
        }
        Self::build(dir, threshold, options).await
    }

    async fn build(dir: PathBuf, threshold: usize, options: &OpenOptions) -> Result<Self, Error> {
        let inner = Arc::new(Inner {
            users: DirUserIndex::new(&dir, options.timeout, options.clock.clone()),
            dir,
            prefix: options.key_prefix.clone(),
            threshold,
            timeout: options.timeout,
            clock: options.clock.clone(),
        });
        let store = Self { inner };
        store
            .blocking("open", |inner, _| create_dir(&inner.dir))
            .await?;
        Ok(store)
    }

    /// Judges expiry by `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(self, clock: SharedClock) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                dir: inner.dir.clone(),
                prefix: inner.prefix.clone(),
                threshold: inner.threshold,
                timeout: inner.timeout,
                users: inner.users.with_clock(clock.clone()),
                clock,
            }),
        }
    }

    /// Sets the threshold (`0`: no limit).
    #[must_use]
    pub fn with_threshold(self, threshold: usize) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                dir: inner.dir.clone(),
                prefix: inner.prefix.clone(),
                threshold,
                timeout: inner.timeout,
                clock: inner.clock.clone(),
                users: inner.users.clone(),
            }),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file that holds a session.
    pub fn path_of(&self, id: &SessionId) -> PathBuf {
        self.inner.path_of(id)
    }

    /// Runs file I/O on the blocking pool under the store's timeout.
    async fn blocking<T: Send + 'static>(
        &self,
        op: &'static str,
        work: impl FnOnce(&Inner, Instant) -> io::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        on_blocking_pool(self.inner.clone(), self.inner.timeout, op, work).await
    }
}

/// Runs `work` on `state` on tokio's blocking pool, bounded by `after`: file stores' I/O.
///
/// `work` gets the instant `after` ends, which bounds its own waits (for a lock, [`lock_until`])
/// and its last step (a rename, [`in_time`]): a blocking-pool thread never goes on to write
/// after the caller was told the operation timed out.
pub(crate) async fn on_blocking_pool<S, T>(
    state: Arc<S>,
    after: StdDuration,
    op: &'static str,
    work: impl FnOnce(&S, Instant) -> io::Result<T> + Send + 'static,
) -> Result<T, Error>
where
    S: Send + Sync + 'static,
    T: Send + 'static,
{
    let deadline = Instant::now() + after;
    let task = tokio::task::spawn_blocking(move || work(&state, deadline));
    match tokio::time::timeout(after, task).await {
        Err(_) => Err(Error::Timeout { op, after }),
        Ok(Err(join)) => Err(Error::unavailable(op, join)),
        // A wait the work bounded itself (for a lock) ran out: the store's timeout.
        Ok(Ok(Err(e))) if e.kind() == io::ErrorKind::TimedOut => Err(Error::Timeout { op, after }),
        Ok(Ok(result)) => result.map_err(|e| Error::unavailable(op, e)),
    }
}

/// Takes an exclusive `flock` on `file`, waiting for it until `deadline` at most; past it, an
/// I/O [`TimedOut`](io::ErrorKind::TimedOut) error, which [`on_blocking_pool`] reports as the
/// store's timeout. A process that holds the lock forever therefore makes other writers fail
/// in time instead of stranding blocking-pool threads.
pub(crate) fn lock_until(file: &fs::File, deadline: Instant) -> io::Result<()> {
    let mut pause = StdDuration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "another writer holds the session files' lock",
            ));
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(StdDuration::from_millis(16));
    }
}

/// An I/O [`TimedOut`](io::ErrorKind::TimedOut) error if `deadline` has passed: checked before
/// the step that makes a write visible, so a write whose caller already timed out never lands.
pub(crate) fn in_time(deadline: Instant) -> io::Result<()> {
    if Instant::now() >= deadline {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the store's timeout passed before the write was renamed into place",
        ));
    }
    Ok(())
}

/// What a session file holds, as far as a write needs to know.
enum Current {
    Missing,
    /// Present but expired: treated as missing, except that a session replacing it keeps
    /// counting from its version.
    Expired(Version),
    Live(Version, Record),
    /// Present but undecodable: never overwritten by a conditional write.
    Corrupt(DecodeFailure),
}

impl Inner {
    fn path_of(&self, id: &SessionId) -> PathBuf {
        let digest = Sha256::new()
            .chain_update(self.prefix.as_bytes())
            .chain_update(id.expose().as_bytes())
            .finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}{SUFFIX}"))
    }

    fn lock(&self, deadline: Instant) -> io::Result<fs::File> {
        open_locked(&self.dir.join(LOCK), deadline)
    }

    fn read(path: &Path, now: OffsetDateTime) -> io::Result<Current> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Current::Missing),
            Err(e) => return Err(e),
        };
        Ok(match decode(&bytes) {
            Ok((version, record)) if record.is_expired(now) => Current::Expired(version),
            Ok((version, record)) => Current::Live(version, record),
            Err(e) => Current::Corrupt(e),
        })
    }

    /// Writes `id`'s `version` and `record` to `path` through a temporary file and a rename.
    fn write(
        &self,
        path: &Path,
        id: &SessionId,
        version: Version,
        record: &Record,
        deadline: Instant,
    ) -> io::Result<()> {
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(io::Error::other)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("session");
        let temp = self
            .dir
            .join(format!("{TEMP}{name}-{:016x}", u64::from_ne_bytes(suffix)));
        let result = (|| {
            let mut file =
                restricted(fs::OpenOptions::new().create_new(true).write(true)).open(&temp)?;
            let header = format!(
                "{} {} {}\n",
                version.get(),
                record.expires_at.unix_timestamp(),
                id.expose()
            );
            file.write_all(header.as_bytes())?;
            file.write_all(&record.encode())?;
            file.flush()?;
            in_time(deadline)?;
            fs::rename(&temp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn remove(path: &Path) -> io::Result<bool> {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The session files, with their modification times.
    fn sessions(&self) -> io::Result<Vec<(PathBuf, SystemTime)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let is_session = name
                .to_str()
                .is_some_and(|n| n.ends_with(SUFFIX) && !n.starts_with('.'));
            if !is_session {
                continue;
            }
            let modified = match entry.metadata() {
                Ok(meta) => meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                // Removed since the listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            out.push((entry.path(), modified));
        }
        Ok(out)
    }

    /// Removes temporary files a crashed writer left behind (an hour old or more).
    fn remove_stale_temporaries(&self) -> io::Result<()> {
        let cutoff = SystemTime::now() - StdDuration::from_secs(3600);
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let temporary = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TEMP));
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < cutoff);
            if temporary && old {
                Self::remove(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Makes room for one more session (the caller holds the lock): expired files first, then
    /// the least recently written.
    fn prune(&self, now: OffsetDateTime) -> io::Result<()> {
        if self.threshold == 0 {
            return Ok(());
        }
        let mut files = self.sessions()?;
        if files.len() < self.threshold {
            return Ok(());
        }
        let mut kept = Vec::with_capacity(files.len());
        for (path, modified) in files.drain(..) {
            if matches!(Self::read(&path, now)?, Current::Expired(_)) {
                Self::remove(&path)?;
            } else {
                kept.push((path, modified));
            }
        }
        if kept.len() >= self.threshold {
            kept.sort_by_key(|(_, modified)| *modified);
            let excess = kept.len() + 1 - self.threshold;
            for (path, _) in kept.iter().take(excess) {
                Self::remove(path)?;
            }
        }
        Ok(())
    }
}

/// The lock file at `path` (created, readable by this user only, if absent), locked
/// exclusively by `deadline`; the lock lasts as long as the returned file.
pub(super) fn open_locked(path: &Path, deadline: Instant) -> io::Result<fs::File> {
    let file = restricted(
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
    )
    .open(path)?;
    lock_until(&file, deadline)?;
    Ok(file)
}

/// Creates `dir` and its parents, readable by this user only.
pub(super) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// `options` creating files readable by this user only.
pub(super) fn restricted(options: &mut fs::OpenOptions) -> &mut fs::OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}

type DecodeFailure = Box<dyn std::error::Error + Send + Sync>;

/// A session file's first line.
struct Header<'a> {
    version: Version,
    /// The deadline in Unix seconds and the id, absent from files written before the header
    /// held them.
    listing: Option<(i64, &'a str)>,
}

/// Reads `<version>[ <deadline> <id>]`.
fn header(line: &[u8]) -> Option<Header<'_>> {
    let line = std::str::from_utf8(line).ok()?;
    let mut fields = line.split(' ');
    let version = Version::new(fields.next()?.parse().ok()?);
    let listing = match (fields.next(), fields.next(), fields.next()) {
        (None, _, _) => None,
        (Some(deadline), Some(id), None) => Some((deadline.parse().ok()?, id)),
        _ => return None,
    };
    Some(Header { version, listing })
}

/// Splits `<header>\n<record>`.
fn decode(bytes: &[u8]) -> Result<(Version, Record), DecodeFailure> {
    let newline = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("the session file has no version header")?;
    let header = header(&bytes[..newline]).ok_or("the session file's header is unreadable")?;
    Ok((header.version, Record::decode(&bytes[newline + 1..])?))
}

impl SessionDir for Inner {
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn listed(&self, entry: &fs::DirEntry) -> io::Result<Option<Listed>> {
        let name = entry.file_name();
        let is_session = name
            .to_str()
            .is_some_and(|n| n.ends_with(SUFFIX) && !n.starts_with('.'));
        if !is_session {
            return Ok(None);
        }
        unless_gone((|| {
            let file = fs::File::open(entry.path())?;
            let size = file.metadata()?.len();
            let mut head = Vec::new();
            io::Read::read_to_end(&mut io::Read::take(file, MAX_HEADER), &mut head)?;
            let Some(line) = head.split(|b| *b == b'\n').next() else {
                return Ok(None);
            };
            let Some((deadline, id)) = header(line).and_then(|h| h.listing) else {
                return Ok(None);
            };
            // Only a file named for this id under this store's prefix is its session: another
            // prefix's store may share the directory, and a header could be copied.
            let Ok(id) = SessionId::parse(id) else {
                return Ok(None);
            };
            if self.path_of(&id).file_name() != Some(name.as_os_str()) {
                return Ok(None);
            }
            let expires_at = OffsetDateTime::from_unix_timestamp(deadline).ok();
            Ok(Some(Listed::new(id, size, expires_at)))
        })())
    }
}

#[async_trait]
impl SessionStore for FileStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let path = self.path_of(id);
        let now = self.inner.clock.now();
        let current = self
            .blocking("load", move |_, _| Inner::read(&path, now))
            .await?;
        match current {
            Current::Missing | Current::Expired(_) => Ok(None),
            Current::Live(version, record) => Ok(Some(Loaded { record, version })),
            Current::Corrupt(e) => Err(Error::corrupt(id, e)),
        }
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let path = self.path_of(id);
        let now = self.inner.clock.now();
        let record = record.clone();
        let id = id.clone();
        let saved = self
            .blocking("save", move |inner, deadline| {
                let next = |current: Current| match (current, expected) {
                    (Current::Missing, Expected::Absent) => Some(Version::FIRST),
                    (Current::Expired(old), Expected::Absent) => Some(old.next()),
                    (Current::Live(current, _), Expected::Version(v)) if current == v => {
                        Some(v.next())
                    }
                    _ => None,
                };
                // Renames are atomic, so an unlocked read already tells a stale writer it lost:
                // it answers at once and leaves the lock to writers that may win.
                if next(Inner::read(&path, now)?).is_none() {
                    return Ok(Saved::Conflict);
                }
                let _lock = inner.lock(deadline)?;
                let Some(next) = next(Inner::read(&path, now)?) else {
                    return Ok(Saved::Conflict);
                };
                if record.is_expired(now) {
                    Inner::remove(&path)?;
                } else {
                    if expected == Expected::Absent {
                        inner.prune(now)?;
                    }
                    inner.write(&path, &id, next, &record, deadline)?;
                }
                Ok(Saved::Written(next))
            })
            .await?;
        Ok(saved)
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let path = self.path_of(id);
        self.blocking("delete", move |inner, deadline| {
            let _lock = inner.lock(deadline)?;
            Inner::remove(&path).map(drop)
        })
        .await
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let path = self.path_of(id);
        let now = self.inner.clock.now();
        let id = id.clone();
        self.blocking("touch", move |inner, deadline| {
            let _lock = inner.lock(deadline)?;
            match Inner::read(&path, now)? {
                Current::Live(version, mut record) => {
                    record.expires_at = expires_at;
                    inner.write(&path, &id, version, &record, deadline)?;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }

    async fn clear_expired(&self) -> Result<u64, Error> {
        self.clear_expired_in_batches(&mut |_| {}).await
    }

    /// One batch per hold of the directory lock, the running total reported after each
    /// batch that removed something, and once at the end. Expired entries of the index by
    /// user go first (they are not counted: the total is of sessions).
    async fn clear_expired_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        self.inner.users.clear_expired().await?;
        let now = self.inner.clock.now();
        let files = self
            .blocking("clear_expired", |inner, _| {
                inner.remove_stale_temporaries()?;
                inner.sessions()
            })
            .await?;
        let mut removed = 0;
        for batch in files.chunks(BATCH) {
            let batch: Vec<PathBuf> = batch.iter().map(|(path, _)| path.clone()).collect();
            let in_batch = self
                .blocking("clear_expired", move |inner, deadline| {
                    let _lock = inner.lock(deadline)?;
                    let mut removed = 0u64;
                    for path in &batch {
                        if matches!(Inner::read(path, now)?, Current::Expired(_))
                            && Inner::remove(path)?
                        {
                            removed += 1;
                        }
                    }
                    Ok(removed)
                })
                .await?;
            removed += in_batch;
            if in_batch > 0 {
                progress(removed);
            }
        }
        // The conformance contract: progress is reported at least once, ending at the total.
        if removed == 0 {
            progress(0);
        }
        Ok(removed)
    }

    fn list(&self) -> Listing<'_> {
        dir_listing::list(self.inner.clone(), self.inner.timeout)
    }

    /// The index in the directory's `.tessera-users.__wz_cache/` (see [`FileStore`]).
    fn user_index(&self) -> Result<&dyn UserIndex, Error> {
        Ok(&self.inner.users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Default for Inner {
        fn default() -> Self {
            Self {
                dir: PathBuf::new(),
                prefix: String::new(),
                threshold: DEFAULT_THRESHOLD,
                timeout: crate::store::DEFAULT_STORE_TIMEOUT,
                clock: crate::clock::system(),
                users: DirUserIndex::new(
                    Path::new(""),
                    crate::store::DEFAULT_STORE_TIMEOUT,
                    crate::clock::system(),
                ),
            }
        }
    }

    #[test]
    fn names_are_hashes_of_prefix_and_id() {
        let inner = Inner {
            dir: PathBuf::from("/sessions"),
            prefix: "session:".into(),
            ..Inner::default()
        };
        let id = SessionId::parse("abc").unwrap();
        let path = inner.path_of(&id);
        assert_eq!(path.parent(), Some(Path::new("/sessions")));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 64 + SUFFIX.len());
        assert!(!name.contains("abc"));
        let other = Inner {
            prefix: "other:".into(),
            ..inner
        };
        assert_ne!(other.path_of(&id), path);
    }

    #[test]
    fn headers_are_required() {
        assert!(decode(b"{}").is_err());
        assert!(decode(b"x\n{}").is_err());
        let r = Record::new(
            Default::default(),
            crate::Expiry::Default,
            OffsetDateTime::UNIX_EPOCH,
        );
        let mut bytes = b"7\n".to_vec();
        bytes.extend(r.encode());
        assert_eq!(decode(&bytes).unwrap(), (Version::new(7), r.clone()));
        let mut bytes = b"8 1700000000 abc\n".to_vec();
        bytes.extend(r.encode());
        assert_eq!(decode(&bytes).unwrap(), (Version::new(8), r.clone()));
        // A file written before the binary form, with the JSON record.
        let mut bytes = b"9 0 abc\n".to_vec();
        bytes.extend(r.encode_json());
        assert_eq!(decode(&bytes).unwrap(), (Version::new(9), r));
        assert!(decode(b"8 1700000000\n{}").is_err());
        assert!(decode(b"8 x abc\n{}").is_err());
        let h = header(b"8 1700000000 abc").unwrap();
        assert_eq!(h.listing, Some((1_700_000_000, "abc")));
    }

    #[tokio::test]
    async fn urls() {
        let opts = OpenOptions::default();
        for bad in [
            "file://host/dir",
            "file:///tmp/x?size=1",
            "file:///tmp/x?threshold=-1",
            "memory://",
        ] {
            assert!(
                matches!(FileStore::open(bad, &opts).await, Err(Error::BadUrl { .. })),
                "{bad}"
            );
        }
    }
}
