//! Listing a [`MemcachedStore`]: the keys come from `lru_crawler metadump all`, streamed on a
//! connection of its own; each page of them is looked up with one pipelined round of
//! `mg <key> s t` on a second connection, for the value's length and remaining TTL.

use std::time::Duration as StdDuration;

use time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::MemcachedStore;
use crate::id::SessionId;
use crate::store::{Error, Listed, Listing};

/// How many keys of the dump are looked up in one round trip.
const PAGE: usize = 200;
/// The longest line read: a dump line holds a key of at most 250 bytes, each byte at most
/// three once URL-encoded, and a few short fields.
const MAX_LINE: u64 = 4096;
/// How long to wait before asking again when another crawl is running (one at a time).
const BUSY_PAUSE: StdDuration = StdDuration::from_millis(50);

/// What memcached answered `lru_crawler metadump all` with, when it was not a dump.
const CRAWLER_OFF: &str = "memcached's LRU crawler is off: start memcached without \
    `-o no_lru_crawler` or send it `lru_crawler enable`";
const NO_METADUMP: &str = "this memcached has no `lru_crawler metadump` (it needs 1.4.31 or later)";

/// One line of the server, or `None` at the end of the stream, within `after`.
async fn line<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    after: StdDuration,
) -> Result<Option<()>, Error> {
    buf.clear();
    let read = tokio::time::timeout(after, reader.take(MAX_LINE).read_until(b'\n', buf)).await;
    match read {
        Err(_) => Err(Error::Timeout { op: "list", after }),
        Ok(Err(e)) => Err(Error::unavailable("list", e)),
        Ok(Ok(0)) => Ok(None),
        Ok(Ok(_)) => {
            while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                buf.pop();
            }
            Ok(Some(()))
        }
    }
}

