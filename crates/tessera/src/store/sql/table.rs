//! Table descriptions (which columns hold the key, the bytes, the deadline and the version) and
//! the statements one dialect runs on one of them.

use time::OffsetDateTime;

use crate::interop::Profile;

/// The database a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Postgres,
    MySql,
    Sqlite,
}

/// How a table keeps the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeadlineType {
    /// Unix seconds in a `BIGINT` (tessera's table).
    Unix,
    /// SQLAlchemy's `DateTime`: naive UTC (`timestamp`, `DATETIME`, SQLite text with
    /// microseconds), `NULL` meaning expired.
    Naive,
    /// Django's `DateTimeField` (`timestamptz`, `datetime(6)`, SQLite text, whole seconds).
    Django,
}

/// A session table's layout: its columns and who owns it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    /// The profile whose table this is (it picks the `CREATE TABLE`).
    pub(crate) profile: Profile,
    /// The table name unless the URL names one.
    pub(crate) default_name: &'static str,
    /// The column `clear_expired` batches by on PostgreSQL (`… WHERE row IN (SELECT row …)`).
    pub(crate) row: &'static str,
    pub(crate) id: &'static str,
    pub(crate) data: &'static str,
    /// Whether `data` is a text column (Django's) rather than bytes.
    pub(crate) data_is_text: bool,
    pub(crate) deadline: &'static str,
    pub(crate) deadline_type: DeadlineType,
    /// The version counter, in tessera's own table only.
    pub(crate) version: Option<&'static str>,
    /// Whether the key prefix goes before the session id (Django's keys are bare).
    pub(crate) prefixed: bool,
    /// Whether another framework's migrations own the table: not created unless asked, and
    /// checked at start.
    pub(crate) foreign: bool,
}

/// tessera's table.
pub(crate) const NATIVE: Table = Table {
    profile: Profile::Native,
    default_name: super::DEFAULT_TABLE,
    row: "id",
    id: "id",
    data: "data",
    data_is_text: false,
    deadline: "expires_at",
    deadline_type: DeadlineType::Unix,
    version: Some("version"),
    prefixed: true,
    foreign: false,
};

/// The table Flask-Session 0.8 declares for `SESSION_TYPE="sqlalchemy"`.
pub(crate) const FLASK_SESSION: Table = Table {
    profile: Profile::FlaskSession,
    default_name: super::flask_session::DEFAULT_TABLE,
    row: "id",
    id: "session_id",
    data: "data",
    data_is_text: false,
    deadline: "expiry",
    deadline_type: DeadlineType::Naive,
    version: None,
    prefixed: true,
    foreign: false,
};

/// Django's `django_session`, as the `sessions` app's `0001_initial` makes it.
pub(crate) const DJANGO: Table = Table {
    profile: Profile::Django,
    default_name: super::DJANGO_TABLE,
    row: "session_key",
    id: "session_key",
    data: "session_data",
    data_is_text: true,
    deadline: "expire_date",
    deadline_type: DeadlineType::Django,
    version: None,
    prefixed: false,
    foreign: true,
};

impl Table {
    /// The layout `profile` keeps in SQL, if it keeps one.
    pub(crate) fn for_profile(profile: Profile) -> Option<&'static Table> {
        match profile {
            Profile::Native => Some(&NATIVE),
            Profile::FlaskSession => Some(&FLASK_SESSION),
            Profile::Django => Some(&DJANGO),
            _ => None,
        }
    }
}

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Param {
    /// `at` as `table`'s deadline column takes it on `kind`.
    pub(crate) fn deadline(kind: Kind, table: &Table, at: OffsetDateTime) -> Self {
        match (kind, table.deadline_type) {
            (_, DeadlineType::Unix) => Self::Int(at.unix_timestamp()),
            (Kind::Postgres, DeadlineType::Django) => Self::Float(at.unix_timestamp() as f64),
            (Kind::Sqlite, DeadlineType::Django) => Self::Text(django_sqlite_datetime(at)),
            _ => Self::Text(crate::interop::flask_session::naive_utc(at)),
        }
    }
}

