//! Plaza's [`Store`] on sqlx. SQLite (one file, WAL) is the embedded default.
//! Owns the schema and its migrations; knows nothing of messengers or routing.
//!
//! Writes go through one writer task that groups the batches of concurrent messages into
//! one transaction (group commit), so that throughput is not bound by one fsync per
//! message. On SQLite that transaction runs in one synchronous call on rusqlite's
//! connection (`sqlite_writer`: no round trip per statement); on PostgreSQL each table is
//! written with one statement, its columns bound as arrays.
//!
//! PostgreSQL ([`PgStore`], for cities and for more than one process) keeps the same
//! tables and shares the writer, the row decoding and the rules; only the SQL differs.

/// The small tables loaded whole at start (timers, notices asked for, crew members'
/// credit): the same SQL on both backends.
macro_rules! load_small_tables {
    ($snap:ident, $pool:expr, $core_until:expr) => {
        // The core's timers (one per task fixed) only as far as the window; plugins' all.
        $snap.timers = timers_from_rows(
            // Three ranges of the (owner, due_at) index, not a scan of a city's timers.
            sqlx::query_as(
                "SELECT owner, task_id, key, due_at FROM timers WHERE owner < $1 \
                 UNION ALL SELECT owner, task_id, key, due_at FROM timers WHERE owner > $1 \
                 UNION ALL SELECT owner, task_id, key, due_at FROM timers WHERE owner = $1 AND due_at <= $2",
            )
            .bind(plaza_core::store::CORE_TIMERS)
            .bind($core_until.0)
            .fetch_all($pool)
            .await
            .map_err(db)?,
        );
        $snap.subscriptions = subscriptions_from_rows(
            sqlx::query_as("SELECT identity, district FROM subscriptions").fetch_all($pool).await.map_err(db)?,
        )?;
        $snap.credits = credits_from_rows(
            sqlx::query_as("SELECT identity, name FROM credits").fetch_all($pool).await.map_err(db)?,
        )?;
    };
}

/// `Store::timers_due`: the same SQL on both backends.
macro_rules! timers_due {
    ($pool:expr, $owner:expr, $after:expr, $until:expr) => {
        Ok(timers_from_rows(
            sqlx::query_as(
                "SELECT owner, task_id, key, due_at FROM timers WHERE owner = $1 AND due_at > $2 AND due_at <= $3 \
                 ORDER BY due_at",
            )
            .bind($owner)
            .bind($after.0)
            .bind($until.0)
            .fetch_all($pool)
            .await
            .map_err(db)?,
        ))
    };
}

/// Statements that are the same SQL on both backends (`$N` parameters, which SQLite
/// reads too), as functions of each backend's pool: the inbox's reads and its first
/// write, the outbox's due rows, next retry and figures, what was delivered to a person.
macro_rules! shared_sql {
    ($pool:ty) => {
        /// A channel's due outbox rows for `chats` (see [`Store::due_outbox`]).
        async fn due_outbox_of(
            pool: &$pool,
            channel: &str,
            chats: Chats,
            now: Timestamp,
            limit: u32,
        ) -> Result<Vec<OutboxRow>, StoreError> {
            let rows = match kind_key(chats) {
                None => sqlx::query(
                    "SELECT id, destination, message, attempts, due_at, created_at FROM outbox \
                     WHERE channel = $1 AND state = 'pending' ORDER BY id LIMIT $2",
                )
                .bind(channel)
                .bind(i64::from(limit) * 4),
                Some(kind) => sqlx::query(
                    "SELECT id, destination, message, attempts, due_at, created_at FROM outbox \
                     WHERE channel = $1 AND state = 'pending' AND substr(destination, 1, 1) = $2 ORDER BY id LIMIT $3",
                )
                .bind(channel)
                .bind(kind)
                .bind(i64::from(limit) * 4),
            }
            .fetch_all(pool)
            .await
            .map_err(db)?;
            due_rows(&rows, channel, now, limit)
        }

        /// When `chats`' first pending row is due: one indexed read per kind of chat.
        async fn next_retry_of(pool: &$pool, channel: &str, chats: Chats) -> Result<Option<Timestamp>, StoreError> {
            let mut first: Option<i64> = None;
            for kind in kinds(chats) {
                let v: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(due_at) FROM outbox WHERE channel = $1 AND state = 'pending' AND substr(destination, 1, 1) = $2",
                )
                .bind(channel)
                .bind(*kind)
                .fetch_one(pool)
                .await
                .map_err(db)?;
                first = first.into_iter().chain(v).min();
            }
            Ok(first.map(Timestamp))
        }

        async fn outbox_figures_of(pool: &$pool) -> Result<Vec<(String, u64, Option<Timestamp>)>, StoreError> {
            let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
                "SELECT channel, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE state = 'pending' GROUP BY channel",
            )
            .fetch_all(pool)
            .await
            .map_err(db)?;
            Ok(rows.into_iter().map(|(c, n, oldest)| (c, n.max(0) as u64, oldest.map(Timestamp))).collect())
        }

        async fn delivered_to_of(
            pool: &$pool,
            to: &plaza_core::channel::Destination,
            limit: u32,
        ) -> Result<Vec<(String, plaza_core::channel::Outbound)>, StoreError> {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT platform_id, message FROM outbox WHERE destination = $1 AND state = 'delivered' \
                 AND platform_id IS NOT NULL AND platform_id <> '' ORDER BY id DESC LIMIT $2",
            )
            .bind(crate::destination_key(to))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db)?;
            // Newest first from the index; shown oldest first.
            let mut out: Vec<_> =
                rows.into_iter().filter_map(|(id, m)| serde_json::from_str(&m).ok().map(|o| (id, o))).collect();
            out.reverse();
            Ok(out)
        }

        async fn inbox_put(pool: &$pool, inbound: &Inbound, at: Timestamp) -> Result<i64, StoreError> {
            let text = serde_json::to_string(inbound).map_err(corrupt)?;
            sqlx::query_scalar("INSERT INTO inbox (inbound, at) VALUES ($1, $2) RETURNING id")
                .bind(text)
                .bind(at.0)
                .fetch_one(pool)
                .await
                .map_err(db)
        }

        async fn inbox_due(pool: &$pool, limit: u32) -> Result<Vec<(i64, Inbound)>, StoreError> {
            let rows: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, inbound FROM inbox WHERE handled_at IS NULL ORDER BY id LIMIT $1")
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await
                    .map_err(db)?;
            rows.into_iter().map(|(id, text)| Ok((id, serde_json::from_str(&text).map_err(corrupt)?))).collect()
        }

        async fn inbox_result(pool: &$pool, id: i64) -> Result<Option<Option<TaskId>>, StoreError> {
            let row: Option<(Option<i64>, Option<i64>)> =
                sqlx::query_as("SELECT handled_at, became FROM inbox WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await
                    .map_err(db)?;
            Ok(match row {
                Some((Some(_), became)) => Some(became.map(TaskId)),
                _ => None,
            })
        }
    };
}

