//! [`FlaskSessionFileStore`]: sessions as Flask-Session 0.8's `filesystem` backend keeps them,
//! in cachelib 0.17's `FileSystemCache` layout (feature `file`).
//!
//! - **Directory**: one, flat: Flask-Session's `SESSION_FILE_DIR` (`file:///that/dir`).
//! - **Names**: an entry is named by the SHA-256 of its key in lowercase hex, the key being
//!   `SESSION_KEY_PREFIX` + the session id (`session:` by default), as Flask-Session asks
//!   cachelib with its default `hash_method`.
//! - **Content**: a 4-byte native-order unsigned expiry, in whole Unix seconds (`0` never
//!   expires), then the record codec's bytes (pickle, for Flask-Session's real files: the
//!   store never looks inside them). Flask-Session writes `int(time()) +
//!   PERMANENT_SESSION_LIFETIME` seconds; tessera writes the record's `expires_at`, truncated
//!   to the second as cachelib's is. A record decodes with that deadline; an entry that never
//!   expires decodes without one, which gives it the profile's lifetime from the time it is
//!   read ([`RecordCodec::decode`](crate::codec::RecordCodec::decode)). An entry whose deadline has passed is no session; like
//!   cachelib's reads, a load leaves the file for pruning or
//!   [`clear_expired`](SessionStore::clear_expired) to remove.
//! - **Writes**: to `tmp<random>.__wz_cache` in the directory, given `SESSION_FILE_MODE`
//!   (`?mode=0600`, octal, the default) and renamed over the entry.
//! - **Threshold**: `SESSION_FILE_THRESHOLD` (`?threshold=500`, the default; `0` none) and
//!   cachelib's count file (`sha256("__wz_cache_count")`: a zero header and the pickled count),
//!   kept as cachelib keeps them: every write of an entry first prunes when the count is over
//!   the threshold (expired entries, then by ascending expiry), and counts a new entry, a
//!   delete uncounts one. A count file that cannot be read is recounted from the directory.
//!   Only names cachelib could have made are ever removed, and the count skips what cachelib's
//!   skips (its count file, `*.__wz_cache`).
//! - **Conditional writes**: Flask-Session's entries carry no version, so a version is a hash
//!   of the codec's bytes (not the header: a touch keeps it), compared while holding an
//!   exclusive `flock` on the directory's `.tessera-lock.__wz_cache` (a name cachelib ignores).
//!   Waiting for the lock counts against the store's timeout, so a writer stuck holding it
//!   makes others fail with [`Error::Timeout`] instead of hanging. Python's writers take no
//!   lock and write unconditionally: only updates made through tessera are protected.
//! - **Temporaries**: `*.__wz_cache` files an hour old or more are a crashed writer's, and
//!   `clear_expired` removes them (cachelib never does).
//! - **Listing**: not supported ([`list`](SessionStore::list) fails with
//!   [`Error::Unsupported`]): an entry's name is a hash of its key, and cachelib writes only the
//!   expiry and `pickle.dumps(value)` into it, the value being Flask-Session's serialised session
//!   dict, which holds no session id. No entry, Python's or tessera's, gives its id back.
//! - **Index by user** ([`user_index`](SessionStore::user_index)): in the subdirectory
//!   `.tessera-users.__wz_cache/`, a name cachelib skips like its temporaries (neither counted
//!   nor pruned nor cleared by Python), one directory per user named by the BLAKE3 hash of the
//!   user name, holding one small file per session (`<until> <id>\n<user>`), written through a
//!   temporary file and a rename under the index's own `flock`, so `until` only moves later. A
//!   save with a user costs one more small file write (or a read when the entry already lasts
//!   long enough). Flask-Session's own writes never enter sessions into it: only sessions
//!   saved through tessera are listed by user. Expired entries are skipped when read and
//!   removed, with empty user directories, by `clear_expired`.
//!
//! File I/O runs on tokio's blocking pool, bounded by the store's timeout.

mod cachelib;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use self::cachelib::{header_of, is_expired, CacheDir, COUNT_KEY};
use super::dir_user_index::DirUserIndex;
use super::{
    listing, Error, Expected, Listing, Loaded, OpenOptions, Saved, SessionStore, UserIndex,
};
use crate::clock::SharedClock;
use crate::codec::SharedCodec;
use crate::id::SessionId;
use crate::interop::Profile;
use crate::record::Record;

/// Flask-Session's `SESSION_FILE_THRESHOLD` default, what a URL without `?threshold=` gets.
///
/// ```
/// assert_eq!(tessera::store::flask_session_file::DEFAULT_THRESHOLD, 500);
/// ```
pub const DEFAULT_THRESHOLD: u64 = 500;
/// Flask-Session's `SESSION_FILE_MODE` default (`384`), what a URL without `?mode=` gets.
///
/// ```
/// assert_eq!(tessera::store::flask_session_file::DEFAULT_MODE, 384);
/// ```
pub const DEFAULT_MODE: u32 = 0o600;
/// How many entries [`SessionStore::clear_expired`] examines per hold of the lock.
const BATCH: usize = 256;