/// `%XX`-decodes a key as memcached's metadump encodes it.
fn url_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter();
    while let Some(&b) = bytes.next() {
        if b == b'%' {
            let hex = [*bytes.next()?, *bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

/// The key of a metadump line (`key=<urlencoded> exp=… la=… cas=… fetch=… cls=… size=…`).
fn dumped_key(line: &[u8]) -> Option<String> {
    let field = line.split(|b| *b == b' ').next()?;
    let encoded = field.strip_prefix(b"key=")?;
    String::from_utf8(url_decode(encoded)?).ok()
}

/// The value length and remaining TTL (`-1`: none) in an `HD s<bytes> t<seconds>` reply.
fn sized(reply: &[u8]) -> Option<(u64, i64)> {
    let text = std::str::from_utf8(reply).ok()?;
    let mut words = text.split(' ');
    if words.next()? != "HD" {
        return None;
    }
    let (mut size, mut ttl) = (None, None);
    for word in words {
        if let Some(s) = word.strip_prefix('s') {
            size = s.parse().ok();
        } else if let Some(t) = word.strip_prefix('t') {
            ttl = t.parse().ok();
        }
    }
    Some((size?, ttl?))
}

impl MemcachedStore {
    /// What [`SessionStore::list`](crate::store::SessionStore::list) yields for this store.
    pub(super) fn listing(&self) -> Listing<'_> {
        Box::pin(async_stream::try_stream! {
            let after = self.inner.timeout;
            // The dump's first line is read already, to tell a dump from a refusal.
            let (mut dump, mut buf) = self.dump().await?;
            let lookups = self.raw().await?;
            let mut lookups = BufReader::new(lookups);
            let mut page: Vec<(String, SessionId)> = Vec::with_capacity(PAGE);
            loop {
                let end = buf == b"END";
                if !end {
                    if let Some(found) = dumped_key(&buf).and_then(|key| self.session_of(key)) {
                        page.push(found);
                    }
                }
                if page.len() >= PAGE || (end && !page.is_empty()) {
                    for listed in self.look_up(&mut lookups, std::mem::take(&mut page)).await? {
                        yield listed;
                    }
                }
                if end {
                    break;
                }
                if line(&mut dump, &mut buf, after).await?.is_none() {
                    Err(Error::unavailable("list", "memcached closed the connection mid-dump"))?;
                }
            }
        })
    }

    /// A connection of the listing's own (the pool's speak the meta protocol through a client
    /// that has no crawler commands).
    async fn raw(&self) -> Result<TcpStream, Error> {
        let address = self.inner.address.trim_start_matches("tcp://");
        let after = self.inner.timeout;
        match tokio::time::timeout(after, TcpStream::connect(address)).await {
            Err(_) => Err(Error::Timeout { op: "list", after }),
            Ok(Err(e)) => Err(Error::unavailable("list", e)),
            Ok(Ok(stream)) => Ok(stream),
        }
    }

    /// A connection on which the dump has started, and the dump's first line (`END` for an
    /// empty one). memcached runs one crawl at a time, so a `BUSY` answer is retried until the
    /// store's timeout.
    async fn dump(&self) -> Result<(BufReader<TcpStream>, Vec<u8>), Error> {
        let after = self.inner.timeout;
        let started = tokio::time::Instant::now();
        let mut stream = BufReader::new(self.raw().await?);
        let mut buf = Vec::new();
        loop {
            let sent = tokio::time::timeout(
                after,
                stream.get_mut().write_all(b"lru_crawler metadump all\r\n"),
            )
            .await;
            match sent {
                Err(_) => return Err(Error::Timeout { op: "list", after }),
                Ok(Err(e)) => return Err(Error::unavailable("list", e)),
                Ok(Ok(())) => {}
            }
            // The first line is the first item, `END` for none, or why there is no dump.
            let left = after.saturating_sub(started.elapsed());
            if line(&mut stream, &mut buf, left).await?.is_none() {
                return Err(Error::unavailable(
                    "list",
                    "memcached closed the connection",
                ));
            }
            if buf.starts_with(b"key=") || buf == b"END" {
                return Ok((stream, buf));
            }
            if buf.starts_with(b"BUSY") && started.elapsed() + BUSY_PAUSE < after {
                tokio::time::sleep(BUSY_PAUSE).await;
                continue;
            }
            return Err(match &buf[..] {
                b if b.starts_with(b"BUSY") => Error::Timeout { op: "list", after },
                b if b.starts_with(b"CLIENT_ERROR lru crawler disabled") => Error::Unsupported {
                    op: "list",
                    store: "the memcached store",
                    reason: CRAWLER_OFF,
                },
                b"ERROR" => Error::Unsupported {
                    op: "list",
                    store: "the memcached store",
                    reason: NO_METADUMP,
                },
                // NOTSTARTED (no items to crawl) reads as an empty dump.
                b if b.starts_with(b"NOTSTARTED") => {
                    return Ok((stream, b"END".to_vec()));
                }
                other => Error::unavailable(
                    "list",
                    format!(
                        "memcached answered the metadump with {:?}",
                        String::from_utf8_lossy(other)
                    ),
                ),
            });
        }
    }

    /// The session stored under `key`, if it is one of this store's: under the prefix, an id
    /// the codec takes, and the key the store would use for it (not a hashed one).
    fn session_of(&self, key: String) -> Option<(String, SessionId)> {
        let id = key.strip_prefix(&self.inner.prefix)?;
        let id = SessionId::parse(id).ok()?;
        (self.inner.codec.accepts_id(&id) && self.key(&id) == key).then_some((key, id))
    }

    /// Looks up a page of keys in one round trip: `mg <key> s t` each (`EN` for one gone
    /// since it was dumped, which is left out).
    async fn look_up(
        &self,
        connection: &mut BufReader<TcpStream>,
        page: Vec<(String, SessionId)>,
    ) -> Result<Vec<Listed>, Error> {
        let after = self.inner.timeout;
        let mut request = Vec::with_capacity(page.len() * 64);
        for (key, _) in &page {
            request.extend_from_slice(b"mg ");
            request.extend_from_slice(key.as_bytes());
            request.extend_from_slice(b" s t\r\n");
        }
        match tokio::time::timeout(after, connection.get_mut().write_all(&request)).await {
            Err(_) => return Err(Error::Timeout { op: "list", after }),
            Ok(Err(e)) => return Err(Error::unavailable("list", e)),
            Ok(Ok(())) => {}
        }
        let now = self.inner.clock.now();
        let mut listed = Vec::with_capacity(page.len());
        let mut buf = Vec::new();
        for (_, id) in page {
            if line(connection, &mut buf, after).await?.is_none() {
                return Err(Error::unavailable(
                    "list",
                    "memcached closed the connection",
                ));
            }
            if buf == b"EN" {
                continue;
            }
            let Some((size, ttl)) = sized(&buf) else {
                return Err(Error::unavailable(
                    "list",
                    format!(
                        "memcached answered a lookup with {:?}",
                        String::from_utf8_lossy(&buf)
                    ),
                ));
            };
            // The remaining TTL on memcached's own clock, as `load` reads it: its Unix times
            // drift from the wall clock, seconds from now do not.
            let expires_at = (ttl >= 0).then(|| {
                let at = now + Duration::seconds(ttl);
                at.replace_nanosecond(0).unwrap_or(at)
            });
            listed.push(Listed::new(id, size, expires_at));
        }
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SessionStore as _;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use tokio::net::TcpListener;

    /// A store whose server answers each `lru_crawler metadump` with the next of `answers`.
    async fn store_answering(answers: &'static [&'static str]) -> MemcachedStore {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut answers = answers.iter();
            while let Ok((stream, _)) = listener.accept().await {
                let mut stream = BufReader::new(stream);
                let mut line = String::new();
                while stream.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                    if line.starts_with("lru_crawler") {
                        let answer = answers.next().copied().unwrap_or("END\r\n");
                        let _ = stream.get_mut().write_all(answer.as_bytes()).await;
                    }
                    line.clear();
                }
            }
        });
        MemcachedStore {
            inner: Arc::new(super::super::Inner {
                address: format!("tcp://{address}"),
                slots: vec![tokio::sync::Mutex::new(None)],
                next: AtomicUsize::new(0),
                prefix: "s:".into(),
                timeout: StdDuration::from_secs(2),
                max_value: super::super::DEFAULT_MAX_VALUE,
                clock: crate::clock::system(),
                codec: Arc::new(crate::codec::NativeCodec),
            }),
        }
    }

    async fn all(store: &MemcachedStore) -> Result<Vec<Listed>, Error> {
        let mut listing = store.list();
        let mut out = Vec::new();
        while let Some(listed) = crate::store::listing::next(&mut listing).await {
            out.push(listed?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn a_disabled_crawler_says_how_to_enable_it() {
        let store = store_answering(&["CLIENT_ERROR lru crawler disabled\r\n"]).await;
        let err = all(&store).await.unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("lru_crawler enable"), "{err}");
    }

    #[tokio::test]
    async fn a_busy_crawler_is_waited_for() {
        let store = store_answering(&["BUSY currently processing crawler request\r\n"]).await;
        assert_eq!(all(&store).await.unwrap(), []);
    }

    #[test]
    fn dumped_keys_are_decoded() {
        let line = b"key=session%3Aab%2Bc exp=-1 la=1 cas=2 fetch=no cls=1 size=91";
        assert_eq!(dumped_key(line).as_deref(), Some("session:ab+c"));
        assert_eq!(dumped_key(b"key=bad%3"), None);
        assert_eq!(dumped_key(b"END"), None);
    }

    #[test]
    fn lookups_give_the_size_and_ttl() {
        assert_eq!(sized(b"HD s5 t299"), Some((5, 299)));
        assert_eq!(sized(b"HD t-1 s20000"), Some((20_000, -1)));
        assert_eq!(sized(b"EN"), None);
        assert_eq!(sized(b"HD s5"), None);
    }
}