mod postgres;
mod settings;
pub use postgres::PgStore;
pub use settings::StoreSettings;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use plaza_core::channel::{Destination, Inbound, Outbound, PostKind};
use plaza_core::dialogue::Dialogue;
use plaza_core::model::*;
use plaza_core::store::{
    Batch, Chats, CommitTicket, DeliveryOutcome, OutboxRow, PersonData, PostRecord, SeenWindow, Snapshot, Store,
    StoreError, TaskQuery,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info};

/// Most batches grouped into one transaction.
const MAX_GROUP: usize = 1024;
/// Identities per lookup's `IN (…)` list (SQLite allows 32,766 bound values per statement).
const ROWS_PER_STATEMENT: usize = 256;

/// Rows in statements of a few fixed sizes (powers of two up to `max`): a multi-row
/// INSERT's text depends on its row count, and with a handful of shapes every statement
/// stays prepared in the connection's cache instead of being parsed (and held) anew for
/// each batch's last, odd-sized chunk.
pub(crate) fn shaped<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = rest.len().min(max);
        let n = 1 << (usize::BITS - 1 - n.leading_zeros());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

/// What an outbox row to an erased person becomes: no address, no text.
macro_rules! blank_outbox_row {
    () => {
        "destination = 'erased', message = json_set(message, '$.text', '', '$.to', json('{\"direct\":\"erased:-\"}'))"
    };
}

mod sqlite_writer;

/// The text of statements that are the same SQL on both backends: `$N` parameters, first
/// used in ascending order, which SQLite (and rusqlite's positional binding) read too.
pub(crate) mod same_sql {
    pub const CURSOR: &str =
        "INSERT INTO cursors (key, value) VALUES ($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value";
    pub const INBOX_DONE: &str = "UPDATE inbox SET inbound = '', handled_at = $1, became = $2 WHERE id = $3";
    /// Handled inbox rows older than [`INBOX_KEPT_MS`] go.
    pub const INBOX_PRUNE: &str = "DELETE FROM inbox WHERE handled_at < $1";
    pub const INBOX_KEPT_MS: i64 = 3_600_000;
    pub const DELIVERED: &str = "UPDATE outbox SET state = 'delivered', delivered_at = $1, platform_id = $2, \
         attempts = attempts + 1 WHERE id = $3";
    pub const POST: &str = "INSERT INTO posts (channel, message_id, task_id, room, kind) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT(channel, message_id, task_id) DO UPDATE SET room=excluded.room, kind=excluded.kind";
    pub const RETRY: &str = "UPDATE outbox SET due_at = $1, attempts = attempts + 1, last_error = $2 WHERE id = $3";
    pub const FAILED: &str =
        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2";
    /// An erasure's statements bound to the person's identity, after each backend's own
    /// (which blank what they wrote, so the events' actor goes last of those).
    pub const ERASE_PERSON: [&str; 7] = [
        "UPDATE tasks SET assignee = 'erased:-' WHERE assignee = $1",
        "UPDATE task_events SET actor = 'erased:-' WHERE actor = $1",
        "DELETE FROM dialogues WHERE identity = $1",
        "DELETE FROM residents WHERE identity = $1",
        "DELETE FROM subscriptions WHERE identity = $1",
        "DELETE FROM credits WHERE identity = $1",
        // What channels keep about them (channel::person_key).
        "DELETE FROM cursors WHERE substr(key, 1, length('person:' || $1 || ':')) = 'person:' || $1 || ':'",
    ];
    /// Retention: the tasks ended before `$1` whose reporter is not yet anonymised.
    pub const RETENTION_ENDED: &str =
        "status IN ('resolved', 'closed') AND COALESCE(closed_at, resolved_at) < $1 AND reporter != 'erased:-'";
    /// Retention: those tasks' events lose their reporter as actor (bound to the same `$1`).
    pub fn retention_events() -> String {
        format!(
            "UPDATE task_events SET actor = CASE WHEN actor = (SELECT reporter FROM tasks WHERE id = task_events.task_id) \
             THEN 'erased:-' ELSE actor END WHERE task_id IN (SELECT id FROM tasks WHERE {RETENTION_ENDED})"
        )
    }
}

pub(crate) type Reply = oneshot::Sender<Result<(), StoreError>>;
pub(crate) type Job = (Batch, Reply);

/// A small write that must not wait behind the engine's batches: the record of a
/// message the platform took (until it is written, a crash would send it again) and the
/// update cursor.
pub(crate) enum Small {
    Delivery { id: i64, outcome: DeliveryOutcome, at: Timestamp },
    Cursor { key: String, value: String },
    InboxDone { id: i64, became: Option<TaskId>, at: Timestamp },
}

shared_sql!(SqlitePool);

