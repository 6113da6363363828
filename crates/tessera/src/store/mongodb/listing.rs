//! Listing a [`MongoStore`], and clearing it in batches.
//!
//! The listing is a `find` sorted by the key field, 200 documents a page, each page
//! starting after the last key of the one before (`{key: {$gt: last}}`), so no cursor stays
//! open between pages and each page is bounded by the store's timeout.
//!
//! The size is the length of the data field, measured here from a projection of the key, the
//! deadline and the data. An aggregation could measure it on the server (`$strLenBytes`,
//! `$binarySize`), but one document whose field has another type would fail the whole page
//! there, and `$binarySize` is not to be relied on across MongoDB-compatible servers (nx-27017
//! gave 51 for a 50-byte value when we checked); a page of 200 sessions' data is small.

use mongodb::bson::{doc, Bson, Document};
use time::OffsetDateTime;

use super::{bounded, Layout, MongoStore};
use crate::id::SessionId;
use crate::interop::flask_session;
use crate::store::{Error, Listed, Listing, UserIndex as _};

/// How many documents a page holds.
const PAGE: i64 = 200;
/// How many expired documents one batch of `clear_expired_in_batches` removes.
const BATCH: i64 = 500;

/// The fields a layout's documents keep their key, data and deadline in.
struct Fields {
    key: &'static str,
    data: &'static str,
    deadline: &'static str,
}

impl Layout {
    fn fields(self) -> Fields {
        match self {
            Self::Native => Fields {
                key: "_id",
                data: "data",
                deadline: "expires_at",
            },
            Self::FlaskSession => Fields {
                key: "id",
                data: "val",
                deadline: "expiration",
            },
        }
    }
}

