//! The file stores' index of sessions by user ([`UserIndex`]): small files in a directory
//! inside the sessions directory, which none of the session walks reads as a session.
//!
//! - **Place**: `<dir>/.tessera-users.__wz_cache/`. tessera's file store skips it (no
//!   `.session` suffix, a leading dot), Django's engine and `clearsessions` skip it (it does
//!   not start with the cookie name), and cachelib skips it as it skips its own temporaries
//!   (the `.__wz_cache` suffix), so Python sharing the directory never counts or prunes it. A
//!   subdirectory, not a sibling, so that the index needs no write access beyond the sessions
//!   directory and goes wherever it goes.
//! - **Users**: one directory per user, named by the BLAKE3 hash (hex) of the UTF-8 user name:
//!   no name can steer a path.
//! - **Entries**: one file per session in its user's directory, named by the BLAKE3 hash of
//!   the session id, holding `<until in Unix seconds> <id>\n<user name>` (the name only so an
//!   operator can tell whose it is). `until` is rounded up to the second, so an entry never
//!   ends before its session.
//! - **Writes**: a temporary file (`.tmp-…`) renamed over the entry while holding an exclusive
//!   `flock` on the index's `.lock`, so `until` only moves later even with several writers on
//!   the host. Reads take no lock (renames are atomic).
//! - **Expiry**: [`entries`](UserIndex::entries) skips expired files; the stores'
//!   `clear_expired` calls [`clear_expired`](UserIndex::clear_expired), which removes expired
//!   entries, temporaries an hour old and empty user directories.
//!
//! All I/O runs on tokio's blocking pool bounded by the store's timeout
//! ([`on_blocking_pool`]), with lock waits and renames bounded by the same deadline.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, SystemTime};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::file::{create_dir, in_time, on_blocking_pool, open_locked, restricted};
use super::{Error, UserIndex};
use crate::clock::SharedClock;
use crate::id::SessionId;

/// The index's directory inside a store's directory: a name every session walk skips.
pub(crate) const INDEX_DIR: &str = ".tessera-users.__wz_cache";
const LOCK: &str = ".lock";
const TEMP: &str = ".tmp-";
/// User directories examined per hold of the lock by [`UserIndex::clear_expired`].
const BATCH: usize = 64;
/// The largest entry file read: the deadline, the longest id, and a generous user name.
const MAX_ENTRY: u64 = 64 * 1024;

/// A file store's index of sessions by user; see [the module](self).
#[derive(Debug, Clone)]
pub(crate) struct DirUserIndex {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    dir: PathBuf,
    timeout: StdDuration,
    clock: SharedClock,
}

impl DirUserIndex {
    /// The index inside the sessions directory `sessions`, judging expiry by `clock`, each
    /// operation bounded by `timeout`. Nothing is created until the first entry.
    pub(crate) fn new(sessions: &Path, timeout: StdDuration, clock: SharedClock) -> Self {
        Self {
            state: Arc::new(State {
                dir: sessions.join(INDEX_DIR),
                timeout,
                clock,
            }),
        }
    }

    /// The same index judging expiry by `clock`.
    pub(crate) fn with_clock(&self, clock: SharedClock) -> Self {
        Self {
            state: Arc::new(State {
                dir: self.state.dir.clone(),
                timeout: self.state.timeout,
                clock,
            }),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        op: &'static str,
        work: impl FnOnce(&State, Instant) -> io::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        on_blocking_pool(self.state.clone(), self.state.timeout, op, work).await
    }
}

fn hex_hash(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// `at` in whole Unix seconds, rounded up.
fn seconds_up(at: OffsetDateTime) -> i64 {
    let seconds = at.unix_timestamp();
    if at.nanosecond() > 0 {
        seconds.saturating_add(1)
    } else {
        seconds
    }
}

/// The deadline and id an entry file holds.
fn parse(bytes: &[u8]) -> Option<(i64, SessionId)> {
    let line = bytes.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let (until, id) = line.split_once(' ')?;
    Some((until.parse().ok()?, SessionId::parse(id).ok()?))
}

/// A missing file or directory taken for nothing there.
fn unless_missing<T>(result: io::Result<T>, otherwise: T) -> io::Result<T> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(otherwise),
        other => other,
    }
}