pub struct SqliteStore {
    /// The folder of the database file (for the free space on its filesystem).
    dir: std::path::PathBuf,
    pool: SqlitePool,
    writer: mpsc::UnboundedSender<Job>,
    small: mpsc::UnboundedSender<(Small, Reply)>,
}

fn db(e: impl std::fmt::Display) -> StoreError {
    let text = e.to_string();
    // SQLITE_FULL, or the filesystem refusing to grow a file.
    if plaza_core::store::says_disk_full(&text) || text.contains("(code: 13)") {
        StoreError::DiskFull(text)
    } else {
        StoreError::Database(text)
    }
}
pub(crate) fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        // The folder of the database file (created if needed, and where free space is read).
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(|e| db(format!("cannot create {}: {e}", d.display())))?;
                d.to_path_buf()
            }
            None => std::path::PathBuf::from("."),
        };
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false);
        let mut migrator = SqliteConnection::connect_with(&opts).await.map_err(db)?;
        sqlx::migrate!("./migrations/sqlite").run(&mut migrator).await.map_err(db)?;
        migrator.close().await.map_err(db)?;
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await.map_err(db)?;
        // Opening a file and setting a few pragmas: brief enough to do here, at start.
        let writer_conn = sqlite_writer::open(path)?;
        let backend = SqliteBackend { path: path.to_path_buf() };
        let (tx, rx) = mpsc::unbounded_channel();
        let (small, small_rx) = mpsc::unbounded_channel();
        // The writer on a thread of its own: its writes are synchronous, and there they
        // neither hold up nor hand over a runtime worker.
        let writer = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| db(format!("cannot start the database writer: {e}")))?;
        std::thread::Builder::new()
            .name("plaza-db-writer".into())
            .spawn(move || writer.block_on(writer_loop(Writer::new(writer_conn, backend), rx, small_rx)))
            .map_err(|e| db(format!("cannot start the database writer: {e}")))?;
        Ok(SqliteStore { dir, pool, writer: tx, small })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn small_write(&self, job: Small) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.small.send((job, tx)).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// What the one writer needs of a database: a connection, and the two kinds of writes.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    type Conn: Send;
    async fn connect(&self) -> Result<Self::Conn, StoreError>;
    async fn write_small(&self, conn: &mut Self::Conn, jobs: Vec<&Small>) -> Result<(), StoreError>;
    async fn write_group(&self, conn: &mut Self::Conn, batches: Vec<&Batch>) -> Result<(), StoreError>;
}

/// The writer's connection. After a failed write it is closed and opened afresh: SQLite
/// may have rolled the transaction back by itself (SQLITE_FULL), and a connection whose
/// transaction state is in doubt could go on "committing" into a transaction that never
/// ends, holding the write lock, invisible to readers.
pub(crate) struct Writer<B: Backend> {
    conn: Option<B::Conn>,
    backend: B,
}

impl<B: Backend> Writer<B> {
    pub(crate) fn new(conn: B::Conn, backend: B) -> Self {
        Writer { conn: Some(conn), backend }
    }

    /// The connection (opened again if the last write failed), and the backend to write with.
    async fn ready(&mut self) -> Result<(&mut B::Conn, &B), StoreError> {
        if self.conn.is_none() {
            self.conn = Some(self.backend.connect().await?);
        }
        match self.conn.as_mut() {
            Some(conn) => Ok((conn, &self.backend)),
            None => Err(StoreError::Closed),
        }
    }

    /// Answers each job with the result of their shared transaction.
    fn reply<T>(&mut self, jobs: Vec<(T, Reply)>, result: Result<(), StoreError>) {
        if result.is_err() {
            self.conn = None;
        }
        for (_, reply) in jobs {
            let _ = reply.send(result.clone());
        }
    }
}

