//! Flask-Session 0.8's document layout of [`MongoStore`] (`{_id, id, val, expiration}`), with
//! conditional writes that compare `val`; the bytes in `val` are the store's codec's.

use std::time::Duration;

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use time::OffsetDateTime;

use super::{bounded, bson_date, is_duplicate, MongoStore};
use crate::id::SessionId;
use crate::interop::flask_session;
use crate::record::Record;
use crate::store::{content_version, Error, Expected, Loaded, Saved};

/// The name of the unique index on `id` (Flask-Session makes none; tessera needs one so two
/// creations of one id cannot both succeed).
pub(super) const ID_INDEX: &str = "tessera_id_unique";

/// The field tessera adds to the documents it writes: the hash of `val`, so that two tessera
/// writes in one second are told apart (Flask-Session ignores fields it does not know).
pub(super) const REV: &str = "tessera_rev";

/// A document as read: what a conditional write must still find.
struct Current {
    val: Vec<u8>,
    expires_at: OffsetDateTime,
    /// `expiration` exactly as stored: every Flask-Session write changes it (to the
    /// millisecond), so a write that still finds it knows Python has not written since.
    expiration: Bson,
    rev: Option<Bson>,
}

impl Current {
    fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at > now
    }

    /// The filter matching this document only while no one has written it since.
    fn unchanged(&self, key: &str) -> Document {
        let mut filter = doc! { "id": key, "expiration": self.expiration.clone() };
        match &self.rev {
            Some(rev) => filter.insert(REV, rev.clone()),
            None => filter.insert(REV, doc! { "$exists": false }),
        };
        filter
    }
}

fn binary(bytes: Vec<u8>) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

/// Reads a Flask-Session document's `val` and `expiration`.
fn current(id: &SessionId, doc: &Document) -> Result<Current, Error> {
    let val = match doc.get("val") {
        Some(Bson::Binary(b)) => b.bytes.clone(),
        // pymongo stores `bytes` as binary; `want_bytes` on the Python side also takes text.
        Some(Bson::String(s)) => s.clone().into_bytes(),
        _ => return Err(Error::corrupt(id, "the document has no binary `val` field")),
    };
    let expiration = doc.get("expiration").cloned().unwrap_or(Bson::Null);
    let expires_at = match &expiration {
        Bson::DateTime(at) => {
            OffsetDateTime::from_unix_timestamp(at.timestamp_millis().div_euclid(1000))
                .map_err(|e| Error::corrupt(id, e))?
        }
        // Some MongoDB-compatible servers keep a date written with `$set` (as Flask-Session
        // writes it) as its text.
        Bson::String(text) => flask_session::parse_naive_utc(text).ok_or_else(|| {
            Error::corrupt(id, "the `expiration` field is not a date or a timestamp")
        })?,
        _ => return Err(Error::corrupt(id, "the document has no `expiration` date")),
    };
    Ok(Current {
        val,
        expires_at,
        expiration,
        rev: doc.get(REV).cloned(),
    })
}

impl MongoStore {
    /// Flask-Session's TTL index (`expiration_1`, `expireAfterSeconds: 0`) and tessera's unique
    /// index on `id`. Idempotent.
    pub(super) async fn flask_migrate(&self) -> Result<(), Error> {
        let ttl = IndexModel::builder()
            .keys(doc! { "expiration": 1 })
            .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
            .build();
        let unique = IndexModel::builder()
            .keys(doc! { "id": 1 })
            .options(
                IndexOptions::builder()
                    .name(ID_INDEX.to_owned())
                    .unique(true)
                    .build(),
            )
            .build();
        bounded("migrate", self.timeout, async {
            self.collection.create_indexes([ttl, unique]).await
        })
        .await?;
        Ok(())
    }

    /// The document under `id`, live or not.
    async fn flask_find(&self, op: &'static str, id: &SessionId) -> Result<Option<Current>, Error> {
        let filter = doc! { "id": self.key(id) };
        let found = bounded(op, self.timeout, async {
            self.collection.find_one(filter).await
        })
        .await?;
        found.map(|doc| current(id, &doc)).transpose()
    }

    fn flask_document(&self, id: &SessionId, val: Vec<u8>, expires_at: OffsetDateTime) -> Document {
        // Versions are 48-bit hashes: they fit an i64.
        let rev = i64::try_from(content_version(&val).get()).unwrap_or(i64::MAX);
        doc! {
            "id": self.key(id),
            "val": binary(val),
            "expiration": bson_date(expires_at),
            REV: rev,
        }
    }