/// The byte length of a data field: text (tessera's layout, or Python's `want_bytes` text) or
/// binary (pymongo's `bytes`).
fn size_of(data: Option<&Bson>) -> u64 {
    let len = match data {
        Some(Bson::String(s)) => s.len(),
        Some(Bson::Binary(b)) => b.bytes.len(),
        _ => 0,
    };
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// A deadline field to the whole second, as `load` reads it: a BSON date, or the naive UTC
/// text some MongoDB-compatible servers keep Flask-Session's `$set` dates as.
fn deadline_of(value: Option<&Bson>) -> Option<OffsetDateTime> {
    match value? {
        Bson::DateTime(at) => {
            OffsetDateTime::from_unix_timestamp(at.timestamp_millis().div_euclid(1000)).ok()
        }
        Bson::String(text) => flask_session::parse_naive_utc(text),
        _ => None,
    }
}

impl MongoStore {
    /// What [`SessionStore::list`](crate::store::SessionStore::list) yields for this store.
    pub(super) fn listing(&self) -> Listing<'_> {
        Box::pin(async_stream::try_stream! {
            let fields = self.layout.fields();
            // Keys under the prefix sort together, right after the prefix itself (an empty
            // id, which no session has).
            let mut last = self.key_prefix.clone();
            'pages: loop {
                let page = self.page(&fields, &last).await?;
                let full = i64::try_from(page.len()).unwrap_or(i64::MAX) >= PAGE;
                let mut advanced = false;
                for doc in page {
                    let Ok(key) = doc.get_str(fields.key) else {
                        continue;
                    };
                    if !key.starts_with(&self.key_prefix) {
                        // Past the prefix's keys: nothing after this one is ours.
                        break 'pages;
                    }
                    if key > last.as_str() {
                        last = key.to_owned();
                        advanced = true;
                    }
                    let id = match SessionId::parse(&key[self.key_prefix.len()..]) {
                        Ok(id) if self.codec.accepts_id(&id) => id,
                        _ => continue,
                    };
                    yield Listed::new(
                        id,
                        size_of(doc.get(fields.data)),
                        deadline_of(doc.get(fields.deadline)),
                    );
                }
                // A short page is the last; a page that did not move past `last` (a server
                // that also returns keys of other types) would repeat forever.
                if !full || !advanced {
                    break;
                }
            }
        })
    }

    /// [`SessionStore::clear_expired_in_batches`](crate::store::SessionStore::clear_expired_in_batches):
    /// rounds of a `find` of up to 500 expired documents' `_id`s and a `delete_many` of those
    /// still expired, each round within the store's timeout, until a round finds none. What
    /// expires during the run is left for the next one, so the run ends.
    pub(super) async fn clear_in_batches(
        &self,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, Error> {
        self.users.clear_expired().await?;
        let field = self.layout.deadline_field();
        let now = self.clock.now();
        let mut expired = vec![doc! { field: { "$lte": super::bson_date(now) } }];
        if self.layout == Layout::FlaskSession {
            // Deadlines some MongoDB-compatible servers keep as text (see `flask_session`).
            expired.push(doc! { field: { "$lte": flask_session::naive_utc(now) } });
        }
        let mut total = 0;
        for filter in expired {
            loop {
                let ids = bounded("clear_expired", self.timeout, async {
                    let mut cursor = self
                        .collection
                        .find(filter.clone())
                        .projection(doc! { "_id": 1 })
                        .limit(BATCH)
                        .await?;
                    let mut ids = Vec::new();
                    while cursor.advance().await? {
                        if let Some(id) = cursor.deserialize_current()?.get("_id") {
                            ids.push(id.clone());
                        }
                    }
                    Ok(ids)
                })
                .await?;
                if ids.is_empty() {
                    break;
                }
                let mut batch = filter.clone();
                batch.insert("_id", doc! { "$in": ids });
                let deleted = bounded("clear_expired", self.timeout, async {
                    self.collection.delete_many(batch).await
                })
                .await?
                .deleted_count;
                total += deleted;
                progress(total);
                // None deleted: what was found was renewed or removed meanwhile; looking again
                // could find the same documents forever.
                if deleted == 0 {
                    break;
                }
            }
        }
        if total == 0 {
            progress(0);
        }
        Ok(total)
    }

    /// The documents whose key comes after `last`, in key order, with their key, data and
    /// deadline only.
    async fn page(&self, fields: &Fields, last: &str) -> Result<Vec<Document>, Error> {
        let filter = doc! { fields.key: { "$gt": last } };
        let projection = doc! { fields.key: 1, fields.data: 1, fields.deadline: 1 };
        bounded("list", self.timeout, async {
            let mut cursor = self
                .collection
                .find(filter)
                .sort(doc! { fields.key: 1 })
                .projection(projection)
                .limit(PAGE)
                .batch_size(u32::try_from(PAGE).unwrap_or(u32::MAX))
                .await?;
            let mut page = Vec::new();
            while cursor.advance().await? {
                page.push(cursor.deserialize_current()?);
            }
            Ok(page)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::spec::BinarySubtype;
    use mongodb::bson::{Binary, DateTime};

    #[test]
    fn sizes_are_the_datas_bytes() {
        assert_eq!(size_of(Some(&Bson::String("é".into()))), 2);
        let binary = Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: vec![0; 50],
        });
        assert_eq!(size_of(Some(&binary)), 50);
        assert_eq!(size_of(None), 0);
    }

    #[test]
    fn deadlines_are_dates_or_text_to_the_second() {
        let at = Bson::DateTime(DateTime::from_millis(1_700_000_000_999));
        assert_eq!(
            deadline_of(Some(&at)).map(OffsetDateTime::unix_timestamp),
            Some(1_700_000_000)
        );
        let text = Bson::String(flask_session::naive_utc(
            OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        ));
        assert_eq!(
            deadline_of(Some(&text)).map(OffsetDateTime::unix_timestamp),
            Some(1_700_000_000)
        );
        assert_eq!(deadline_of(Some(&Bson::Null)), None);
    }
}