/// The first job and whatever else is waiting, up to a group's size.
fn drain<T>(first: T, rx: &mut mpsc::UnboundedReceiver<T>) -> Vec<T> {
    let mut jobs = vec![first];
    while jobs.len() < MAX_GROUP {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
    jobs
}

/// The one writer: small writes (delivery records, cursors) first, each time there are
/// any, then the engine's batches grouped into one transaction.
pub(crate) async fn writer_loop<B: Backend>(
    mut w: Writer<B>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    mut small_rx: mpsc::UnboundedReceiver<(Small, Reply)>,
) {
    // A failing database (a full disk) is logged when it starts failing and when it
    // recovers, not at every try.
    let mut failing = false;
    let mut said = |result: &Result<(), StoreError>, what: &str| match (result, failing) {
        (Err(e), false) => {
            failing = true;
            error!(error = %e, "{what} failed; retried until the database accepts writes");
        }
        (Err(e), true) => debug!(error = %e, "{what} failed again"),
        (Ok(()), true) => {
            failing = false;
            info!("the database accepts writes again");
        }
        (Ok(()), false) => debug!("{what} done"),
    };
    loop {
        tokio::select! {
            biased;
            Some(first) = small_rx.recv() => {
                let jobs = drain(first, &mut small_rx);
                let result = match w.ready().await {
                    Ok((conn, backend)) => backend.write_small(conn, jobs.iter().map(|(s, _)| s).collect()).await,
                    Err(e) => Err(e),
                };
                said(&result, "recording deliveries");
                w.reply(jobs, result);
            }
            Some(first) = rx.recv() => {
                let jobs = drain(first, &mut rx);
                let result = match w.ready().await {
                    Ok((conn, backend)) => backend.write_group(conn, jobs.iter().map(|(b, _)| b).collect()).await,
                    Err(e) => Err(e),
                };
                said(&result, "a commit");
                w.reply(jobs, result);
            }
            else => return,
        }
    }
}

/// SQLite's writes (see [`sqlite_writer`]).
struct SqliteBackend {
    path: std::path::PathBuf,
}

#[async_trait]
impl Backend for SqliteBackend {
    type Conn = rusqlite::Connection;
    // Run on the writer's own thread (see `SqliteStore::open`), where blocking is its job.
    async fn connect(&self) -> Result<rusqlite::Connection, StoreError> {
        sqlite_writer::open(&self.path)
    }
    async fn write_small(&self, conn: &mut rusqlite::Connection, jobs: Vec<&Small>) -> Result<(), StoreError> {
        sqlite_writer::write_small(conn, &jobs)
    }
    async fn write_group(&self, conn: &mut rusqlite::Connection, batches: Vec<&Batch>) -> Result<(), StoreError> {
        sqlite_writer::write_group(conn, &batches)
    }
}

/// The task columns, in the order both backends bind them.
pub(crate) const INSERT_TASKS: &str = "INSERT INTO tasks (id, category, crew, status, close_reason, visibility, \
     description, street, street_key, lat, lon, reporter, reporter_public, language, me_too, supporters, followers, \
     attachments, related, duplicate_of, assignee, created_at, updated_at, acknowledged_at, started_at, resolved_at, \
     closed_at, sealed, reporter_name, district, confirmation, rating, reopens, credit) ";
/// A task written again replaces its row (but its id and creation time).
pub(crate) const UPSERT_TASKS: &str = " ON CONFLICT(id) DO UPDATE SET category=excluded.category, crew=excluded.crew, \
     status=excluded.status, close_reason=excluded.close_reason, visibility=excluded.visibility, \
     description=excluded.description, street=excluded.street, street_key=excluded.street_key, lat=excluded.lat, \
     lon=excluded.lon, reporter=excluded.reporter, reporter_public=excluded.reporter_public, \
     language=excluded.language, me_too=excluded.me_too, supporters=excluded.supporters, \
     followers=excluded.followers, attachments=excluded.attachments, related=excluded.related, \
     duplicate_of=excluded.duplicate_of, assignee=excluded.assignee, updated_at=excluded.updated_at, \
     acknowledged_at=excluded.acknowledged_at, started_at=excluded.started_at, resolved_at=excluded.resolved_at, \
     closed_at=excluded.closed_at, sealed=excluded.sealed, reporter_name=excluded.reporter_name, \
     district=excluded.district, confirmation=excluded.confirmation, rating=excluded.rating, \
     reopens=excluded.reopens, credit=excluded.credit";

/// A group of batches as rows to write: each task once (its latest version), events and
/// outbox rows in order, each person's last dialogue state, residents, redelivery keys,
/// and the batches that erase or anonymise.
pub(crate) struct Flat<'a> {
    pub tasks: Vec<&'a Task>,
    pub events: Vec<&'a TaskEvent>,
    pub outbox: Vec<(&'a plaza_core::store::NewOutbox, Timestamp)>,
    pub dialogues: Vec<(&'a Identity, Option<&'a Dialogue>, Timestamp)>,
    pub residents: Vec<(&'a Identity, &'a String)>,
    pub seen: Vec<(&'a String, &'a String, Timestamp)>,
    pub erasures: Vec<&'a Batch>,
    /// Each timer's last state: set to a time, or gone.
    pub timers: Vec<(&'a TimerKey, Option<Timestamp>)>,
    /// Notices asked for or stopped, in order.
    pub subscriptions: Vec<&'a (Identity, String, bool)>,
    /// Crew members' choices of being named, in order.
    pub credits: Vec<&'a (Identity, Option<String>)>,
}

pub(crate) fn flatten<'a>(batches: impl Iterator<Item = &'a Batch>) -> Flat<'a> {
    let mut tasks: Vec<&Task> = Vec::new();
    let mut task_pos: HashMap<TaskId, usize> = HashMap::new();
    let mut events: Vec<&TaskEvent> = Vec::new();
    let mut outbox: Vec<(&plaza_core::store::NewOutbox, Timestamp)> = Vec::new();
    let mut dialogues: HashMap<&Identity, (usize, Option<&Dialogue>, Timestamp)> = HashMap::new();
    let mut residents: HashMap<&Identity, &String> = HashMap::new();
    let mut seen: Vec<(&String, &String, Timestamp)> = Vec::new();
    let mut order = 0usize;
    let mut erasures: Vec<&Batch> = Vec::new();
    let mut timers: HashMap<&TimerKey, Option<Timestamp>> = HashMap::new();
    let mut subscriptions = Vec::new();
    let mut credits = Vec::new();
    for b in batches {
        subscriptions.extend(&b.subscriptions);
        credits.extend(&b.credits);
        for (k, due) in &b.timers {
            timers.insert(k, *due);
        }
        if !b.erase.is_empty() || b.retention_before.is_some() {
            erasures.push(b);
        }
        for t in &b.tasks {
            match task_pos.get(&t.id) {
                Some(&i) => tasks[i] = t,
                None => {
                    task_pos.insert(t.id, tasks.len());
                    tasks.push(t);
                }
            }
        }
        events.extend(&b.events);
        for o in &b.outbox {
            outbox.push((o, b.at));
        }
        for (who, d) in &b.dialogues {
            order += 1;
            dialogues.insert(who, (order, d.as_ref(), b.at));
        }
        for (who, l) in &b.residents {
            residents.insert(who, l);
        }
        for (c, m) in &b.seen {
            seen.push((c, m, b.at));
        }
    }
    let mut ds: Vec<_> = dialogues.into_iter().collect();
    ds.sort_by_key(|(_, (o, _, _))| *o);
    Flat {
        tasks,
        events,
        outbox,
        dialogues: ds.into_iter().map(|(who, (_, d, at))| (who, d, at)).collect(),
        residents: residents.into_iter().collect(),
        seen,
        erasures,
        timers: timers.into_iter().collect(),
        subscriptions,
        credits,
    }
}

pub(crate) fn visibility_str(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "public",
        Visibility::Private => "private",
    }
}

