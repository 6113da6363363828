//! cachelib 0.17's `FileSystemCache` directory, as Flask-Session 0.8's `filesystem` backend
//! makes it: entry names, the expiry header, the count file, temporaries and pruning. Knows
//! nothing of sessions or codecs: an entry is a 4-byte header and opaque bytes.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The suffix of cachelib's temporary files (`_fs_transaction_suffix`); cachelib counts no
/// file ending in it.
pub(super) const TEMP_SUFFIX: &str = ".__wz_cache";
/// The key of cachelib's count file (`_fs_count_file`), named like any entry.
pub(super) const COUNT_KEY: &str = "__wz_cache_count";
/// The file tessera's writers lock. Its name ends in [`TEMP_SUFFIX`], so cachelib neither
/// counts, prunes nor clears it.
const LOCK_NAME: &str = ".tessera-lock.__wz_cache";
/// Temporaries older than this are a crashed writer's (cachelib's writers take milliseconds).
const STALE_AFTER: StdDuration = StdDuration::from_secs(3600);

/// An entry's file name: the SHA-256 of its key in lowercase hex (cachelib's default
/// `hash_method`, which Flask-Session does not change).
pub(super) fn file_name(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The header for a deadline: its whole Unix seconds (`struct.pack("I", …)`, native order).
/// `0` means "never expires" to cachelib, so a deadline at or before 1970 is written as `1`
/// (long expired); one past 2106 as `u32::MAX`.
pub(super) fn header_of(at: OffsetDateTime) -> [u8; 4] {
    let seconds = u32::try_from(at.unix_timestamp().max(1)).unwrap_or(u32::MAX);
    seconds.to_ne_bytes()
}

/// The deadline a header names; `None` for `0`, an entry that never expires.
pub(super) fn deadline_of(header: [u8; 4]) -> Option<OffsetDateTime> {
    match u32::from_ne_bytes(header) {
        0 => None,
        // Every u32 is a valid timestamp (1970 to 2106).
        seconds => OffsetDateTime::from_unix_timestamp(i64::from(seconds)).ok(),
    }
}

/// Whether an entry with this header has expired by `now`. cachelib keeps an entry while
/// `header >= time()`; tessera's stores hold a record expired once `expires_at <= now`, which
/// differs only at the exact instant of the deadline.
pub(super) fn is_expired(header: [u8; 4], now: OffsetDateTime) -> bool {
    deadline_of(header).is_some_and(|at| at <= now)
}

/// cachelib's count file content for `count`: a zero header (no expiry), then
/// `pickle.dumps(count, HIGHEST_PROTOCOL)` as Python 3.8+ writes it (protocol 5, framed once
/// the opcodes reach 4 bytes).
pub(super) fn count_bytes(count: i64) -> Vec<u8> {
    let mut op = Vec::with_capacity(12);
    if let Ok(small) = u8::try_from(count) {
        op.extend([b'K', small]); // BININT1
    } else if let Ok(medium) = u16::try_from(count) {
        op.push(b'M'); // BININT2
        op.extend(medium.to_le_bytes());
    } else if let Ok(int) = i32::try_from(count) {
        op.push(b'J'); // BININT
        op.extend(int.to_le_bytes());
    } else {
        // LONG1: the shortest little-endian two's complement.
        let bytes = count.to_le_bytes();
        let mut len = 8;
        while len > 1 {
            let top = bytes[len - 1];
            let below_sign = bytes[len - 2] & 0x80;
            if (top == 0 && below_sign == 0) || (top == 0xff && below_sign != 0) {
                len -= 1;
            } else {
                break;
            }
        }
        op.extend([0x8a, len as u8]);
        op.extend(&bytes[..len]);
    }
    op.push(b'.'); // STOP
    let mut out = vec![0, 0, 0, 0, 0x80, 5];
    if op.len() >= 4 {
        out.push(0x95); // FRAME
        out.extend((op.len() as u64).to_le_bytes());
    }
    out.extend(op);
    out
}

/// The count in a count file, if it is a pickled int under a live header (protocols 2 to 5,
/// framed or not); `None` for anything else, which the caller recounts.
pub(super) fn parse_count(bytes: &[u8], now: OffsetDateTime) -> Option<i64> {
    let header: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    // cachelib's `get` reads an expired count file as no count.
    if is_expired(header, now) {
        return None;
    }
    let mut rest = bytes.get(4..)?;
    if let [0x80, 2..=5, tail @ ..] = rest {
        rest = tail;
    }
    if let [0x95, tail @ ..] = rest {
        rest = tail.get(8..)?;
    }
    let (value, tail) = match rest {
        [b'K', b, tail @ ..] => (i64::from(*b), tail),
        [b'M', a, b, tail @ ..] => (i64::from(u16::from_le_bytes([*a, *b])), tail),
        [b'J', a, b, c, d, tail @ ..] => (i64::from(i32::from_le_bytes([*a, *b, *c, *d])), tail),
        [0x8a, len @ 1..=8, tail @ ..] => {
            let len = usize::from(*len);
            let digits = tail.get(..len)?;
            let fill = if digits[len - 1] & 0x80 != 0 { 0xff } else { 0 };
            let mut le = [fill; 8];
            le[..len].copy_from_slice(digits);
            (i64::from_le_bytes(le), &tail[len..])
        }
        _ => return None,
    };
    (tail == b".").then_some(value)
}

/// Whether cachelib leaves this name out of its count (`_is_mgmt`): the count file and
/// anything ending in [`TEMP_SUFFIX`].
fn is_management(name: &str, count_name: &str) -> bool {
    name == count_name || name.ends_with(TEMP_SUFFIX)
}

/// Whether a name is one cachelib could have given an entry: 64 lowercase hex digits, other
/// than the count file's. Only these are ever read as entries or removed.
pub(super) fn is_entry_name(name: &str, count_name: &str) -> bool {
    name.len() == 64
        && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && name != count_name
}

/// A cachelib directory: where entries live, its threshold and file mode.
#[derive(Debug)]
pub(super) struct CacheDir {
    pub(super) dir: PathBuf,
    /// `SESSION_FILE_THRESHOLD`; `0` is no limit, and no count file is kept.
    pub(super) threshold: u64,
    /// `SESSION_FILE_MODE`, set on every file written.
    pub(super) mode: u32,
    count_name: String,
}

/// The directory's lock, held while it lives.
#[must_use]
pub(super) struct Locked {
    _file: fs::File,
}

/// The error for an operation that ran out of time.
pub(super) fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

impl CacheDir {
    pub(super) fn new(dir: PathBuf, threshold: u64, mode: u32) -> Self {
        Self {
            dir,
            threshold,
            mode,
            count_name: file_name(COUNT_KEY),
        }
    }

    /// The path of the entry for `key`.
    pub(super) fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(file_name(key))
    }

    /// Creates the directory (`0700`) if absent.
    pub(super) fn create(&self) -> io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir)
    }

    /// Takes the lock tessera's writers share, waiting for it until `deadline` at most: a
    /// writer stuck holding it makes others time out, never hang.
    pub(super) fn lock(&self, deadline: Instant) -> io::Result<Locked> {
        let mut options = fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(self.dir.join(LOCK_NAME))?;
        super::super::file::lock_until(&file, deadline)?;
        Ok(Locked { _file: file })
    }

    /// The whole file at `path`, if it exists.
    pub(super) fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The header of the entry at `path`: `None` if it is gone or shorter than 4 bytes (which
    /// cachelib skips with a warning).
    fn read_header(path: &Path) -> io::Result<Option<[u8; 4]>> {
        let mut file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut header = [0u8; 4];
        match file.read_exact(&mut header) {
            Ok(()) => Ok(Some(header)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// cachelib's write: `header` and `payload` to `tmp….__wz_cache` in the directory, given
    /// the mode and renamed over `path`. cachelib sets the mode after the rename; setting it on
    /// the temporary leaves the same file without a moment at `0600`. Gives up, removing the
    /// temporary, if `deadline` passed before the rename.
    pub(super) fn write(
        &self,
        path: &Path,
        header: [u8; 4],
        payload: &[u8],
        deadline: Instant,
    ) -> io::Result<()> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(io::Error::other)?;
        let temp = self.dir.join(format!(
            "tmp{:016x}{TEMP_SUFFIX}",
            u64::from_ne_bytes(random)
        ));
        let result = (|| {
            let mut options = fs::OpenOptions::new();
            options.create_new(true).write(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            file.write_all(&header)?;
            file.write_all(payload)?;
            file.flush()?;
            #[cfg(unix)]
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(self.mode))?;
            if Instant::now() >= deadline {
                return Err(timed_out("the write ran past the store's timeout"));
            }
            fs::rename(&temp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Removes `path`; false if it was already gone.
    pub(super) fn remove(path: &Path) -> io::Result<bool> {
        match fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The names cachelib counts (`_list_dir`): everything but its management files, in the
    /// directory's order.
    fn listing(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if !is_management(&name, &self.count_name) {
                out.push(name.into_owned());
            }
        }
        Ok(out)
    }

    /// The paths of the files that may be entries ([`is_entry_name`]).
    pub(super) fn entries(&self) -> io::Result<Vec<PathBuf>> {
        Ok(self
            .listing()?
            .into_iter()
            .filter(|name| is_entry_name(name, &self.count_name))
            .map(|name| self.dir.join(name))
            .collect())
    }

    /// The count cachelib keeps: the count file's, or, when it is missing or unreadable, the
    /// names cachelib would count.
    pub(super) fn count(&self, now: OffsetDateTime) -> io::Result<i64> {
        let stored = Self::read(&self.dir.join(&self.count_name))?;
        match stored.and_then(|bytes| parse_count(&bytes, now)) {
            Some(count) => Ok(count),
            None => Ok(self.listing()?.len() as i64),
        }
    }

    /// Writes the count file as cachelib does (`_update_count`), unless the threshold is off.
    pub(super) fn store_count(&self, count: i64, deadline: Instant) -> io::Result<()> {
        if self.threshold == 0 {
            return Ok(());
        }
        let path = self.dir.join(&self.count_name);
        self.write(&path, [0; 4], &count_bytes(count)[4..], deadline)
    }

    /// Counts the names cachelib counts and writes the count file, as cachelib's constructor
    /// does.
    pub(super) fn recount(&self, deadline: Instant) -> io::Result<()> {
        if self.threshold == 0 {
            return Ok(());
        }
        let count = self.listing()?.len() as i64;
        self.store_count(count, deadline)
    }

    /// cachelib's `_prune`, run before every write of an entry, given the current count;
    /// returns the count after it. Over the threshold, it removes the expired entries, then,
    /// if still over, entries by ascending header (so entries that never expire, header `0`,
    /// go first, as in cachelib) until the count is back at the threshold.
    ///
    /// Two differences, both only where cachelib would go wrong: once over the threshold, the
    /// count is taken from the listing (which cachelib's count file should equal), so a count
    /// file that drifted upwards cannot make every write empty the directory; and only names
    /// cachelib could have made ([`is_entry_name`]) are removed, never a stranger's file.
    pub(super) fn prune(&self, count: i64, now: OffsetDateTime) -> io::Result<i64> {
        let threshold = i64::try_from(self.threshold).unwrap_or(i64::MAX);
        if self.threshold == 0 || count <= threshold {
            return Ok(count);
        }
        let listing = self.listing()?;
        let mut count = listing.len() as i64;
        if count <= threshold {
            return Ok(count);
        }
        let mut live = Vec::new();
        for name in listing {
            if !is_entry_name(&name, &self.count_name) {
                continue;
            }
            let path = self.dir.join(name);
            match Self::read_header(&path)? {
                Some(header) if is_expired(header, now) => count -= i64::from(Self::remove(&path)?),
                Some(header) => live.push((u32::from_ne_bytes(header), path)),
                None => {}
            }
        }
        if count > threshold {
            // Stable, as Python's `sorted`: equal headers go in the directory's order.
            live.sort_by_key(|(header, _)| *header);
            for (_, path) in &live {
                if Self::remove(path)? {
                    count -= 1;
                }
                if count <= threshold {
                    break;
                }
            }
        }
        Ok(count)
    }

    /// Removes temporaries crashed writers left (an hour old or more); never the lock nor the
    /// index by user (both named like temporaries so that cachelib skips them).
    pub(super) fn remove_stale_temporaries(&self) -> io::Result<u64> {
        let cutoff = SystemTime::now() - STALE_AFTER;
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let temporary = name.to_str().is_some_and(|n| {
                n.ends_with(TEMP_SUFFIX)
                    && n != LOCK_NAME
                    && n != crate::store::dir_user_index::INDEX_DIR
            });
            if !temporary {
                continue;
            }
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < cutoff);
            if stale && Self::remove(&entry.path())? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Whether `path` is an entry whose header has expired by `now` (for a removal under the
    /// lock).
    pub(super) fn expired_entry(path: &Path, now: OffsetDateTime) -> io::Result<bool> {
        Ok(Self::read_header(path)?.is_some_and(|h| is_expired(h, now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_are_sha256_hex_of_the_key() {
        assert_eq!(
            file_name("session:abc"),
            "a29d803b477eb42083ebd25596356c45c98474d5c0dacb79829833ca2176e85b"
        );
        assert_eq!(
            file_name(COUNT_KEY),
            "79bc207ee04a581ab2348ca1f3494e64cd0ec36128735b8c6bc85ddd8fe1938c"
        );
        let count = file_name(COUNT_KEY);
        assert!(is_entry_name(&file_name("session:abc"), &count));
        assert!(!is_entry_name(&count, &count));
        assert!(!is_entry_name(&file_name("x").to_uppercase(), &count));
        assert!(!is_entry_name("tmpabc.__wz_cache", &count));
        assert!(is_management("tmpabc.__wz_cache", &count));
        assert!(is_management(LOCK_NAME, &count));
        assert!(!is_management("README", &count));
    }

    #[test]
    fn headers_are_native_u32_seconds_and_zero_never_expires() {
        let at = datetime!(2030-01-01 0:00:00.75 UTC);
        assert_eq!(header_of(at), 1_893_456_000u32.to_ne_bytes());
        assert_eq!(
            deadline_of(header_of(at)),
            Some(datetime!(2030-01-01 0:00 UTC))
        );
        assert_eq!(deadline_of([0; 4]), None);
        assert_eq!(header_of(OffsetDateTime::UNIX_EPOCH), 1u32.to_ne_bytes());
        assert_eq!(header_of(datetime!(2200-01-01 0:00 UTC)), [0xff; 4]);
        assert!(!is_expired([0; 4], datetime!(2100-01-01 0:00 UTC)));
        assert!(is_expired(header_of(at), datetime!(2030-01-01 0:00 UTC)));
        assert!(!is_expired(
            header_of(at),
            datetime!(2029-12-31 23:59:59 UTC)
        ));
    }

    /// `pickle.dumps(n, pickle.HIGHEST_PROTOCOL)` from Python 3.11, behind a zero header.
    #[test]
    fn counts_are_the_bytes_python_pickles() {
        let now = datetime!(2030-01-01 0:00 UTC);
        for (n, pickle) in [
            (0, &b"\x80\x05K\x00."[..]),
            (255, b"\x80\x05K\xff."),
            (
                256,
                b"\x80\x05\x95\x04\x00\x00\x00\x00\x00\x00\x00M\x00\x01.",
            ),
            (300, b"\x80\x05\x95\x04\x00\x00\x00\x00\x00\x00\x00M,\x01."),
            (
                65536,
                b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00J\x00\x00\x01\x00.",
            ),
            (
                -1,
                b"\x80\x05\x95\x06\x00\x00\x00\x00\x00\x00\x00J\xff\xff\xff\xff.",
            ),
            (
                2_147_483_648,
                b"\x80\x05\x95\x08\x00\x00\x00\x00\x00\x00\x00\x8a\x05\x00\x00\x00\x80\x00.",
            ),
            (
                4_294_967_296,
                b"\x80\x05\x95\x08\x00\x00\x00\x00\x00\x00\x00\x8a\x05\x00\x00\x00\x00\x01.",
            ),
        ] {
            let bytes = count_bytes(n);
            assert_eq!(&bytes[..4], [0; 4]);
            assert_eq!(&bytes[4..], pickle, "{n}");
            assert_eq!(parse_count(&bytes, now), Some(n), "{n}");
        }
        for n in [i64::MIN, i64::MAX, -129, 1 << 40] {
            assert_eq!(parse_count(&count_bytes(n), now), Some(n), "{n}");
        }
    }

    #[test]
    fn unreadable_counts_are_none() {
        let now = datetime!(2030-01-01 0:00 UTC);
        // Protocol 2 (unframed) is read too.
        assert_eq!(parse_count(b"\0\0\0\0\x80\x02K\x07.", now), Some(7));
        for bad in [
            &b""[..],
            b"\0\0\0",
            b"\0\0\0\0",
            b"\0\0\0\0\x80\x05K\x07",
            b"\0\0\0\0\x80\x05K\x07.x",
            b"\0\0\0\0\x80\x05}\x94.",
            b"\0\0\0\0\x80\x05\x95\x04",
            b"\0\0\0\0\x80\x05\x8a\x09\0\0\0\0\0\0\0\0\0.",
        ] {
            assert_eq!(parse_count(bad, now), None, "{bad:?}");
        }
        // An expired header: cachelib's `get` sees no count.
        let mut expired = count_bytes(7);
        expired[..4].copy_from_slice(&header_of(now - time::Duration::seconds(1)));
        assert_eq!(parse_count(&expired, now), None);
    }
}