/// Whether a name in the index is one of its own files (an entry or a user directory), not
/// the lock or a temporary.
fn is_own(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl State {
    fn user_dir(&self, user: &str) -> PathBuf {
        self.dir.join(hex_hash(user))
    }

    /// The index's lock (the index directory created if absent), held while the file lives.
    fn lock(&self, deadline: Instant) -> io::Result<fs::File> {
        create_dir(&self.dir)?;
        open_locked(&self.dir.join(LOCK), deadline)
    }

    /// The deadline an entry file holds; `None` if it is absent or unreadable.
    fn read(path: &Path) -> io::Result<Option<(i64, SessionId)>> {
        let read = (|| {
            let file = fs::File::open(path)?;
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut io::Read::take(file, MAX_ENTRY), &mut bytes)?;
            Ok(Some(bytes))
        })();
        Ok(unless_missing(read, None)?.and_then(|bytes| parse(&bytes)))
    }

    fn enter(&self, user: &str, id: &SessionId, until: i64, deadline: Instant) -> io::Result<()> {
        let _lock = self.lock(deadline)?;
        let dir = self.user_dir(user);
        let path = dir.join(hex_hash(id.expose()));
        if let Some((kept, _)) = Self::read(&path)? {
            if kept >= until {
                return Ok(());
            }
        }
        create_dir(&dir)?;
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(io::Error::other)?;
        let temp = dir.join(format!("{TEMP}{:016x}", u64::from_ne_bytes(suffix)));
        let result = (|| {
            let mut file =
                restricted(fs::OpenOptions::new().create_new(true).write(true)).open(&temp)?;
            file.write_all(format!("{until} {}\n{user}", id.expose()).as_bytes())?;
            file.flush()?;
            in_time(deadline)?;
            fs::rename(&temp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn entries(&self, user: &str, now: OffsetDateTime) -> io::Result<Vec<SessionId>> {
        let walk = match fs::read_dir(self.user_dir(user)) {
            Ok(walk) => walk,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut ids = Vec::new();
        for entry in walk {
            let entry = entry?;
            let name = entry.file_name();
            if !is_own(&name) {
                continue;
            }
            let Some((until, id)) = Self::read(&entry.path())? else {
                continue;
            };
            // Only a file named for the id it holds is that id's entry.
            if name.to_str() != Some(hex_hash(id.expose()).as_str()) {
                continue;
            }
            if until > now.unix_timestamp() {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    fn remove(&self, user: &str, ids: &[SessionId], deadline: Instant) -> io::Result<()> {
        let dir = self.user_dir(user);
        if !unless_missing(fs::metadata(&dir).map(|m| m.is_dir()), false)? {
            return Ok(());
        }
        let _lock = self.lock(deadline)?;
        for id in ids {
            unless_missing(fs::remove_file(dir.join(hex_hash(id.expose()))), ())?;
        }
        Ok(())
    }

    /// The user directories.
    fn users(&self) -> io::Result<Vec<PathBuf>> {
        let walk = match fs::read_dir(&self.dir) {
            Ok(walk) => walk,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in walk {
            let entry = entry?;
            if is_own(&entry.file_name()) {
                out.push(entry.path());
            }
        }
        Ok(out)
    }

    /// Removes the expired entries, stale temporaries and then the directory itself of each
    /// of `users` if it is left empty, under the lock; how many entries went.
    fn clear(&self, users: &[PathBuf], now: OffsetDateTime, deadline: Instant) -> io::Result<u64> {
        let _lock = self.lock(deadline)?;
        let stale = SystemTime::now() - StdDuration::from_secs(3600);
        let mut removed = 0;
        for dir in users {
            let walk = match fs::read_dir(dir) {
                Ok(walk) => walk,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut left = 0usize;
            for entry in walk {
                let entry = entry?;
                let name = entry.file_name();
                let path = entry.path();
                if is_own(&name) {
                    match Self::read(&path)? {
                        Some((until, _)) if until > now.unix_timestamp() => left += 1,
                        // Expired, or not an entry tessera wrote.
                        _ => {
                            if unless_missing(fs::remove_file(&path).map(|()| true), false)? {
                                removed += 1;
                            }
                        }
                    }
                } else {
                    let old = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|modified| modified < stale);
                    let temporary = name.to_str().is_some_and(|n| n.starts_with(TEMP));
                    if temporary && old {
                        unless_missing(fs::remove_file(&path), ())?;
                    } else {
                        left += 1;
                    }
                }
            }
            if left == 0 {
                // Entered into meanwhile is impossible (enter holds the lock), but a stranger's
                // file may have appeared: then the directory stays.
                match fs::remove_dir(dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl UserIndex for DirUserIndex {
    async fn enter(&self, user: &str, id: &SessionId, until: OffsetDateTime) -> Result<(), Error> {
        let (user, id, until) = (user.to_owned(), id.clone(), seconds_up(until));
        self.blocking("enter a session in the user index", move |s, deadline| {
            s.enter(&user, &id, until, deadline)
        })
        .await
    }

    async fn entries(&self, user: &str) -> Result<Vec<SessionId>, Error> {
        let (user, now) = (user.to_owned(), self.state.clock.now());
        self.blocking("read the user index", move |s, _| s.entries(&user, now))
            .await
    }

    async fn remove(&self, user: &str, ids: &[SessionId]) -> Result<(), Error> {
        let (user, ids) = (user.to_owned(), ids.to_vec());
        self.blocking("remove from the user index", move |s, deadline| {
            s.remove(&user, &ids, deadline)
        })
        .await
    }

    /// One trip to list the user directories, then one per [`BATCH`] of them, each holding
    /// the lock and bounded by the store's timeout.
    async fn clear_expired(&self) -> Result<u64, Error> {
        let now = self.state.clock.now();
        let users = self
            .blocking("clear the user index", |s, _| s.users())
            .await?;
        let mut removed = 0;
        for batch in users.chunks(BATCH) {
            let batch = batch.to_vec();
            removed += self
                .blocking("clear the user index", move |s, deadline| {
                    s.clear(&batch, now, deadline)
                })
                .await?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_the_second() {
        let at = OffsetDateTime::from_unix_timestamp(100).unwrap();
        assert_eq!(seconds_up(at), 100);
        assert_eq!(seconds_up(at + time::Duration::milliseconds(1)), 101);
    }

    #[test]
    fn entries_parse_their_header_only() {
        let (until, id) = parse(b"1700000000 abc\nada \xc3\xbc").unwrap();
        assert_eq!((until, id.expose()), (1_700_000_000, "abc"));
        assert!(parse(b"x abc\nada").is_none());
        assert!(parse(b"1700000000\nada").is_none());
    }

    #[test]
    fn user_directories_are_hashes() {
        let index = DirUserIndex::new(
            Path::new("/sessions"),
            StdDuration::from_secs(1),
            crate::clock::system(),
        );
        let dir = index.state.user_dir("../../etc/passwd");
        assert_eq!(
            dir.parent(),
            Some(Path::new("/sessions").join(INDEX_DIR).as_path())
        );
        assert!(is_own(dir.file_name().unwrap()));
    }
}