pub(crate) fn post_kind_str(k: PostKind) -> &'static str {
    match k {
        PostKind::Public => "public",
        PostKind::Card => "card",
        PostKind::Triage => "triage",
    }
}

fn post_kind(s: &str) -> Result<PostKind, StoreError> {
    Ok(match s {
        "public" => PostKind::Public,
        "card" => PostKind::Card,
        "triage" => PostKind::Triage,
        other => return Err(corrupt(format!("unknown post kind {other}"))),
    })
}

/// The first letter of [`destination_key`] for each kind of chat `chats` takes (the
/// outbox's indexes of pending rows are by it): `d` for "dm:…", `r` for "room:…".
pub(crate) fn kinds(chats: Chats) -> &'static [&'static str] {
    match chats {
        Chats::All => &["d", "r"],
        Chats::Direct => &["d"],
        Chats::Rooms => &["r"],
    }
}

/// The one kind `chats` reads, if it is one (see [`kinds`]).
pub(crate) fn kind_key(chats: Chats) -> Option<&'static str> {
    match kinds(chats) {
        [one] => Some(one),
        _ => None,
    }
}

/// A stable text key for an outbox destination, to keep per-destination order.
pub(crate) fn destination_key(d: &Destination) -> String {
    match d {
        Destination::Direct(who) => format!("dm:{who}"),
        Destination::Room(r) => format!("room:{r}"),
    }
}

/// A task from its row, on any backend.
pub(crate) fn task_from_row<'r, R>(r: &'r R) -> Result<Task, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let g = |e: sqlx::Error| corrupt(e);
    let status: String = r.try_get("status").map_err(g)?;
    let reason: Option<String> = r.try_get("close_reason").map_err(g)?;
    let visibility: String = r.try_get("visibility").map_err(g)?;
    let lat: Option<f64> = r.try_get("lat").map_err(g)?;
    let lon: Option<f64> = r.try_get("lon").map_err(g)?;
    let reporter: String = r.try_get("reporter").map_err(g)?;
    let assignee: Option<String> = r.try_get("assignee").map_err(g)?;
    let json = |col: &str| -> Result<String, StoreError> { r.try_get::<String, _>(col).map_err(corrupt) };
    let ts = |col: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(col).map_err(corrupt)?.map(Timestamp))
    };
    Ok(Task {
        id: TaskId(r.try_get("id").map_err(g)?),
        category: r.try_get("category").map_err(g)?,
        crew: r.try_get("crew").map_err(g)?,
        status: Status::from_parts(&status, reason.as_deref()).ok_or_else(|| corrupt(format!("status {status}")))?,
        visibility: if visibility == "public" { Visibility::Public } else { Visibility::Private },
        description: r.try_get("description").map_err(g)?,
        place: Place {
            street: r.try_get("street").map_err(g)?,
            street_key: r.try_get("street_key").map_err(g)?,
            point: match (lat, lon) {
                (Some(lat), Some(lon)) => Some(GeoPoint { lat, lon }),
                _ => None,
            },
            district: r.try_get("district").map_err(g)?,
        },
        attachments: serde_json::from_str(&json("attachments")?).map_err(corrupt)?,
        reporter: Identity::from_str(&reporter).map_err(corrupt)?,
        reporter_public: r.try_get("reporter_public").map_err(g)?,
        reporter_name: r.try_get("reporter_name").map_err(g)?,
        sealed: r.try_get("sealed").map_err(g)?,
        language: r.try_get("language").map_err(g)?,
        supporters: serde_json::from_str(&json("supporters")?).map_err(corrupt)?,
        followers: serde_json::from_str(&json("followers")?).map_err(corrupt)?,
        duplicate_of: r.try_get::<Option<i64>, _>("duplicate_of").map_err(g)?.map(TaskId),
        related: serde_json::from_str(&json("related")?).map_err(corrupt)?,
        assignee: assignee.map(|a| Identity::from_str(&a)).transpose().map_err(corrupt)?,
        created_at: Timestamp(r.try_get("created_at").map_err(g)?),
        updated_at: Timestamp(r.try_get("updated_at").map_err(g)?),
        acknowledged_at: ts("acknowledged_at")?,
        started_at: ts("started_at")?,
        resolved_at: ts("resolved_at")?,
        closed_at: ts("closed_at")?,
        feedback: Feedback {
            confirmation: r
                .try_get::<Option<String>, _>("confirmation")
                .map_err(g)?
                .as_deref()
                .and_then(Confirmation::parse),
            rating: r.try_get::<Option<i64>, _>("rating").map_err(g)?.and_then(|n| u8::try_from(n).ok()),
            reopens: u32::try_from(r.try_get::<i64, _>("reopens").map_err(g)?).unwrap_or(0),
            credit: r.try_get("credit").map_err(g)?,
        },
    })
}

/// The per-crew figures of the stats: durations of every task, feedback of those marked
/// done at least once. Rows: crew, ms to acknowledge, ms to resolve, rating, reopens.
#[allow(clippy::type_complexity)]
pub(crate) fn crew_rows<R: Row>(rows: &[R]) -> (Vec<(String, Option<i64>, Option<i64>)>, Vec<(String, Option<u8>, u32)>)
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut durations = Vec::with_capacity(rows.len());
    let mut feedback = Vec::new();
    for r in rows {
        let crew: String = r.get(0);
        let resolve: Option<i64> = r.get(2);
        let reopens = u32::try_from(r.get::<i64, _>(4)).unwrap_or(0);
        if resolve.is_some() || reopens > 0 {
            let rating = r.get::<Option<i64>, _>(3).and_then(|n| u8::try_from(n).ok());
            feedback.push((crew.clone(), rating, reopens));
        }
        durations.push((crew, r.get::<Option<i64>, _>(1), resolve));
    }
    (durations, feedback)
}