/// Django's SQLite text for a UTC time, whole seconds (`str(datetime)` without microseconds).
fn django_sqlite_datetime(at: OffsetDateTime) -> String {
    let text = crate::interop::flask_session::naive_utc(at);
    text.trim_end_matches(".000000").to_owned()
}

/// The `n`th (from 1) placeholder of a statement on `kind`.
pub(crate) fn placeholder(kind: Kind, n: usize) -> String {
    match kind {
        Kind::Postgres => format!("${n}"),
        Kind::Sqlite => format!("?{n}"),
        Kind::MySql => "?".to_owned(),
    }
}

/// The `n`th placeholder, bound to a [`Param::deadline`], as `table`'s deadline type reads it.
pub(crate) fn deadline_placeholder(kind: Kind, table: &Table, n: usize) -> String {
    let p = placeholder(kind, n);
    match (kind, table.deadline_type) {
        (_, DeadlineType::Unix) | (Kind::Sqlite, _) => p,
        (Kind::Postgres, DeadlineType::Naive) => format!("CAST({p} AS TIMESTAMP)"),
        (Kind::Postgres, DeadlineType::Django) => format!("to_timestamp({p})"),
        (Kind::MySql, _) => format!("CAST({p} AS DATETIME(6))"),
    }
}

/// The statements for one table on one database, written once with the validated, quoted
/// table name. Placeholders are numbered in the order they are bound.
#[derive(Debug, Clone)]
pub(crate) struct Statements {
    /// The quoted (PostgreSQL: schema-qualified) table name.
    pub(crate) table: String,
    pub(crate) migrations: Vec<String>,
    /// Reads nothing; fails if the table or a column is missing.
    pub(crate) probe: String,
    /// `data`, the deadline in Unix seconds[, version]; binds key, now.
    pub(crate) load: String,
    /// Binds key, now.
    pub(crate) live: String,
    /// `data` of the live row, locked for the transaction; binds key, now.
    pub(crate) lock: String,
    /// PostgreSQL and SQLite: inserts or replaces an expired row, returning the version
    /// (else `1`) if it wrote; binds key, data, deadline, now. MySQL: a plain insert of key,
    /// data, deadline.
    pub(crate) insert: String,
    /// MySQL: replaces an expired row; binds data, deadline, key, now.
    pub(crate) replace_expired: String,
    /// Counter: binds data, deadline, key, version, now. Content hash (under the row lock):
    /// binds data, deadline, key.
    pub(crate) update: String,
    /// Counter only: binds key, version, now.
    pub(crate) delete_version: String,
    /// Binds key.
    pub(crate) delete: String,
    /// Binds deadline, key, now.
    pub(crate) touch: String,
    /// Binds now, batch size.
    pub(crate) clear_batch: String,
    /// One page of a listing, in key order after the last key seen: the key, the stored
    /// bytes' length, the deadline in Unix seconds; binds the last key, the page size.
    pub(crate) list_page: String,
}

