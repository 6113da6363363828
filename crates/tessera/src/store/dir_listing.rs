//! Listing a directory of session files a page at a time, for the file stores'
//! [`SessionStore::list`](super::SessionStore::list).

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::file::on_blocking_pool;
use super::{Listed, Listing};

/// Directory entries examined per trip to the blocking pool: entries, not sessions listed, so
/// a directory full of other files still makes short trips, each within the store's timeout.
pub(crate) const PAGE: usize = 200;

/// A file store that can tell what a directory entry holds.
pub(crate) trait SessionDir: Send + Sync + 'static {
    /// The directory.
    fn dir(&self) -> &Path;

    /// The session `entry` holds, or `None` if it holds none (a temporary, a lock, another
    /// store's file, a placeholder, a file removed since the directory was read).
    fn listed(&self, entry: &fs::DirEntry) -> io::Result<Option<Listed>>;
}

/// The sessions in `state`'s directory: `read_dir` walked on the blocking pool, [`PAGE`]
/// entries per trip (each bounded by `timeout`), the walk handed from one trip to the next, so
/// only one page is ever held.
pub(crate) fn list<S: SessionDir>(state: Arc<S>, timeout: Duration) -> Listing<'static> {
    Box::pin(async_stream::try_stream! {
        let mut walk: Option<fs::ReadDir> = None;
        loop {
            let started = walk.take();
            let (rest, page) = on_blocking_pool(state.clone(), timeout, "list", move |s, _| {
                let mut entries = match started {
                    Some(entries) => entries,
                    None => fs::read_dir(s.dir())?,
                };
                let mut page = Vec::new();
                for _ in 0..PAGE {
                    let Some(entry) = entries.next() else {
                        return Ok((None, page));
                    };
                    if let Some(listed) = s.listed(&entry?)? {
                        page.push(listed);
                    }
                }
                Ok((Some(entries), page))
            })
            .await?;
            for listed in page {
                yield listed;
            }
            match rest {
                Some(entries) => walk = Some(entries),
                None => break,
            }
        }
    })
}

/// `result`, with a file that vanished meanwhile (removed or renamed over by a writer, or
/// cleared) taken for no session.
pub(crate) fn unless_gone<T>(result: io::Result<Option<T>>) -> io::Result<Option<T>> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        other => other,
    }
}
