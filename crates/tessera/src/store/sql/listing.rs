//! [`SqlStore::list`](crate::store::SessionStore::list): keyset pagination over the key
//! column, one bounded statement per page.

use time::OffsetDateTime;

use super::store::{Col, Dialect, SqlStore, Value};
use super::table::{DeadlineType, Kind, Param};
use crate::id::SessionId;
use crate::store::{Listed, Listing};

use super::store::sealed::Driver;

/// Rows read per statement: few enough that a page is quick and small, many enough that a
/// large table is not one round trip per handful of sessions.
const PAGE: i64 = 200;

/// Every row of the store's table, a page at a time, in key order. Each page is
/// `… WHERE key > last ORDER BY key LIMIT PAGE`, so a page costs an index range scan however
/// far the listing has gone (an `OFFSET` would rescan every earlier row), and a row written
/// or removed meanwhile shifts nothing.
pub(super) fn list<D: Dialect>(store: &SqlStore<D>) -> Listing<'_> {
    // MySQL's tessera table keys are `VARBINARY`, which sqlx will not read as text; its other
    // tables' keys read as bytes too. Elsewhere keys are text.
    let key_col = if D::KIND == Kind::MySql {
        Col::Bytes
    } else {
        Col::Text
    };
    let cols = [key_col, Col::Int, Col::Int];
    Box::pin(async_stream::try_stream! {
        // Every key sorts after the empty string, in any collation.
        let mut after = Param::Text(String::new());
        loop {
            let rows = store
                .common
                .bounded(
                    "list",
                    D::is_timeout,
                    D::Db::fetch_all(
                        &store.pool,
                        &store.sql.list_page,
                        vec![after.clone(), Param::Int(PAGE)],
                        &cols,
                    ),
                )
                .await?;
            let full = i64::try_from(rows.len()).is_ok_and(|n| n >= PAGE);
            for row in rows {
                let mut row = row.into_iter();
                let (key, size, deadline) = (row.next(), row.next(), row.next());
                let Some(key) = key.and_then(Value::into_bytes) else {
                    continue;
                };
                let listed = listed(store, &key, size, deadline);
                // The cursor moves past every row, listed or not, so a foreign row cannot stall
                // the listing. Text as it was written, so the comparison keeps the column's
                // collation (bytes would compare MySQL text bytewise against its ordering).
                after = match String::from_utf8(key) {
                    Ok(text) => Param::Text(text),
                    Err(e) => Param::Bytes(e.into_bytes()),
                };
                if let Some(listed) = listed {
                    yield listed;
                }
            }
            if !full {
                break;
            }
        }
    })
}

/// The listed session of a row, or `None` if its key is not one this store wrote: another
/// prefix's, not a valid id, or one the profile would not take (Django's key rules).
fn listed<D: Dialect>(
    store: &SqlStore<D>,
    key: &[u8],
    size: Option<Value>,
    deadline: Option<Value>,
) -> Option<Listed> {
    let key = std::str::from_utf8(key).ok()?;
    let id = if store.layout.prefixed {
        key.strip_prefix(store.common.key_prefix.as_str())?
    } else {
        key
    };
    let id = SessionId::parse(id).ok()?;
    if !store.codec.accepts_id(&id) {
        return None;
    }
    // A `NULL` data column (Flask-Session's is nullable) holds no bytes.
    let size = size
        .and_then(|s| s.int())
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    let expires_at = match deadline.and_then(|d| d.int()) {
        Some(at) => OffsetDateTime::from_unix_timestamp(at).ok(),
        // Flask-Session takes a `NULL` expiry for expired, and `clear_expired` removes it:
        // listing it with no deadline would claim it lives forever.
        None if store.layout.deadline_type == DeadlineType::Naive => {
            Some(OffsetDateTime::UNIX_EPOCH)
        }
        None => None,
    };
    Some(Listed::new(id, size, expires_at))
}