impl Statements {
    /// `t` is the quoted table name, `bare` the unquoted one (for index names).
    pub(crate) fn new(kind: Kind, table: &Table, t: &str, bare: &str) -> Self {
        let p = |n: usize| placeholder(kind, n);
        let dl = table.deadline;
        let at = |n: usize| deadline_placeholder(kind, table, n);
        // Flask-Session treats a NULL expiry as expired; `clearsessions` deletes `< now`.
        let expired = |column: &str, n: usize| match table.deadline_type {
            DeadlineType::Naive => format!("({column} IS NULL OR {column} <= {})", at(n)),
            DeadlineType::Django => format!("{column} < {}", at(n)),
            DeadlineType::Unix => format!("{column} <= {}", at(n)),
        };
        let read = match (kind, table.deadline_type) {
            (_, DeadlineType::Unix) => dl.to_owned(),
            (Kind::Postgres, _) => format!("CAST(FLOOR(EXTRACT(EPOCH FROM {dl})) AS BIGINT)"),
            (Kind::Sqlite, _) => format!("CAST(strftime('%s', {dl}) AS INTEGER)"),
            // Independent of the connection's time zone, unlike UNIX_TIMESTAMP.
            (Kind::MySql, _) => format!("TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', {dl})"),
        };
        let (id, data) = (table.id, table.data);
        let version_read = table.version.map(|v| format!(", {v}")).unwrap_or_default();
        let (version_col, version_one) = match table.version {
            Some(v) => (format!(", {v}"), ", 1"),
            None => (String::new(), ""),
        };
        let for_update = if kind == Kind::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        // The upsert's target and how it names the old row.
        let (into, old) = match kind {
            Kind::Postgres => (format!("{t} AS s"), "s".to_owned()),
            _ => (t.to_owned(), t.to_owned()),
        };
        let insert = match kind {
            // A live row blocks the insert (no row returned); an expired one is replaced, a
            // version counting on so a stale writer of the old session cannot match it.
            Kind::Postgres | Kind::Sqlite => format!(
                "INSERT INTO {into} ({id}, {data}, {dl}{version_col}) VALUES ({}, {}, {}{version_one}) \
                 ON CONFLICT ({id}) DO UPDATE SET {data} = EXCLUDED.{data}, {dl} = EXCLUDED.{dl}{} \
                 WHERE {} RETURNING {}",
                p(1),
                p(2),
                at(3),
                table
                    .version
                    .map(|v| format!(", {v} = {old}.{v} + 1"))
                    .unwrap_or_default(),
                match table.deadline_type {
                    DeadlineType::Unix => format!("{old}.{dl} <= {}", at(4)),
                    _ => format!("{old}.{dl} IS NULL OR {old}.{dl} <= {}", at(4)),
                },
                table.version.unwrap_or("1"),
            ),
            Kind::MySql => format!(
                "INSERT INTO {t} ({id}, {data}, {dl}{version_col}) VALUES (?, ?, {}{version_one})",
                at(3)
            ),
        };
        // LAST_INSERT_ID(expr) hands the new version back in the OK packet, so the replace and
        // the read of its version are one atomic statement.
        let replace_expired = format!(
            "UPDATE {t} SET {data} = ?, {dl} = {}{} WHERE {id} = ? AND ({dl} IS NULL OR {dl} <= {})",
            at(2),
            table
                .version
                .map(|v| format!(", {v} = LAST_INSERT_ID({v} + 1)"))
                .unwrap_or_default(),
            at(4),
        );
        let (update, delete_version) = match table.version {
            Some(v) => (
                format!(
                    "UPDATE {t} SET {data} = {}, {dl} = {}, {v} = {v} + 1 \
                     WHERE {id} = {} AND {v} = {} AND {dl} > {}",
                    p(1),
                    at(2),
                    p(3),
                    p(4),
                    at(5)
                ),
                format!(
                    "DELETE FROM {t} WHERE {id} = {} AND {v} = {} AND {dl} > {}",
                    p(1),
                    p(2),
                    at(3)
                ),
            ),
            None => (
                format!(
                    "UPDATE {t} SET {data} = {}, {dl} = {} WHERE {id} = {}",
                    p(1),
                    at(2),
                    p(3)
                ),
                String::new(),
            ),
        };
        let clear_batch = match kind {
            // SKIP LOCKED leaves rows another transaction is writing; the outer condition is
            // checked again on a row touched meanwhile, so a revived session is never deleted.
            Kind::Postgres => {
                let row = table.row;
                format!(
                    "DELETE FROM {t} WHERE {row} IN (SELECT {row} FROM {t} WHERE {} \
                     LIMIT $2 FOR UPDATE SKIP LOCKED) AND {}",
                    expired(dl, 1),
                    expired(dl, 1)
                )
            }
            // SQLite has no DELETE … LIMIT unless compiled in; a rowid subquery does the same.
            Kind::Sqlite => format!(
                "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} WHERE {} LIMIT ?2)",
                expired(dl, 1)
            ),
            Kind::MySql => format!("DELETE FROM {t} WHERE {} LIMIT ?", expired(dl, 1)),
        };
        // Bytes, not characters: SQLite's `length` of TEXT counts characters, PostgreSQL's
        // `octet_length` is an `INTEGER`, MySQL's `LENGTH` already counts bytes.
        let size = match (kind, table.data_is_text) {
            (Kind::Postgres, _) => format!("CAST(octet_length({data}) AS BIGINT)"),
            (Kind::MySql, _) => format!("CAST(LENGTH({data}) AS SIGNED)"),
            (Kind::Sqlite, false) => format!("length({data})"),
            (Kind::Sqlite, true) => format!("length(CAST({data} AS BLOB))"),
        };
        let list_page = format!(
            "SELECT {id}, {size}, {read} FROM {t} WHERE {id} > {} ORDER BY {id} LIMIT {}",
            p(1),
            p(2)
        );
        Self {
            migrations: migrations(kind, table, t, bare),
            probe: format!("SELECT {id}, {data}, {dl} FROM {t} LIMIT 0"),
            load: format!(
                "SELECT {data}, {read}{version_read} FROM {t} WHERE {id} = {} AND {dl} > {}",
                p(1),
                at(2)
            ),
            live: format!(
                "SELECT 1 FROM {t} WHERE {id} = {} AND {dl} > {}",
                p(1),
                at(2)
            ),
            lock: format!(
                "SELECT {data} FROM {t} WHERE {id} = {} AND {dl} > {}{for_update}",
                p(1),
                at(2)
            ),
            insert,
            replace_expired,
            update,
            delete_version,
            delete: format!("DELETE FROM {t} WHERE {id} = {}", p(1)),
            touch: format!(
                "UPDATE {t} SET {dl} = {} WHERE {id} = {} AND {dl} > {}",
                at(1),
                p(2),
                at(3)
            ),
            clear_batch,
            list_page,
            table: t.to_owned(),
        }
    }
}