pub(crate) fn subscriptions_from_rows(rows: Vec<(String, String)>) -> Result<Vec<(Identity, String)>, StoreError> {
    rows.into_iter().map(|(who, d)| Ok((Identity::from_str(&who).map_err(corrupt)?, d))).collect()
}

#[allow(clippy::type_complexity)]
pub(crate) fn credits_from_rows(
    rows: Vec<(String, Option<String>)>,
) -> Result<Vec<(Identity, Option<String>)>, StoreError> {
    rows.into_iter().map(|(who, n)| Ok((Identity::from_str(&who).map_err(corrupt)?, n))).collect()
}

pub(crate) fn timers_from_rows(rows: Vec<(String, i64, String, i64)>) -> Vec<(TimerKey, Timestamp)> {
    rows.into_iter()
        .map(|(owner, task, key, due)| (TimerKey { owner, task: TaskId(task), key }, Timestamp(due)))
        .collect()
}

pub(crate) fn post_from_row<'r, R>(r: &'r R) -> Result<PostRecord, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = r.try_get("kind").map_err(corrupt)?;
    Ok(PostRecord {
        channel: r.try_get("channel").map_err(corrupt)?,
        room: r.try_get("room").map_err(corrupt)?,
        kind: post_kind(&kind)?,
        task: TaskId(r.try_get("task_id").map_err(corrupt)?),
        message_id: r.try_get("message_id").map_err(corrupt)?,
    })
}

/// A resident's language from its row (identity, language), on any backend.
pub(crate) fn language_from_row<'r, R>(r: &'r R) -> Result<(Identity, String), StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let who: String = r.try_get("identity").map_err(corrupt)?;
    Ok((Identity::from_str(&who).map_err(corrupt)?, r.try_get("language").map_err(corrupt)?))
}

/// A task's event from its row (task_id, at, actor, detail), on any backend.
pub(crate) fn event_from_row<'r, R>(r: &'r R) -> Result<TaskEvent, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let actor: Option<String> = r.try_get("actor").map_err(corrupt)?;
    let detail: String = r.try_get("detail").map_err(corrupt)?;
    Ok(TaskEvent {
        task: TaskId(r.try_get("task_id").map_err(corrupt)?),
        at: Timestamp(r.try_get("at").map_err(corrupt)?),
        actor: actor.map(|a| Identity::from_str(&a)).transpose().map_err(corrupt)?,
        kind: serde_json::from_str(&detail).map_err(corrupt)?,
    })
}

/// The rows of a channel's pending outbox, oldest first, as due at `now`: a row waiting
/// for a retry holds back the later rows for the same destination, so each chat sees
/// messages in the order they were made.
pub(crate) fn due_rows<'r, R>(
    rows: &'r [R],
    channel: &str,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<OutboxRow>, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut waiting: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for r in rows {
        let dest: String = r.try_get("destination").map_err(corrupt)?;
        let due: i64 = r.try_get("due_at").map_err(corrupt)?;
        if due > now.0 || waiting.contains(&dest) {
            waiting.insert(dest);
            continue;
        }
        let msg: String = r.try_get("message").map_err(corrupt)?;
        let message: Outbound = serde_json::from_str(&msg).map_err(corrupt)?;
        out.push(OutboxRow {
            id: r.try_get("id").map_err(corrupt)?,
            channel: channel.to_owned(),
            message,
            attempts: r.try_get::<i64, _>("attempts").map_err(corrupt)? as u32,
            created_at: Timestamp(r.try_get("created_at").map_err(corrupt)?),
        });
        if out.len() >= limit as usize {
            break;
        }
    }
    Ok(out)
}

/// Open tasks at the end of each day from `since` to `until`, from the count of tasks
/// that never ended and the (created, ended) times of the tasks created or ended in the
/// period: open(E) = #{never ended, created < E} + #{ended >= E, created < E}.
pub(crate) fn backlog(
    never_ended: i64,
    recent: &[(i64, Option<i64>)],
    since: Timestamp,
    until: Timestamp,
) -> Vec<(i64, u64)> {
    let today = until.0 / DAY;
    let first = since.0 / DAY;
    let mut backlog = Vec::new();
    for day in first..=today {
        let end = (day + 1) * DAY;
        let mut n = never_ended;
        for (created, ended) in recent {
            match ended {
                None if *created >= end => n -= 1,
                Some(e) if *e >= end && *created < end => n += 1,
                _ => {}
            }
        }
        backlog.push((day, n.max(0) as u64));
    }
    backlog
}

pub(crate) const DAY: i64 = 86_400_000;