/// Sessions in a Flask-Session `filesystem` directory, cachelib's layout; see
/// [the module](self).
///
/// Open it with [`open`](crate::store::open) and the `flask-session` profile:
/// `SESSION_PROFILE=flask-session SESSION_URL=file:///srv/app/flask_session`, with
/// `?threshold=` and `?mode=` if the Flask app sets `SESSION_FILE_THRESHOLD` or
/// `SESSION_FILE_MODE`, and `SESSION_KEY_PREFIX` as the app's.
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::store::{open, OpenOptions};
/// use tessera::{ExpiryPolicy, Profile};
///
/// let options = OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
/// let store = open("file:///srv/app/flask_session?threshold=500&mode=0600", &options).await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FlaskSessionFileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cache: CacheDir,
    prefix: String,
    codec: SharedCodec,
    timeout: StdDuration,
    clock: SharedClock,
    users: DirUserIndex,
}

/// An entry as a conditional write sees it.
enum Current {
    Missing,
    /// Shorter than a header: not an entry cachelib would read, and never overwritten.
    Unreadable,
    Expired,
    Live(crate::record::Version),
}

impl FlaskSessionFileStore {
    /// A store in the directory `file:///path[?threshold=N&mode=0600]` names (created `0700`
    /// if absent), with `options`' record codec ([`OpenOptions::codec`]), key prefix, clock and
    /// timeout. Like cachelib's constructor, it recounts the directory into the count file
    /// unless the threshold is `0`.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), tessera::store::Error> {
    /// use tessera::store::flask_session_file::FlaskSessionFileStore;
    /// use tessera::store::OpenOptions;
    /// use tessera::{ExpiryPolicy, Profile};
    ///
    /// let options = OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
    /// let store = FlaskSessionFileStore::open("file:///srv/app/flask_session?mode=0640", &options).await?;
    /// # let _ = store; Ok(()) }
    /// ```
    pub async fn open(url: &str, options: &OpenOptions) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if parsed.scheme() != "file"
            || parsed
                .host_str()
                .is_some_and(|h| !h.is_empty() && h != "localhost")
        {
            return Err(bad(
                "expected file:///absolute/path (Flask-Session's SESSION_FILE_DIR)".into(),
            ));
        }
        let dir = parsed
            .to_file_path()
            .map_err(|()| bad("expected file:///absolute/path".into()))?;
        let (mut threshold, mut mode) = (DEFAULT_THRESHOLD, DEFAULT_MODE);
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "threshold" => {
                    threshold = value.parse().map_err(|_| {
                        bad(format!(
                            "threshold {value:?} is not a whole number (SESSION_FILE_THRESHOLD; 0 for no limit)"
                        ))
                    })?;
                }
                "mode" => mode = parse_mode(&value).map_err(bad)?,
                other => {
                    return Err(bad(format!(
                        "unknown parameter {other:?}; known: threshold, mode"
                    )))
                }
            }
        }
        let codec = options
            .codec_for(super::Backend::File)
            .map_err(|e| bad(e.to_string()))?;
        let store = Self {
            inner: Arc::new(Inner {
                users: DirUserIndex::new(&dir, options.timeout, options.clock.clone()),
                cache: CacheDir::new(dir, threshold, mode),
                prefix: options.key_prefix.clone(),
                codec,
                timeout: options.timeout,
                clock: options.clock.clone(),
            }),
        };
        store
            .blocking("open", |inner, deadline| {
                inner.cache.create()?;
                if inner.cache.threshold != 0 {
                    let _lock = inner.cache.lock(deadline)?;
                    inner.cache.recount(deadline)?;
                }
                Ok(())
            })
            .await?;
        Ok(store)
    }

    /// The file that holds a session: `<dir>/<sha256(key prefix + id) in hex>`.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use tessera::store::flask_session_file::FlaskSessionFileStore;
    /// use tessera::store::OpenOptions;
    /// use tessera::{ExpiryPolicy, Profile, SessionId};
    ///
    /// let options = OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
    /// let store = FlaskSessionFileStore::open("file:///srv/app/flask_session", &options).await?;
    /// let path = store.path_of(&SessionId::parse("abc")?);
    /// assert!(path.ends_with("a29d803b477eb42083ebd25596356c45c98474d5c0dacb79829833ca2176e85b"));
    /// # Ok(()) }
    /// ```
    pub fn path_of(&self, id: &SessionId) -> PathBuf {
        self.inner.cache.path_of(&self.inner.key(id))
    }

    /// The directory.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), tessera::store::Error> {
    /// use tessera::store::flask_session_file::FlaskSessionFileStore;
    /// use tessera::store::OpenOptions;
    /// use tessera::{ExpiryPolicy, Profile};
    ///
    /// let options = OpenOptions::default().with_profile(Profile::FlaskSession, ExpiryPolicy::default());
    /// let store = FlaskSessionFileStore::open("file:///srv/app/flask_session", &options).await?;
    /// assert_eq!(store.dir(), std::path::Path::new("/srv/app/flask_session"));
    /// # Ok(()) }
    /// ```
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.cache.dir
    }

    /// Runs file I/O on the blocking pool; `work` gets the instant the store's timeout ends,
    /// which bounds its waits for the lock.
    async fn blocking<T: Send + 'static>(
        &self,
        op: &'static str,
        work: impl FnOnce(&Inner, Instant) -> io::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        super::file::on_blocking_pool(self.inner.clone(), self.inner.timeout, op, work).await
    }

    /// The entry's path for `id`, unless its key is cachelib's count file's (possible only
    /// with an empty prefix).
    fn entry_of(&self, id: &SessionId) -> Option<PathBuf> {
        let key = self.inner.key(id);
        (key != COUNT_KEY).then(|| self.inner.cache.path_of(&key))
    }
}