/// The bytes the MySQL `id` column of tessera's table holds (key prefix + session id).
pub(crate) const MYSQL_ID_BYTES: usize = 255;

/// What each layout's owner creates on each database, made idempotent.
fn migrations(kind: Kind, table: &Table, t: &str, bare: &str) -> Vec<String> {
    match (table.profile, kind) {
        (Profile::FlaskSession, Kind::Postgres) => vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (id SERIAL NOT NULL, session_id VARCHAR(255), \
             data BYTEA, expiry TIMESTAMP WITHOUT TIME ZONE, PRIMARY KEY (id), UNIQUE (session_id))"
        )],
        (Profile::FlaskSession, Kind::Sqlite) => vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (id INTEGER NOT NULL, session_id VARCHAR(255), \
             data BLOB, expiry DATETIME, PRIMARY KEY (id), UNIQUE (session_id))"
        )],
        (Profile::FlaskSession, Kind::MySql) => vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (id INTEGER NOT NULL AUTO_INCREMENT, \
             session_id VARCHAR(255), data BLOB, expiry DATETIME, PRIMARY KEY (id), \
             UNIQUE (session_id))"
        )],
        (Profile::Django, kind) => {
            let (expire_index, like_index) = django_index_names(bare);
            let (data, date) = match kind {
                Kind::Postgres => ("text", "timestamp with time zone"),
                Kind::MySql => ("longtext", "datetime(6)"),
                Kind::Sqlite => ("text", "datetime"),
            };
            let q = |name: &str| match kind {
                Kind::MySql => format!("`{name}`"),
                _ => format!("\"{name}\""),
            };
            let columns = format!(
                "{} varchar(40) NOT NULL PRIMARY KEY, {} {data} NOT NULL, {} {date} NOT NULL",
                q("session_key"),
                q("session_data"),
                q("expire_date")
            );
            match kind {
                // MySQL has no CREATE INDEX IF NOT EXISTS: the index is declared with the table.
                Kind::MySql => vec![format!(
                    "CREATE TABLE IF NOT EXISTS {t} ({columns}, KEY {} ({}))",
                    q(&expire_index),
                    q("expire_date")
                )],
                _ => {
                    let mut out = vec![
                        format!("CREATE TABLE IF NOT EXISTS {t} ({columns})"),
                        format!(
                            "CREATE INDEX IF NOT EXISTS \"{expire_index}\" ON {t} (\"expire_date\")"
                        ),
                    ];
                    if kind == Kind::Postgres {
                        out.push(format!(
                            "CREATE INDEX IF NOT EXISTS \"{like_index}\" ON {t} (\"session_key\" varchar_pattern_ops)"
                        ));
                    }
                    out
                }
            }
        }
        (_, Kind::Postgres) => vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY, data BYTEA NOT NULL, \
                 expires_at BIGINT NOT NULL, version BIGINT NOT NULL DEFAULT 1)"
            ),
            format!("CREATE INDEX IF NOT EXISTS \"{bare}_expires_at\" ON {t} (expires_at)"),
        ],
        (_, Kind::Sqlite) => vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (id TEXT NOT NULL PRIMARY KEY, data BLOB NOT NULL, \
                 expires_at INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 1)"
            ),
            format!("CREATE INDEX IF NOT EXISTS \"{bare}_expires_at\" ON {t} (expires_at)"),
        ],
        (_, Kind::MySql) => vec![format!(
            "CREATE TABLE IF NOT EXISTS {t} (id VARBINARY({MYSQL_ID_BYTES}) NOT NULL PRIMARY KEY, \
             data LONGBLOB NOT NULL, expires_at BIGINT NOT NULL, version BIGINT NOT NULL DEFAULT 1, \
             KEY `{bare}_expires_at` (expires_at)) ENGINE=InnoDB"
        )],
    }
}

