//! [`DjangoFileStore`]: sessions as Django 5.2's `file` engine keeps them (feature `file`).
//!
//! One file per session in `SESSION_FILE_PATH`, named `<SESSION_COOKIE_NAME><session_key>`
//! (`sessionid3c0…`), holding `session_data` exactly: `signing.dumps(dict,
//! salt="django.contrib.sessions.SessionStore", compress=True)`. A session's deadline is the
//! date in `_session_expiry` if it holds one, otherwise the file's modification time plus the
//! age (`_session_expiry` seconds, else `SESSION_COOKIE_AGE`), which is how Django judges it.
//! tessera therefore sets a file's mtime to the deadline minus that age when it writes or
//! touches it.
//!
//! Writes follow Django's rules, so either side can read what the other writes at any moment:
//! a new session claims its name with `O_EXCL` (an empty placeholder, which readers take for no
//! session), and content is written to `<name>_out_<random>` in the same directory and renamed
//! over the session file. Django's rows carry no version, so a conditional write compares a hash
//! of the file's content while it holds an exclusive `flock` on the file (re-checking after the
//! lock that the name still points to the locked file): tessera writers never lose each other's
//! updates. Django itself writes without a lock or a condition, so only updates made through
//! tessera are protected.
//!
//! The index of sessions by user ([`user_index`](SessionStore::user_index)) lives in the
//! subdirectory `.tessera-users.__wz_cache/`, which Django never reads (its name does not
//! start with the cookie name): one directory per user, named by the BLAKE3 hash of the user
//! name, holding one small file per session (`<until> <id>\n<user>`), written through a
//! temporary file and a rename under the index's own `flock`, so `until` only moves later. A
//! save with a user costs one more small file write (or a read when the entry already lasts
//! long enough). Django's own writes never enter sessions into it: only sessions saved through
//! tessera are listed by user. Expired entries are skipped when read and removed, with empty
//! user directories, by [`clear_expired`](SessionStore::clear_expired).

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, SystemTime};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::dir_listing::{self, unless_gone, SessionDir};
use super::dir_user_index::DirUserIndex;
use super::file::{in_time, lock_until};
use super::{
    Error, Expected, Listed, Listing, Loaded, OpenOptions, Saved, SessionStore, UserIndex,
};
use crate::clock::SharedClock;
use crate::crypto::KeyRing;
use crate::expiry::Expiry;
use crate::id::SessionId;
use crate::interop::django::{decode_session_data, encode_session_data};
use crate::interop::Profile;
use crate::record::{Record, Version};

/// Sessions as Django's `file` engine keeps them; see [the module](self).
///
/// Open it with [`open`](crate::store::open) and the `django` profile:
/// `SESSION_PROFILE=django SESSION_URL=file:///var/lib/django/sessions` (Django's
/// `SESSION_FILE_PATH`), with `SESSION_COOKIE_NAME` and `SESSION_COOKIE_AGE` as Django's, and
/// its `SECRET_KEY` (and fallbacks).
///
/// ```no_run
/// # async fn example() -> Result<(), tessera::store::Error> {
/// use tessera::crypto::{KeyRing, SecretKey};
/// use tessera::store::{open, OpenOptions};
/// use tessera::{ExpiryPolicy, Profile};
///
/// let keys = KeyRing::new(SecretKey::new("the Django project's SECRET_KEY, 32+ bytes").unwrap());
/// let options = OpenOptions::default()
///     .with_profile(Profile::Django, ExpiryPolicy::default())
///     .with_keys(keys)
///     .with_cookie_name("sessionid");
/// let store = open("file:///var/lib/django/sessions", &options).await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DjangoFileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    cookie_name: String,
    cookie_age: Duration,
    keys: KeyRing,
    timeout: StdDuration,
    clock: SharedClock,
    users: DirUserIndex,
}

/// A session file as read under its lock (or without one, for a load).
struct Current {
    content: String,
    modified: OffsetDateTime,
}