/// An octal file mode from a URL (`0600`, `600` or `0o600`), readable and writable by the
/// owner, as tessera must read back what it writes.
fn parse_mode(value: &str) -> Result<u32, String> {
    let digits = value.strip_prefix("0o").unwrap_or(value);
    let mode = u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && !digits.is_empty())
        .ok_or_else(|| {
            format!("mode {value:?} is not an octal file mode such as 0600 (SESSION_FILE_MODE)")
        })?;
    if mode & 0o600 != 0o600 {
        return Err(format!(
            "mode {value:?} does not let the owner read and write the session files"
        ));
    }
    Ok(mode)
}

impl Inner {
    fn key(&self, id: &SessionId) -> String {
        format!("{}{}", self.prefix, id.expose())
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn current(path: &std::path::Path, now: OffsetDateTime) -> io::Result<Current> {
        Ok(match CacheDir::read(path)? {
            None => Current::Missing,
            Some(bytes) => match bytes.split_first_chunk::<4>() {
                None => Current::Unreadable,
                Some((header, _)) if is_expired(*header, now) => Current::Expired,
                Some((_, payload)) => Current::Live(crate::store::content_version(payload)),
            },
        })
    }

    /// cachelib's `set` of an entry, under the lock: prune, write, count a new file.
    fn set(
        &self,
        path: &std::path::Path,
        header: [u8; 4],
        payload: &[u8],
        now: OffsetDateTime,
        deadline: Instant,
    ) -> io::Result<()> {
        if self.cache.threshold == 0 {
            return self.cache.write(path, header, payload, deadline);
        }
        let before = self.cache.count(now)?;
        let mut count = self.cache.prune(before, now)?;
        let new = !path.exists();
        self.cache.write(path, header, payload, deadline)?;
        if new {
            count += 1;
        }
        if count != before {
            self.cache.store_count(count, deadline)?;
        }
        Ok(())
    }

    /// cachelib's `delete`, under the lock: remove and uncount.
    fn remove(
        &self,
        path: &std::path::Path,
        now: OffsetDateTime,
        deadline: Instant,
    ) -> io::Result<()> {
        let before = match self.cache.threshold {
            0 => 0,
            _ => self.cache.count(now)?,
        };
        if CacheDir::remove(path)? {
            self.cache.store_count(before - 1, deadline)?;
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for FlaskSessionFileStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let Some(path) = self.entry_of(id) else {
            return Ok(None);
        };
        // Renames are atomic: a read needs no lock.
        let Some(bytes) = self
            .blocking("load", move |_, _| CacheDir::read(&path))
            .await?
        else {
            return Ok(None);
        };
        let Some((header, payload)) = bytes.split_first_chunk::<4>() else {
            return Err(Error::corrupt(
                id,
                "the session file is shorter than cachelib's 4-byte expiry header",
            ));
        };
        let now = self.inner.now();
        if is_expired(*header, now) {
            return Ok(None);
        }
        let record = self
            .inner
            .codec
            .decode(payload, cachelib::deadline_of(*header))
            .map_err(|e| Error::undecodable(id, e))?;
        if record.is_expired(now) {
            return Ok(None);
        }
        Ok(Some(Loaded {
            record,
            version: crate::store::content_version(payload),
        }))
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let path = self.entry_of(id).ok_or_else(|| Error::RefusedId {
            id: id.clone(),
            reason: "with an empty key prefix, this id would name cachelib's count file",
        })?;
        let payload = self
            .inner
            .codec
            .encode(record)
            .map_err(|e| Error::unencodable(id, e))?;
        let version = crate::store::content_version(&payload);
        let header = header_of(record.expires_at);
        let now = self.inner.now();
        let expired = record.is_expired(now);
        self.blocking("save", move |inner, deadline| {
            let _lock = inner.cache.lock(deadline)?;
            let allowed = match (Inner::current(&path, now)?, expected) {
                (Current::Missing | Current::Expired, Expected::Absent) => true,
                (Current::Live(current), Expected::Version(v)) => current == v,
                _ => false,
            };
            if !allowed {
                return Ok(Saved::Conflict);
            }
            if expired {
                inner.remove(&path, now, deadline)?;
            } else {
                inner.set(&path, header, &payload, now, deadline)?;
            }
            Ok(Saved::Written(version))
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let Some(path) = self.entry_of(id) else {
            return Ok(());
        };
        let now = self.inner.now();
        self.blocking("delete", move |inner, deadline| {
            let _lock = inner.cache.lock(deadline)?;
            inner.remove(&path, now, deadline)
        })
        .await
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let Some(path) = self.entry_of(id) else {
            return Ok(false);
        };
        let now = self.inner.now();
        self.blocking("touch", move |inner, deadline| {
            let _lock = inner.cache.lock(deadline)?;
            let Some(bytes) = CacheDir::read(&path)? else {
                return Ok(false);
            };
            match bytes.split_first_chunk::<4>() {
                Some((header, payload)) if !is_expired(*header, now) => {
                    // The same bytes behind a new header: the version is theirs, so it stays.
                    inner
                        .cache
                        .write(&path, header_of(expires_at), payload, deadline)?;
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

    /// One batch per hold of the lock, the running total reported after each batch that
    /// removed something, and once at the end. Expired entries of the index by user go first
    /// (not counted: the total is of sessions).
    async fn clear_expired_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        self.inner.users.clear_expired().await?;
        let now = self.inner.now();
        let entries = self
            .blocking("clear_expired", |inner, _| {
                inner.cache.remove_stale_temporaries()?;
                inner.cache.entries()
            })
            .await?;
        let mut removed = 0;
        for batch in entries.chunks(BATCH) {
            let batch = batch.to_vec();
            let in_batch = self
                .blocking("clear_expired", move |inner, deadline| {
                    let _lock = inner.cache.lock(deadline)?;
                    let before = match inner.cache.threshold {
                        0 => 0,
                        _ => inner.cache.count(now)?,
                    };
                    let mut removed = 0u64;
                    for path in &batch {
                        if CacheDir::expired_entry(path, now)? && CacheDir::remove(path)? {
                            removed += 1;
                        }
                    }
                    if removed > 0 {
                        let count = before - i64::try_from(removed).unwrap_or(i64::MAX);
                        inner.cache.store_count(count, deadline)?;
                    }
                    Ok(removed)
                })
                .await?;
            removed += in_batch;
            if in_batch > 0 {
                progress(removed);
            }
        }
        // Progress is reported at least once, ending at the total.
        if removed == 0 {
            progress(0);
        }
        Ok(removed)
    }

    fn list(&self) -> Listing<'_> {
        listing::unsupported(
            "Flask-Session's filesystem store",
            "cachelib names each entry by a hash of its key and keeps no key inside it",
        )
    }

    fn profile(&self) -> Profile {
        self.inner.codec.profile()
    }

    /// The index in the directory's `.tessera-users.__wz_cache/` (see [the module](self)).
    fn user_index(&self) -> Result<&dyn UserIndex, Error> {
        Ok(&self.inner.users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_and_owner_readable() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("640"), Ok(0o640));
        assert_eq!(parse_mode("0o644"), Ok(0o644));
        for bad in ["", "0o", "0800", "384x", "17777", "0400", "0200", "-600"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn urls() {
        let options = OpenOptions::default()
            .with_profile(Profile::FlaskSession, crate::ExpiryPolicy::default());
        for bad in [
            "file://host/dir",
            "file:///tmp/x?size=1",
            "file:///tmp/x?threshold=-1",
            "file:///tmp/x?mode=rw",
            "file:///tmp/x?mode=0000",
            "memory://",
        ] {
            let err = FlaskSessionFileStore::open(bad, &options).await;
            assert!(matches!(err, Err(Error::BadUrl { .. })), "{bad}: {err:?}");
        }
        let flask =
            OpenOptions::default().with_profile(Profile::Flask, crate::ExpiryPolicy::default());
        let err = FlaskSessionFileStore::open("file:///tmp/x", &flask).await;
        assert!(matches!(err, Err(Error::BadUrl { .. })), "{err:?}");
    }
}