/// The index names Django's migration gives `django_session`; other tables get plain names.
fn django_index_names(table: &str) -> (String, String) {
    if table == super::DJANGO_TABLE {
        (
            "django_session_expire_date_a5c62663".to_owned(),
            "django_session_session_key_c0390e0f_like".to_owned(),
        )
    } else {
        (
            format!("{table}_expire_date"),
            format!("{table}_session_key_like"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn deadlines_are_each_layouts_text() {
        let at = datetime!(2030-01-02 03:04:05 UTC);
        assert!(matches!(
            Param::deadline(Kind::Sqlite, &DJANGO, at),
            Param::Text(t) if t == "2030-01-02 03:04:05"
        ));
        assert!(matches!(
            Param::deadline(Kind::Sqlite, &FLASK_SESSION, at),
            Param::Text(t) if t == "2030-01-02 03:04:05.000000"
        ));
        assert!(matches!(
            Param::deadline(Kind::MySql, &NATIVE, at),
            Param::Int(_)
        ));
        // Django's text with microseconds sorts after the whole second, as the time does.
        assert!("2030-01-02 03:04:05.5" > django_sqlite_datetime(at).as_str());
    }

    #[test]
    fn statements_keep_their_shape() {
        let s = Statements::new(Kind::Postgres, &NATIVE, "\"t\"", "t");
        assert_eq!(
            s.update,
            "UPDATE \"t\" SET data = $1, expires_at = $2, version = version + 1 \
             WHERE id = $3 AND version = $4 AND expires_at > $5"
        );
        let s = Statements::new(Kind::MySql, &DJANGO, "`django_session`", "django_session");
        assert_eq!(
            s.migrations,
            [
                "CREATE TABLE IF NOT EXISTS `django_session` (`session_key` varchar(40) NOT NULL \
              PRIMARY KEY, `session_data` longtext NOT NULL, `expire_date` datetime(6) NOT NULL, \
              KEY `django_session_expire_date_a5c62663` (`expire_date`))"
            ]
        );
        assert_eq!(
            s.clear_batch,
            "DELETE FROM `django_session` WHERE expire_date < CAST(? AS DATETIME(6)) LIMIT ?"
        );
        assert_eq!(
            s.list_page,
            "SELECT session_key, CAST(LENGTH(session_data) AS SIGNED), \
             TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', expire_date) FROM `django_session` \
             WHERE session_key > ? ORDER BY session_key LIMIT ?"
        );
        let s = Statements::new(
            Kind::Sqlite,
            &DJANGO,
            "\"django_session\"",
            "django_session",
        );
        assert!(s
            .list_page
            .starts_with("SELECT session_key, length(CAST(session_data AS BLOB)), "));
        let s = Statements::new(Kind::Sqlite, &FLASK_SESSION, "\"sessions\"", "sessions");
        assert!(s.insert.ends_with(
            "WHERE \"sessions\".expiry IS NULL OR \"sessions\".expiry <= ?4 RETURNING 1"
        ));
    }
}