    /// Updates (`$set`, as Flask-Session writes) or with `None` deletes the document read as
    /// `was`, if no one has written it since; whether it did.
    async fn flask_swap(
        &self,
        op: &'static str,
        id: &SessionId,
        was: &Current,
        with: Option<Document>,
    ) -> Result<bool, Error> {
        let filter = was.unchanged(&self.key(id));
        let matched = match with {
            Some(fields) => {
                bounded(op, self.timeout, async {
                    self.collection
                        .update_one(filter, doc! { "$set": fields })
                        .await
                })
                .await?
                .matched_count
            }
            None => {
                bounded(op, self.timeout, async {
                    self.collection.delete_one(filter).await
                })
                .await?
                .deleted_count
            }
        };
        Ok(matched == 1)
    }

    pub(super) async fn flask_load(&self, id: &SessionId) -> Result<Option<Loaded>, Error> {
        let Some(current) = self.flask_find("load", id).await? else {
            return Ok(None);
        };
        if !current.is_live(self.clock.now()) {
            return Ok(None);
        }
        let record = self
            .codec
            .decode(&current.val, Some(current.expires_at))
            .map_err(|e| Error::undecodable(id, e))?;
        Ok(Some(Loaded {
            record,
            version: content_version(&current.val),
        }))
    }

    pub(super) async fn flask_save(
        &self,
        id: &SessionId,
        record: &Record,
        expected: Expected,
    ) -> Result<Saved, Error> {
        let now = self.clock.now();
        let val = self
            .codec
            .encode(record)
            .map_err(|e| Error::unencodable(id, e))?;
        let version = content_version(&val);
        let expired = record.is_expired(now);
        let found = self.flask_find("save", id).await?;
        match expected {
            Expected::Absent => {
                if let Some(was) = found {
                    if was.is_live(now) || !self.flask_swap("save", id, &was, None).await? {
                        return Ok(Saved::Conflict);
                    }
                }
                if expired {
                    return Ok(Saved::Written(version));
                }
                let doc = self.flask_document(id, val, record.expires_at);
                let ours = doc! {
                    "id": self.key(id),
                    "expiration": doc.get("expiration").cloned().unwrap_or(Bson::Null),
                    REV: doc.get(REV).cloned().unwrap_or(Bson::Null),
                };
                let inserted = bounded("save", self.timeout, async {
                    self.collection.insert_one(doc).await
                })
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_duplicate(&e) => return Ok(Saved::Conflict),
                    Err(e) => return Err(e),
                }
                // Without a unique index (servers that ignore it) two creations can both
                // insert: each that then sees a twin withdraws.
                let filter = doc! { "id": self.key(id) };
                let twins = bounded("save", self.timeout, async {
                    self.collection.count_documents(filter).await
                })
                .await?;
                if twins > 1 {
                    bounded("save", self.timeout, async {
                        self.collection.delete_one(ours).await
                    })
                    .await?;
                    return Ok(Saved::Conflict);
                }
                Ok(Saved::Written(version))
            }
            Expected::Version(v) => {
                let Some(was) = found.filter(|c| c.is_live(now)) else {
                    return Ok(Saved::Conflict);
                };
                if content_version(&was.val) != v {
                    return Ok(Saved::Conflict);
                }
                let with = (!expired).then(|| self.flask_document(id, val, record.expires_at));
                Ok(if self.flask_swap("save", id, &was, with).await? {
                    Saved::Written(version)
                } else {
                    Saved::Conflict
                })
            }
        }
    }

    pub(super) async fn flask_delete(&self, id: &SessionId) -> Result<(), Error> {
        let filter = doc! { "id": self.key(id) };
        bounded("delete", self.timeout, async {
            self.collection.delete_many(filter).await
        })
        .await?;
        Ok(())
    }

    pub(super) async fn flask_touch(
        &self,
        id: &SessionId,
        expires_at: OffsetDateTime,
    ) -> Result<bool, Error> {
        let attempt = async {
            loop {
                let Some(was) = self
                    .flask_find("touch", id)
                    .await?
                    .filter(|c| c.is_live(self.clock.now()))
                else {
                    return Ok(false);
                };
                // The same `val` (so the same version), a new deadline; a write that slipped in
                // since the read makes the swap miss, and the fresh document is touched instead.
                let doc = doc! { "expiration": bson_date(expires_at) };
                if self.flask_swap("touch", id, &was, Some(doc)).await? {
                    return Ok(true);
                }
            }
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                op: "touch",
                after: self.timeout,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_read_dates_and_text_timestamps() {
        let id = SessionId::parse("abc").unwrap();
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let with_date =
            doc! { "id": "session:abc", "val": binary(vec![0x80]), "expiration": bson_date(at) };
        assert_eq!(current(&id, &with_date).unwrap().expires_at, at);
        let with_text = doc! { "id": "session:abc", "val": binary(vec![0x80]), "expiration": flask_session::naive_utc(at) };
        assert_eq!(current(&id, &with_text).unwrap().expires_at, at);
        let without = doc! { "id": "session:abc", "val": binary(vec![0x80]) };
        assert!(matches!(current(&id, &without), Err(Error::Corrupt { .. })));
        assert_ne!(content_version(b"a"), content_version(b"b"));
    }
}