impl DjangoFileStore {
    /// A store in the directory a `file:///path` URL names (created `0700` if absent), with
    /// `options`' keys, cookie name, policy (its lifetime is `SESSION_COOKIE_AGE`), clock and
    /// timeout.
    pub async fn open(url: &str, options: &OpenOptions) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "file" || parsed.query().is_some() {
            return Err(bad(
                "expected file:///absolute/path (Django's SESSION_FILE_PATH), without parameters",
            ));
        }
        let dir = parsed
            .to_file_path()
            .map_err(|()| bad("expected file:///absolute/path"))?;
        let keys = options.keys.clone().ok_or_else(|| {
            bad("Django's session files are signed: set SECRET_KEY (and SECRET_KEY_FALLBACKS) to the Django project's")
        })?;
        let store = Self {
            inner: Arc::new(Inner {
                users: DirUserIndex::new(&dir, options.timeout, options.clock.clone()),
                dir,
                cookie_name: options.cookie_name.clone(),
                cookie_age: options.policy.lifetime(),
                keys,
                timeout: options.timeout,
                clock: options.clock.clone(),
            }),
        };
        store
            .blocking("open", |inner, _| {
                let mut builder = fs::DirBuilder::new();
                builder.recursive(true);
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                builder.create(&inner.dir)
            })
            .await?;
        Ok(store)
    }

    /// The file that holds a session (`<dir>/<cookie name><key>`), or `None` for a key Django
    /// would not make.
    pub fn path_of(&self, id: &SessionId) -> Option<PathBuf> {
        self.inner.path_of(id)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        op: &'static str,
        work: impl FnOnce(&Inner, Instant) -> io::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        super::file::on_blocking_pool(self.inner.clone(), self.inner.timeout, op, work).await
    }
}

/// The conditional-write token of a file (`crate::store::content_version`).
fn content_version(content: &str) -> Version {
    crate::store::content_version(content.as_bytes())
}