#[async_trait]
impl Store for SqliteStore {
    async fn load(&self, seen: SeenWindow) -> Result<Snapshot, StoreError> {
        let mut snap = Snapshot::default();
        let rows =
            sqlx::query("SELECT * FROM tasks WHERE status IN ('open', 'acknowledged', 'in_progress') ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        for r in &rows {
            snap.tasks.push(task_from_row(r)?);
        }
        snap.last_task_id = sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM tasks")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?
            .unwrap_or(0);
        for r in sqlx::query("SELECT identity, state FROM dialogues").fetch_all(&self.pool).await.map_err(db)? {
            let who: String = r.try_get("identity").map_err(corrupt)?;
            let state: String = r.try_get("state").map_err(corrupt)?;
            snap.dialogues
                .push((Identity::from_str(&who).map_err(corrupt)?, serde_json::from_str(&state).map_err(corrupt)?));
        }
        for r in sqlx::query(
            "SELECT channel, message_id FROM \
             (SELECT channel, message_id, at FROM seen WHERE at >= ? ORDER BY at DESC LIMIT ?) ORDER BY at",
        )
        .bind(seen.since.0)
        .bind(i64::from(seen.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        {
            snap.seen.push((r.try_get("channel").map_err(corrupt)?, r.try_get("message_id").map_err(corrupt)?));
        }
        for r in sqlx::query(
            "SELECT p.* FROM posts p JOIN tasks t ON t.id = p.task_id \
             WHERE t.status IN ('open', 'acknowledged', 'in_progress')",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        {
            snap.posts.push(post_from_row(&r)?);
        }
        load_small_tables!(snap, &self.pool, seen.core_timers_until);
        Ok(snap)
    }

    async fn timers_due(
        &self,
        owner: &str,
        after: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(TimerKey, Timestamp)>, StoreError> {
        timers_due!(&self.pool, owner, after, until)
    }

    async fn languages(&self, who: &[Identity]) -> Result<Vec<(Identity, String)>, StoreError> {
        let mut found = Vec::new();
        for chunk in shaped(who, ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT identity, language FROM residents WHERE identity IN (");
            let mut list = q.separated(", ");
            for w in chunk {
                list.push_bind(w.to_string());
            }
            q.push(")");
            for r in q.build().fetch_all(&self.pool).await.map_err(db)? {
                found.push(language_from_row(&r)?);
            }
        }
        Ok(found)
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM tasks WHERE id = ?").bind(id.0).fetch_optional(&self.pool).await.map_err(db)?;
        row.as_ref().map(task_from_row).transpose()
    }

    async fn posts_of(&self, id: TaskId) -> Result<Vec<PostRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM posts WHERE task_id = ?").bind(id.0).fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(post_from_row).collect()
    }

    async fn posts_by_message(&self, channel: &str, message_id: &str) -> Result<Vec<PostRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM posts WHERE channel = ? AND message_id = ? ORDER BY task_id")
            .bind(channel)
            .bind(message_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(post_from_row).collect()
    }

    fn submit(&self, batch: Batch) -> CommitTicket {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError((_, reply))) = self.writer.send((batch, tx)) {
            let _ = reply.send(Err(StoreError::Closed));
        }
        rx
    }

    async fn due_outbox(
        &self,
        channel: &str,
        chats: Chats,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        due_outbox_of(&self.pool, channel, chats, now, limit).await
    }

    async fn next_retry(&self, channel: &str, chats: Chats) -> Result<Option<Timestamp>, StoreError> {
        next_retry_of(&self.pool, channel, chats).await
    }

    async fn record_delivery(&self, outbox_id: i64, outcome: DeliveryOutcome, at: Timestamp) -> Result<(), StoreError> {
        self.small_write(Small::Delivery { id: outbox_id, outcome, at }).await
    }

    async fn cursor(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM cursors WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
    }

    async fn inbox_put(&self, inbound: &Inbound, at: Timestamp) -> Result<i64, StoreError> {
        inbox_put(&self.pool, inbound, at).await
    }

    async fn inbox_due(&self, limit: u32) -> Result<Vec<(i64, Inbound)>, StoreError> {
        inbox_due(&self.pool, limit).await
    }

    async fn inbox_done(&self, id: i64, became: Option<TaskId>, at: Timestamp) -> Result<(), StoreError> {
        self.small_write(Small::InboxDone { id, became, at }).await
    }

    async fn inbox_result(&self, id: i64) -> Result<Option<Option<TaskId>>, StoreError> {
        inbox_result(&self.pool, id).await
    }

    async fn set_cursor(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.small_write(Small::Cursor { key: key.to_owned(), value: value.to_owned() }).await
    }

    async fn tasks(&self, q: &TaskQuery) -> Result<Vec<Task>, StoreError> {
        let mut b = QueryBuilder::<Sqlite>::new("SELECT * FROM tasks WHERE 1 = 1");
        // Newest first with a limit (the board, Open311): walking the table from the
        // newest row finds a page at once, where the status index would collect every
        // match (tens of thousands in a city) and sort them; `+status` keeps SQLite from
        // choosing it. A category has its own index in id order (tasks_by_category).
        let plus = if q.newest_first { "+" } else { "" };
        if let Some(s) = q.status {
            b.push(format!(" AND {plus}status = ")).push_bind(s.key());
        }
        if let Some(c) = &q.category {
            b.push(" AND category = ").push_bind(c.clone());
        }
        if !q.statuses.is_empty() {
            b.push(format!(" AND {plus}status IN ("));
            let mut sep = b.separated(", ");
            for s in &q.statuses {
                sep.push_bind(s.key());
            }
            b.push(")");
        }
        if q.public_only {
            b.push(" AND visibility = 'public' AND crew IS NOT NULL");
        }
        if let Some(d) = &q.district {
            b.push(" AND district = ").push_bind(d.clone());
        }
        if let Some(r) = &q.reporter {
            b.push(" AND reporter = ").push_bind(r.to_string());
        }
        if q.awaiting_answer {
            b.push(format!(" AND {plus}status = 'resolved' AND confirmation = 'asked'"));
        }
        if !q.ids.is_empty() {
            b.push(" AND id IN (");
            let mut sep = b.separated(", ");
            for id in &q.ids {
                sep.push_bind(id.0);
            }
            b.push(")");
        }
        if let Some(t) = q.created_from {
            b.push(" AND created_at >= ").push_bind(t.0);
        }
        if let Some(t) = q.created_before {
            b.push(" AND created_at < ").push_bind(t.0);
        }
        if let Some(t) = q.ended_from {
            b.push(" AND COALESCE(resolved_at, closed_at) >= ").push_bind(t.0);
        }
        b.push(if q.newest_first { " ORDER BY id DESC" } else { " ORDER BY id" });
        b.push(" LIMIT ").push_bind(q.limit.map_or(-1, i64::from));
        b.push(" OFFSET ").push_bind(i64::from(q.offset));
        let rows = b.build().fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(task_from_row).collect()
    }

    async fn task_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, CASE WHEN visibility = 'private' THEN 'private' ELSE COALESCE(category, 'triage') END AS c, \
             COUNT(*) AS n FROM tasks GROUP BY status, c",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>("status"), r.get::<String, _>("c"), r.get::<i64, _>("n").max(0) as u64))
            .collect())
    }

    async fn delivered_to(
        &self,
        to: &plaza_core::channel::Destination,
        limit: u32,
    ) -> Result<Vec<(String, plaza_core::channel::Outbound)>, StoreError> {
        delivered_to_of(&self.pool, to, limit).await
    }

    async fn outbox_figures(&self) -> Result<Vec<(String, u64, Option<Timestamp>)>, StoreError> {
        outbox_figures_of(&self.pool).await
    }

    fn free_bytes(&self) -> Option<u64> {
        plaza_core::store::free_bytes_at(&self.dir)
    }

    async fn assignments(&self, limit: u32) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.description AS text, json_extract(e.detail, '$.category') AS category \
             FROM task_events e JOIN tasks t ON t.id = e.task_id \
             WHERE e.kind = 'assigned' AND t.description != '' AND json_extract(e.detail, '$.category') IS NOT NULL \
             ORDER BY e.id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| Ok((r.try_get("text").map_err(corrupt)?, r.try_get("category").map_err(corrupt)?)))
            .collect()
    }

    async fn person_data(&self, who: &Identity) -> Result<PersonData, StoreError> {
        let id = who.to_string();
        let language: Option<String> = sqlx::query_scalar("SELECT language FROM residents WHERE identity = ?")
            .bind(&id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let rows = sqlx::query("SELECT * FROM tasks WHERE reporter = ? ORDER BY id")
            .bind(&id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let reported = rows.iter().map(task_from_row).collect::<Result<Vec<_>, _>>()?;
        let following: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE reporter != ?1 AND (EXISTS (SELECT 1 FROM json_each(tasks.followers) WHERE value = ?1) \
             OR EXISTS (SELECT 1 FROM json_each(tasks.supporters) WHERE value = ?1)) ORDER BY id",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let rows = sqlx::query("SELECT task_id, at, detail FROM task_events WHERE actor = ? ORDER BY id")
            .bind(&id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut events = Vec::new();
        for r in &rows {
            let detail: String = r.try_get("detail").map_err(corrupt)?;
            let kind: EventKind = serde_json::from_str(&detail).map_err(corrupt)?;
            if matches!(kind, EventKind::Created) {
                continue;
            }
            events.push(TaskEvent {
                task: TaskId(r.try_get("task_id").map_err(corrupt)?),
                at: Timestamp(r.try_get("at").map_err(corrupt)?),
                actor: Some(who.clone()),
                kind,
            });
        }
        let dialogue: Option<String> = sqlx::query_scalar("SELECT state FROM dialogues WHERE identity = ?")
            .bind(&id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(PersonData {
            language,
            reported,
            following: following.into_iter().map(TaskId).collect(),
            events,
            dialogue: dialogue.map(|d| serde_json::from_str(&d)).transpose().map_err(corrupt)?,
        })
    }

    async fn stats(&self, since: Timestamp, until: Timestamp) -> Result<plaza_core::store::Stats, StoreError> {
        // The period's rows by their creation (tasks_by_created), never the whole table:
        // SQLite would otherwise walk the category index to group by category.
        let per_day = sqlx::query(
            "SELECT created_at / ? AS day, COUNT(*) FROM tasks INDEXED BY tasks_by_created WHERE created_at >= ? \
             GROUP BY day ORDER BY day",
        )
        .bind(DAY)
        .bind(since.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1) as u64))
        .collect();
        let per_category = sqlx::query(
            "SELECT category, COUNT(*), SUM(status IN ('open','acknowledged','in_progress')), SUM(me_too) \
             FROM tasks INDEXED BY tasks_by_created WHERE created_at >= ? GROUP BY category ORDER BY COUNT(*) DESC",
        )
        .bind(since.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            (
                r.get::<Option<String>, _>(0),
                r.get::<i64, _>(1) as u64,
                r.get::<Option<i64>, _>(2).unwrap_or(0) as u64,
                r.get::<Option<i64>, _>(3).unwrap_or(0) as u64,
            )
        })
        .collect();
        let rows = sqlx::query(
            "SELECT crew, acknowledged_at - created_at, resolved_at - created_at, rating, reopens FROM tasks INDEXED BY tasks_by_created \
             WHERE created_at >= ? AND crew IS NOT NULL",
        )
        .bind(since.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let (durations, feedback) = crew_rows(&rows);
        // Open at the end of each day E: created before E and not ended (resolved or
        // closed) before E. In one pass over the recent rows (created or ended in the
        // period, both indexed) and one count of all that never ended:
        //   open(E) = #{never ended, created < E} + #{ended >= E, created < E}
        let never_ended: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE COALESCE(resolved_at, closed_at) IS NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        let recent: Vec<(i64, Option<i64>)> = sqlx::query(
            "SELECT created_at, COALESCE(resolved_at, closed_at) FROM tasks WHERE created_at >= ?1 \
             UNION ALL SELECT created_at, COALESCE(resolved_at, closed_at) FROM tasks \
             WHERE COALESCE(resolved_at, closed_at) >= ?1 AND created_at < ?1",
        )
        .bind(since.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| (r.get::<i64, _>(0), r.get::<Option<i64>, _>(1)))
        .collect();
        let backlog = backlog(never_ended, &recent, since, until);
        Ok(plaza_core::store::Stats { per_day, per_category, durations, feedback, backlog })
    }

    async fn events(&self, id: TaskId) -> Result<Vec<TaskEvent>, StoreError> {
        self.events_of(&[id]).await
    }

    async fn events_of(&self, ids: &[TaskId]) -> Result<Vec<TaskEvent>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut b =
            QueryBuilder::<Sqlite>::new("SELECT task_id, at, actor, detail FROM task_events WHERE task_id IN (");
        let mut sep = b.separated(", ");
        for id in ids {
            sep.push_bind(id.0);
        }
        b.push(") ORDER BY task_id, id");
        let rows = b.build().fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(event_from_row).collect()
    }
}