fn unix_seconds(at: SystemTime) -> OffsetDateTime {
    let seconds = match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    };
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn system_time(at: OffsetDateTime) -> SystemTime {
    let seconds = at.unix_timestamp();
    match u64::try_from(seconds) {
        Ok(s) => SystemTime::UNIX_EPOCH + StdDuration::from_secs(s),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

/// Whether the name still points to the file `file` has open (a writer renames over names).
#[cfg(unix)]
fn same_file(file: &fs::File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata()?;
    match fs::metadata(path) {
        Ok(named) => Ok(open.dev() == named.dev() && open.ino() == named.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn same_file(_file: &fs::File, path: &Path) -> io::Result<bool> {
    Ok(path.exists())
}

impl Inner {
    fn path_of(&self, id: &SessionId) -> Option<PathBuf> {
        Profile::Django.accepts_id(id).then(|| {
            self.dir
                .join(format!("{}{}", self.cookie_name, id.expose()))
        })
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The age Django adds to the file's mtime for a session with this expiry.
    fn age_of(&self, expiry: Expiry) -> Option<Duration> {
        match expiry {
            Expiry::At(_) => None,
            Expiry::Age(age) => Some(age),
            Expiry::Default | Expiry::BrowserClose => Some(self.cookie_age),
        }
    }

    /// The record in `current`, its deadline judged as Django's `_expiry_date` does.
    fn decode(&self, current: &Current) -> Result<Record, crate::interop::django::LoadError> {
        let mut record = decode_session_data(&self.keys, &current.content, current.modified)?;
        record.expires_at = match (record.expiry, self.age_of(record.expiry)) {
            (Expiry::At(at), _) => at,
            (_, Some(age)) => current.modified + age,
            (_, None) => current.modified,
        };
        Ok(record)
    }

    /// The deadline of a file whose content may not decode: Django falls back to the mtime
    /// plus `SESSION_COOKIE_AGE`.
    fn deadline(&self, current: &Current) -> OffsetDateTime {
        self.decode(current)
            .map_or(current.modified + self.cookie_age, |r| r.expires_at)
    }

    /// The mtime that makes Django see `record`'s deadline.
    fn mtime_for(&self, record: &Record, now: OffsetDateTime) -> OffsetDateTime {
        self.age_of(record.expiry)
            .map_or(now, |age| record.expires_at - age)
    }

    fn read(file: &mut fs::File) -> io::Result<Current> {
        let mut content = String::new();
        // The handle is the locked one; `fs::read_to_string` would open the path again.
        #[allow(clippy::verbose_file_reads)]
        file.read_to_string(&mut content)?;
        let modified = unix_seconds(file.metadata()?.modified()?);
        Ok(Current { content, modified })
    }

    /// Opens `path` and holds its lock, retrying while writers rename over it; `None` if it
    /// does not exist.
    fn lock(path: &Path, deadline: Instant) -> io::Result<Option<fs::File>> {
        loop {
            let file = match fs::OpenOptions::new().read(true).write(true).open(path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            lock_until(&file, deadline)?;
            if same_file(&file, path)? {
                return Ok(Some(file));
            }
        }
    }

    /// Django's write: a temporary file beside the session, renamed over it.
    fn write(
        path: &Path,
        content: &str,
        mtime: OffsetDateTime,
        deadline: Instant,
    ) -> io::Result<()> {
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(io::Error::other)?;
        let mut name = path.as_os_str().to_owned();
        name.push(format!("_out_{:016x}", u64::from_ne_bytes(suffix)));
        let temp = PathBuf::from(name);
        let result = (|| {
            let mut options = fs::OpenOptions::new();
            options.create_new(true).write(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            file.write_all(content.as_bytes())?;
            file.flush()?;
            file.set_modified(system_time(mtime))?;
            in_time(deadline)?;
            fs::rename(&temp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    fn save(
        &self,
        path: &Path,
        record: &Record,
        expected: Expected,
        now: OffsetDateTime,
        deadline: Instant,
    ) -> io::Result<Saved> {
        let expired = record.is_expired(now);
        let content = encode_session_data(&self.keys, record, now);
        let version = content_version(&content);
        let mtime = self.mtime_for(record, now);
        match expected {
            Expected::Absent => {
                let mut claim = fs::OpenOptions::new();
                claim.create_new(true).write(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut claim, 0o600);
                match claim.open(path) {
                    Ok(placeholder) => {
                        if expired {
                            drop(placeholder);
                            let _ = fs::remove_file(path);
                            return Ok(Saved::Written(Version::FIRST));
                        }
                        lock_until(&placeholder, deadline)?;
                        Self::write(path, &content, mtime, deadline)?;
                        Ok(Saved::Written(version))
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        // Only an expired session may be replaced.
                        let Some(mut file) = Self::lock(path, deadline)? else {
                            return Ok(Saved::Conflict);
                        };
                        let current = Self::read(&mut file)?;
                        if current.content.is_empty() || self.deadline(&current) > now {
                            return Ok(Saved::Conflict);
                        }
                        if expired {
                            fs::remove_file(path)?;
                            return Ok(Saved::Written(Version::FIRST));
                        }
                        Self::write(path, &content, mtime, deadline)?;
                        Ok(Saved::Written(version))
                    }
                    Err(e) => Err(e),
                }
            }
            Expected::Version(v) => {
                let Some(mut file) = Self::lock(path, deadline)? else {
                    return Ok(Saved::Conflict);
                };
                let current = Self::read(&mut file)?;
                let live = !current.content.is_empty() && self.deadline(&current) > now;
                if !live || content_version(&current.content) != v {
                    return Ok(Saved::Conflict);
                }
                if expired {
                    fs::remove_file(path)?;
                } else {
                    Self::write(path, &content, mtime, deadline)?;
                }
                Ok(Saved::Written(version))
            }
        }
    }
}

impl SessionDir for Inner {
    fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file named `<cookie name><key>` for a key Django makes (so not a `_out_` temporary),
    /// its deadline judged as a load judges it: the signed data holds `_session_expiry`, so
    /// each file is read whole.
    fn listed(&self, entry: &fs::DirEntry) -> io::Result<Option<Listed>> {
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix(self.cookie_name.as_str()))
            .and_then(|key| SessionId::parse(key).ok())
            .filter(|id| Profile::Django.accepts_id(id))
        else {
            return Ok(None);
        };
        unless_gone((|| {
            let current = Self::read(&mut fs::File::open(entry.path())?)?;
            // An empty file is a placeholder for a session being created.
            if current.content.is_empty() {
                return Ok(None);
            }
            let size = u64::try_from(current.content.len()).unwrap_or(u64::MAX);
            Ok(Some(Listed::new(id, size, Some(self.deadline(&current)))))
        })())
    }
}

#[async_trait]
impl SessionStore for DjangoFileStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let Some(path) = self.path_of(id) else {
            return Ok(None);
        };
        let current = self
            .blocking("load", move |_, _| {
                let mut file = match fs::File::open(&path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e),
                };
                Inner::read(&mut file).map(Some)
            })
            .await?;
        // An empty file is Django's placeholder for a session being created.
        let Some(current) = current.filter(|c| !c.content.is_empty()) else {
            return Ok(None);
        };
        let record = self
            .inner
            .decode(&current)
            .map_err(|e| Error::corrupt(id, e))?;
        if record.is_expired(self.inner.now()) {
            return Ok(None);
        }
        Ok(Some(Loaded {
            record,
            version: content_version(&current.content),
        }))
    }

    async fn save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let path = self.path_of(id).ok_or_else(|| Error::RefusedId {
            id: id.clone(),
            reason: "Django's session keys are 8 to 40 characters of a-z and 0-9",
        })?;
        let record = record.clone();
        let now = self.inner.now();
        self.blocking("save", move |inner, deadline| {
            inner.save(&path, &record, expected, now, deadline)
        })
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<(), Error> {
        let Some(path) = self.path_of(id) else {
            return Ok(());
        };
        self.blocking("delete", move |_, _| match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, Error> {
        let Some(path) = self.path_of(id) else {
            return Ok(false);
        };
        let now = self.inner.now();
        self.blocking("touch", move |inner, deadline| {
            let Some(mut file) = Inner::lock(&path, deadline)? else {
                return Ok(false);
            };
            let current = Inner::read(&mut file)?;
            let Ok(record) = inner.decode(&current) else {
                return Ok(false);
            };
            if current.content.is_empty() || record.is_expired(now) {
                return Ok(false);
            }
            // A session that expires at a date keeps it; the others move with the mtime.
            if let Some(age) = inner.age_of(record.expiry) {
                file.set_modified(system_time(expires_at - age))?;
            }
            Ok(true)
        })
        .await
    }

    /// Also removes the index's expired entries (not counted: the total is of sessions).
    async fn clear_expired(&self) -> Result<u64, Error> {
        self.inner.users.clear_expired().await?;
        let now = self.inner.now();
        self.blocking("clear_expired", move |inner, deadline| {
            let mut removed = 0;
            for entry in fs::read_dir(&inner.dir)? {
                let entry = entry?;
                let name = entry.file_name();
                let Some(key) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix(inner.cookie_name.as_str()))
                else {
                    continue;
                };
                let Ok(id) = SessionId::parse(key) else {
                    continue;
                };
                let Some(path) = inner.path_of(&id) else {
                    continue;
                };
                let Some(mut file) = Inner::lock(&path, deadline)? else {
                    continue;
                };
                let current = Inner::read(&mut file)?;
                if inner.deadline(&current) < now {
                    match fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(removed)
        })
        .await
    }

    fn list(&self) -> Listing<'_> {
        dir_listing::list(self.inner.clone(), self.inner.timeout)
    }

    fn profile(&self) -> Profile {
        Profile::Django
    }

    /// The index in the directory's `.tessera-users.__wz_cache/` (see [the module](self)).
    fn user_index(&self) -> Result<&dyn UserIndex, Error> {
        Ok(&self.inner.users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_round_trip_to_the_second() {
        let at = datetime!(2030-01-02 03:04:05 UTC);
        assert_eq!(unix_seconds(system_time(at)), at);
    }

    #[test]
    fn versions_follow_the_content() {
        assert_eq!(content_version("a"), content_version("a"));
        assert_ne!(content_version("a"), content_version("b"));
    }
}
