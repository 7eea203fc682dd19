//! Plaza's [`Store`] on PostgreSQL (`[store] url = "postgres://…"`): for a city, and for
//! more than one process on one database. Same tables, same writer (one transaction per
//! group of batches, a statement per table), same row decoding as SQLite; the SQL that
//! differs (jsonb instead of SQLite's json functions, `$n` parameters) is here.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use plaza_core::channel::{Destination, Inbound};
use plaza_core::dialogue::Dialogue;
use plaza_core::model::*;
use plaza_core::store::{
    Batch, Chats, CommitTicket, DeliveryOutcome, OutboxRow, PersonData, PostRecord, SeenWindow, Snapshot, Store,
    StoreError, TaskQuery,
};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, PgExecutor, Postgres, QueryBuilder, Row};
use tokio::sync::{mpsc, oneshot};

use crate::{
    Backend, Flat, INSERT_TASKS, Job, Reply, Small, UPSERT_TASKS, Writer, backlog, corrupt, credits_from_rows,
    crew_rows, destination_key, due_rows, event_from_row, flatten, kind_key, kinds, language_from_row, post_from_row,
    post_kind_str, same_sql, subscriptions_from_rows, task_from_row, timers_from_rows, visibility_str, writer_loop,
};

/// The advisory lock that is the leader's lease ("PLAZA" in ASCII).
const LEASE_KEY: i64 = 0x50_4c_41_5a_41;

shared_sql!(PgPool);

pub struct PgStore {
    opts: PgConnectOptions,
    /// The leader's lease, while this process holds it (see [`PgStore::lead`]).
    lease: tokio::sync::Mutex<Option<PgConnection>>,
    pool: PgPool,
    writer: mpsc::UnboundedSender<Job>,
    small: mpsc::UnboundedSender<(Small, Reply)>,
}

fn db(e: impl std::fmt::Display) -> StoreError {
    let text = e.to_string();
    // 53100: disk_full.
    if text.contains("53100") || plaza_core::store::says_disk_full(&text) {
        StoreError::DiskFull(text)
    } else {
        StoreError::Database(text)
    }
}

struct PgBackend {
    opts: PgConnectOptions,
}

#[async_trait]
impl Backend for PgBackend {
    type Conn = PgConnection;
    async fn connect(&self) -> Result<PgConnection, StoreError> {
        PgConnection::connect_with(&self.opts).await.map_err(db)
    }
    async fn write_small(&self, conn: &mut PgConnection, jobs: Vec<&Small>) -> Result<(), StoreError> {
        let mut tx = conn.begin().await.map_err(db)?;
        for job in jobs {
            match job {
                Small::Delivery { id, outcome, at } => write_delivery(&mut tx, *id, outcome, *at).await?,
                Small::Cursor { key, value } => {
                    sqlx::query(same_sql::CURSOR).bind(key).bind(value).execute(&mut *tx).await.map_err(db)?;
                }
                Small::InboxDone { id, became, at } => {
                    sqlx::query(same_sql::INBOX_DONE)
                        .bind(at.0)
                        .bind(became.map(|t| t.0))
                        .bind(*id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    sqlx::query(same_sql::INBOX_PRUNE)
                        .bind(at.0 - same_sql::INBOX_KEPT_MS)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
            }
        }
        tx.commit().await.map_err(db)
    }
    async fn write_group(&self, conn: &mut PgConnection, batches: Vec<&Batch>) -> Result<(), StoreError> {
        let mut tx = conn.begin().await.map_err(db)?;
        write_flat(&mut tx, flatten(batches.into_iter())).await?;
        tx.commit().await.map_err(db)
    }
}

impl PgStore {
    /// Connects to the database at `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<PgStore, StoreError> {
        let opts = PgConnectOptions::from_str(url).map_err(|e| db(format!("{url}: {e}")))?;
        let mut writer_conn = PgConnection::connect_with(&opts).await.map_err(db)?;
        sqlx::migrate!("./migrations/postgres").run(&mut writer_conn).await.map_err(db)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.clone())
            .await
            .map_err(db)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (small, small_rx) = mpsc::unbounded_channel();
        tokio::spawn(writer_loop(Writer::new(writer_conn, PgBackend { opts: opts.clone() }), rx, small_rx));
        Ok(PgStore { opts, lease: tokio::sync::Mutex::new(None), pool, writer: tx, small })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Takes the leader's lease: one process at a time runs the engine, the messengers
    /// and the outbox on a database (a Telegram token allows one poller, the engine's
    /// state one writer). The lease is a PostgreSQL session lock on a connection of its
    /// own, so the server frees it as soon as that connection ends, however the process
    /// ends (SIGKILL included). `wait`: a standby waits for it, trying every second;
    /// otherwise Ok(false) when another process holds it.
    pub async fn lead(&self, wait: bool) -> Result<bool, StoreError> {
        let mut lease = self.lease.lock().await;
        if lease.is_some() {
            return Ok(true);
        }
        let mut conn = PgConnection::connect_with(&self.opts).await.map_err(db)?;
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(LEASE_KEY)
                .fetch_one(&mut conn)
                .await
                .map_err(db)?;
            if got {
                *lease = Some(conn);
                return Ok(true);
            }
            if !wait {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Whether the lease is still held: its connection answers. A leader that lost it
    /// (the database restarted, the network cut) must stop at once, because a standby
    /// may already have taken over.
    pub async fn still_leading(&self) -> bool {
        let mut lease = self.lease.lock().await;
        match lease.as_mut() {
            Some(conn) => sqlx::query("SELECT 1").execute(conn).await.is_ok(),
            None => false,
        }
    }

    async fn small_write(&self, job: Small) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.small.send((job, tx)).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// What an outbox row to an erased person becomes: no address, no text.
const BLANK_OUTBOX_ROW: &str = "destination = 'erased', \
     message = jsonb_set(jsonb_set(message::jsonb, '{text}', '\"\"'), '{to}', '{\"direct\":\"erased:-\"}')::text";

async fn write_delivery(
    tx: &mut PgConnection,
    outbox_id: i64,
    outcome: &DeliveryOutcome,
    at: Timestamp,
) -> Result<(), StoreError> {
    match outcome {
        DeliveryOutcome::Delivered { message_id, posts } => {
            sqlx::query(same_sql::DELIVERED)
                .bind(at.0)
                .bind(message_id)
                .bind(outbox_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            // The last message to someone whose data was erased leaves no trace.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE outbox SET {BLANK_OUTBOX_ROW} WHERE id = $1 AND message::jsonb->>'farewell' = 'true'"
            )))
            .bind(outbox_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            for p in posts {
                sqlx::query(same_sql::POST)
                    .bind(&p.channel)
                    .bind(&p.message_id)
                    .bind(p.task.0)
                    .bind(&p.room)
                    .bind(post_kind_str(p.kind))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        }
        DeliveryOutcome::Retry { at: due, error } => {
            sqlx::query(same_sql::RETRY).bind(due.0).bind(error).bind(outbox_id).execute(&mut *tx).await.map_err(db)?;
        }
        DeliveryOutcome::Failed { error } => {
            sqlx::query(same_sql::FAILED).bind(error).bind(outbox_id).execute(&mut *tx).await.map_err(db)?;
        }
    }
    Ok(())
}

/// A task's row as one array per column (see [`write_flat`]).
const TASKS_FROM_ARRAYS: &str = "SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::text[], $9::text[], $10::float8[], $11::float8[], $12::text[], $13::bool[], $14::text[], \
     $15::int8[], $16::text[], $17::text[], $18::text[], $19::text[], $20::int8[], $21::text[], $22::int8[], $23::int8[], \
     $24::int8[], $25::int8[], $26::int8[], $27::int8[], $28::bool[], $29::text[], $30::text[], $31::text[], $32::int8[], \
     $33::int8[], $34::text[])";

/// A group's rows, one statement per table whatever their number: each column is bound
/// as one array and `UNNEST` makes the rows. The statements' text never changes, so the
/// server parses and plans each once per connection, and a group costs a round trip
/// per table (the multi-row `VALUES` this replaced was planned anew per shape, a
/// parameter per value, and cut into up to nine statements per table).
/// Rows that are numbered by the table (events, outbox) keep the group's order:
/// `WITH ORDINALITY … ORDER BY`.
async fn write_flat(tx: &mut PgConnection, flat: Flat<'_>) -> Result<(), StoreError> {
    write_timers(tx, &flat.timers).await?;
    for (who, district, on) in flat.subscriptions.iter().copied() {
        let q = if *on {
            "INSERT INTO subscriptions (identity, district) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM subscriptions WHERE identity = $1 AND district = $2"
        };
        sqlx::query(q).bind(who.to_string()).bind(district).execute(&mut *tx).await.map_err(db)?;
    }
    for (who, name) in flat.credits.iter().copied() {
        sqlx::query(
            "INSERT INTO credits (identity, name) VALUES ($1, $2) ON CONFLICT(identity) DO UPDATE SET name = excluded.name",
        )
        .bind(who.to_string())
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    if !flat.tasks.is_empty() {
        write_tasks(tx, &flat.tasks).await?;
    }
    if !flat.events.is_empty() {
        let mut task = Vec::with_capacity(flat.events.len());
        let mut at = Vec::with_capacity(flat.events.len());
        let mut actor = Vec::with_capacity(flat.events.len());
        let mut kind = Vec::with_capacity(flat.events.len());
        let mut detail = Vec::with_capacity(flat.events.len());
        for e in &flat.events {
            task.push(e.task.0);
            at.push(e.at.0);
            actor.push(e.actor.as_ref().map(|a| a.to_string()));
            kind.push(e.kind.name());
            detail.push(serde_json::to_string(&e.kind).map_err(corrupt)?);
        }
        sqlx::query(
            "INSERT INTO task_events (task_id, at, actor, kind, detail) SELECT task_id, at, actor, kind, detail \
             FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[]) \
             WITH ORDINALITY AS r(task_id, at, actor, kind, detail, n) ORDER BY n",
        )
        .bind(task)
        .bind(at)
        .bind(actor)
        .bind(kind)
        .bind(detail)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    if !flat.outbox.is_empty() {
        let channel: Vec<&str> = flat.outbox.iter().map(|(o, _)| o.channel.as_str()).collect();
        let destination: Vec<String> = flat.outbox.iter().map(|(o, _)| destination_key(&o.message.to)).collect();
        let task: Vec<Option<i64>> = flat.outbox.iter().map(|(o, _)| o.message.task.map(|t| t.0)).collect();
        let message = flat
            .outbox
            .iter()
            .map(|(o, _)| serde_json::to_string(&o.message).map_err(corrupt))
            .collect::<Result<Vec<String>, _>>()?;
        let at: Vec<i64> = flat.outbox.iter().map(|(_, when)| when.0).collect();
        sqlx::query(
            "INSERT INTO outbox (channel, destination, task_id, message, due_at, created_at) \
             SELECT channel, destination, task_id, message, at, at \
             FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[]) \
             WITH ORDINALITY AS r(channel, destination, task_id, message, at, n) ORDER BY n",
        )
        .bind(channel)
        .bind(destination)
        .bind(task)
        .bind(message)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    write_dialogues(tx, &flat.dialogues).await?;
    if !flat.residents.is_empty() {
        let who: Vec<String> = flat.residents.iter().map(|(w, _)| w.to_string()).collect();
        let language: Vec<&str> = flat.residents.iter().map(|(_, l)| l.as_str()).collect();
        sqlx::query(
            "INSERT INTO residents (identity, language) SELECT * FROM UNNEST($1::text[], $2::text[]) \
             ON CONFLICT(identity) DO UPDATE SET language=excluded.language",
        )
        .bind(who)
        .bind(language)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    if !flat.seen.is_empty() {
        let channel: Vec<&str> = flat.seen.iter().map(|(c, _, _)| c.as_str()).collect();
        let message: Vec<&str> = flat.seen.iter().map(|(_, m, _)| m.as_str()).collect();
        let at: Vec<i64> = flat.seen.iter().map(|(_, _, at)| at.0).collect();
        sqlx::query(
            "INSERT INTO seen (channel, message_id, at) SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(channel)
        .bind(message)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    for b in flat.erasures {
        for who in &b.erase {
            erase_person(tx, who).await?;
        }
        if let Some(before) = b.retention_before {
            apply_retention(tx, before).await?;
        }
    }
    Ok(())
}

/// Each task once, its latest version (see [`flatten`]): a row inserted or replaced.
async fn write_tasks(tx: &mut PgConnection, tasks: &[&Task]) -> Result<(), StoreError> {
    macro_rules! column {
        ($f:expr) => {
            tasks.iter().map($f).collect::<Vec<_>>()
        };
    }
    let mut supporters = Vec::with_capacity(tasks.len());
    let mut followers = Vec::with_capacity(tasks.len());
    let mut attachments = Vec::with_capacity(tasks.len());
    let mut related = Vec::with_capacity(tasks.len());
    for t in tasks {
        supporters.push(serde_json::to_string(&t.supporters).map_err(corrupt)?);
        followers.push(serde_json::to_string(&t.followers).map_err(corrupt)?);
        attachments.push(serde_json::to_string(&t.attachments).map_err(corrupt)?);
        related.push(serde_json::to_string(&t.related).map_err(corrupt)?);
    }
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{INSERT_TASKS}{TASKS_FROM_ARRAYS}{UPSERT_TASKS}"));
    sqlx::query(SQL.as_str())
        .bind(column!(|t| t.id.0))
        .bind(column!(|t| t.category.as_deref()))
        .bind(column!(|t| t.crew.as_deref()))
        .bind(column!(|t| t.status.key()))
        .bind(column!(|t| t.status.close_reason().map(|r| r.as_str())))
        .bind(column!(|t| visibility_str(t.visibility)))
        .bind(column!(|t| t.description.as_str()))
        .bind(column!(|t| t.place.street.as_deref()))
        .bind(column!(|t| t.place.street_key.as_deref()))
        .bind(column!(|t| t.place.point.map(|p| p.lat)))
        .bind(column!(|t| t.place.point.map(|p| p.lon)))
        .bind(column!(|t| t.reporter.to_string()))
        .bind(column!(|t| t.reporter_public))
        .bind(column!(|t| t.language.as_str()))
        .bind(column!(|t| t.me_too() as i64))
        .bind(supporters)
        .bind(followers)
        .bind(attachments)
        .bind(related)
        .bind(column!(|t| t.duplicate_of.map(|d| d.0)))
        .bind(column!(|t| t.assignee.as_ref().map(|a| a.to_string())))
        .bind(column!(|t| t.created_at.0))
        .bind(column!(|t| t.updated_at.0))
        .bind(column!(|t| t.acknowledged_at.map(|x| x.0)))
        .bind(column!(|t| t.started_at.map(|x| x.0)))
        .bind(column!(|t| t.resolved_at.map(|x| x.0)))
        .bind(column!(|t| t.closed_at.map(|x| x.0)))
        .bind(column!(|t| t.sealed))
        .bind(column!(|t| t.reporter_name.as_deref()))
        .bind(column!(|t| t.place.district.as_deref()))
        .bind(column!(|t| t.feedback.confirmation.map(|c| c.as_str())))
        .bind(column!(|t| t.feedback.rating.map(i64::from)))
        .bind(column!(|t| i64::from(t.feedback.reopens)))
        .bind(column!(|t| t.feedback.credit.as_deref()))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    Ok(())
}

/// Timers set (to their latest time) and timers gone: a statement each.
async fn write_timers(tx: &mut PgConnection, timers: &[(&TimerKey, Option<Timestamp>)]) -> Result<(), StoreError> {
    let set: Vec<(&TimerKey, i64)> = timers.iter().filter_map(|(k, due)| due.map(|d| (*k, d.0))).collect();
    let gone: Vec<&TimerKey> = timers.iter().filter(|(_, due)| due.is_none()).map(|(k, _)| *k).collect();
    if !set.is_empty() {
        sqlx::query(
            "INSERT INTO timers (owner, task_id, key, due_at) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[]) \
             ON CONFLICT(owner, task_id, key) DO UPDATE SET due_at = excluded.due_at",
        )
        .bind(set.iter().map(|(k, _)| k.owner.as_str()).collect::<Vec<_>>())
        .bind(set.iter().map(|(k, _)| k.task.0).collect::<Vec<_>>())
        .bind(set.iter().map(|(k, _)| k.key.as_str()).collect::<Vec<_>>())
        .bind(set.iter().map(|(_, due)| *due).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    if !gone.is_empty() {
        sqlx::query(
            "DELETE FROM timers t USING UNNEST($1::text[], $2::int8[], $3::text[]) AS g(owner, task_id, key) \
             WHERE t.owner = g.owner AND t.task_id = g.task_id AND t.key = g.key",
        )
        .bind(gone.iter().map(|k| k.owner.as_str()).collect::<Vec<_>>())
        .bind(gone.iter().map(|k| k.task.0).collect::<Vec<_>>())
        .bind(gone.iter().map(|k| k.key.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Each person's dialogue at its last state: set ones and ended ones, a statement each.
async fn write_dialogues(
    tx: &mut PgConnection,
    dialogues: &[(&Identity, Option<&Dialogue>, Timestamp)],
) -> Result<(), StoreError> {
    let (mut who, mut state, mut at, mut gone) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (w, d, when) in dialogues {
        match d {
            Some(d) => {
                who.push(w.to_string());
                state.push(serde_json::to_string(d).map_err(corrupt)?);
                at.push(when.0);
            }
            None => gone.push(w.to_string()),
        }
    }
    if !who.is_empty() {
        sqlx::query(
            "INSERT INTO dialogues (identity, state, updated_at) SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[]) \
             ON CONFLICT(identity) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at",
        )
        .bind(who)
        .bind(state)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    if !gone.is_empty() {
        sqlx::query("DELETE FROM dialogues WHERE identity = ANY($1)").bind(gone).execute(&mut *tx).await.map_err(db)?;
    }
    Ok(())
}

/// A JSON array of identities without `$1`.
const WITHOUT: &str = "(SELECT COALESCE(json_agg(v), '[]'::json)::text FROM json_array_elements_text(";

/// The SQL side of an erasure (the engine does the same to what it holds in memory).
async fn erase_person(tx: &mut PgConnection, who: &Identity) -> Result<(), StoreError> {
    let id = who.to_string();
    let dest = destination_key(&Destination::Direct(who.clone()));
    let statements: Vec<String> = vec![
        // Their reports: no identity, no name, no text, no exact place, no photos.
        "UPDATE tasks SET reporter = 'erased:-', reporter_name = NULL, description = '', street = NULL, \
         lat = round(lat::numeric, 3)::double precision, lon = round(lon::numeric, 3)::double precision, \
         attachments = '[]' WHERE reporter = $1"
            .into(),
        // Their support of others' reports.
        format!(
            "UPDATE tasks SET followers = {WITHOUT}tasks.followers::json) v WHERE v != $1), \
             supporters = {WITHOUT}tasks.supporters::json) v WHERE v != $1) \
             WHERE strpos(followers, $1) > 0 OR strpos(supporters, $1) > 0"
        ),
        // What they wrote on tasks, and who did it.
        "UPDATE task_events SET detail = jsonb_set(detail::jsonb, '{text}', '\"\"')::text \
         WHERE actor = $1 AND detail::jsonb->>'text' IS NOT NULL"
            .into(),
        "UPDATE task_events SET detail = jsonb_set(detail::jsonb, '{note}', 'null')::text \
         WHERE actor = $1 AND detail::jsonb->>'note' IS NOT NULL"
            .into(),
    ];
    let statements = statements.into_iter().chain(same_sql::ERASE_PERSON.map(String::from));
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&id).execute(&mut *tx).await.map_err(db)?;
    }
    // Messages to them: undelivered ones go (but the farewell), delivered ones are blanked.
    sqlx::query(
        "DELETE FROM outbox WHERE destination = $1 AND state = 'pending' \
         AND (message::jsonb->>'farewell') IS DISTINCT FROM 'true'",
    )
    .bind(&dest)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET {BLANK_OUTBOX_ROW} WHERE destination = $1 AND state != 'pending'"
    )))
    .bind(&dest)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Reporters of tasks resolved or closed before `before` are anonymised.
async fn apply_retention(tx: &mut PgConnection, before: Timestamp) -> Result<(), StoreError> {
    let ended = same_sql::RETENTION_ENDED;
    let statements = [
        // Messages to those reporters about those tasks, and what quoted the reports.
        format!(
            "UPDATE outbox SET message = jsonb_set(message::jsonb, '{{text}}', '\"\"')::text, \
             destination = CASE WHEN destination LIKE 'dm:%' THEN 'erased' ELSE destination END \
             WHERE state != 'pending' AND task_id IN (SELECT id FROM tasks WHERE {ended})"
        ),
        same_sql::retention_events(),
        format!(
            "UPDATE tasks SET reporter = 'erased:-', reporter_name = NULL, description = '', street = NULL, \
             lat = round(lat::numeric, 3)::double precision, lon = round(lon::numeric, 3)::double precision, \
             attachments = '[]', followers = '[]', supporters = '[]' WHERE {ended}"
        ),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(before.0).execute(&mut *tx).await.map_err(db)?;
    }
    Ok(())
}

async fn tasks_where<'e>(pool: impl PgExecutor<'e>, sql: &'static str, bind: i64) -> Result<Vec<Task>, StoreError> {
    let rows = sqlx::query(sql).bind(bind).fetch_all(pool).await.map_err(db)?;
    rows.iter().map(task_from_row).collect()
}

#[async_trait]
impl Store for PgStore {
    async fn load(&self, seen: SeenWindow) -> Result<Snapshot, StoreError> {
        let mut snap = Snapshot {
            tasks: sqlx::query(
                "SELECT * FROM tasks WHERE status IN ('open', 'acknowledged', 'in_progress') ORDER BY id",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(task_from_row)
            .collect::<Result<_, _>>()?,
            ..Snapshot::default()
        };
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
             (SELECT channel, message_id, at FROM seen WHERE at >= $1 ORDER BY at DESC LIMIT $2) s ORDER BY at",
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
        let names: Vec<String> = who.iter().map(ToString::to_string).collect();
        let rows = sqlx::query("SELECT identity, language FROM residents WHERE identity = ANY($1)")
            .bind(&names)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(language_from_row).collect()
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        Ok(tasks_where(&self.pool, "SELECT * FROM tasks WHERE id = $1", id.0).await?.pop())
    }

    async fn posts_of(&self, id: TaskId) -> Result<Vec<PostRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM posts WHERE task_id = $1").bind(id.0).fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(post_from_row).collect()
    }

    async fn posts_by_message(&self, channel: &str, message_id: &str) -> Result<Vec<PostRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM posts WHERE channel = $1 AND message_id = $2 ORDER BY task_id")
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
        sqlx::query_scalar("SELECT value FROM cursors WHERE key = $1")
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
        let mut b = QueryBuilder::<Postgres>::new("SELECT * FROM tasks WHERE 1 = 1");
        if let Some(s) = q.status {
            b.push(" AND status = ").push_bind(s.key());
        }
        if let Some(c) = &q.category {
            b.push(" AND category = ").push_bind(c.clone());
        }
        if !q.statuses.is_empty() {
            b.push(" AND status IN (");
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
            b.push(" AND status = 'resolved' AND confirmation = 'asked'");
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
        // LIMIT NULL: no limit.
        b.push(" LIMIT ").push_bind(q.limit.map(i64::from));
        b.push(" OFFSET ").push_bind(i64::from(q.offset));
        let rows = b.build().fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(task_from_row).collect()
    }

    async fn task_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT status, CASE WHEN visibility = 'private' THEN 'private' ELSE COALESCE(category, 'triage') END AS c, \
             COUNT(*) AS n FROM tasks GROUP BY 1, 2",
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

    /// The database's disk is the server's, not this machine's: not known here.
    fn free_bytes(&self) -> Option<u64> {
        None
    }

    async fn assignments(&self, limit: u32) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.description AS text, e.detail::jsonb->>'category' AS category \
             FROM task_events e JOIN tasks t ON t.id = e.task_id \
             WHERE e.kind = 'assigned' AND t.description != '' AND e.detail::jsonb->>'category' IS NOT NULL \
             ORDER BY e.id DESC LIMIT $1",
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
        let language: Option<String> = sqlx::query_scalar("SELECT language FROM residents WHERE identity = $1")
            .bind(&id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let rows = sqlx::query("SELECT * FROM tasks WHERE reporter = $1 ORDER BY id")
            .bind(&id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let reported = rows.iter().map(task_from_row).collect::<Result<Vec<_>, _>>()?;
        let following: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE reporter != $1 AND ( \
             EXISTS (SELECT 1 FROM json_array_elements_text(tasks.followers::json) v WHERE v = $1) \
             OR EXISTS (SELECT 1 FROM json_array_elements_text(tasks.supporters::json) v WHERE v = $1)) ORDER BY id",
        )
        .bind(&id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let rows = sqlx::query("SELECT task_id, at, actor, detail FROM task_events WHERE actor = $1 ORDER BY id")
            .bind(&id)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        let mut events = Vec::new();
        for r in &rows {
            let e = event_from_row(r)?;
            if !matches!(e.kind, EventKind::Created) {
                events.push(e);
            }
        }
        let dialogue: Option<String> = sqlx::query_scalar("SELECT state FROM dialogues WHERE identity = $1")
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
        let per_day = sqlx::query(
            "SELECT created_at / $1 AS day, COUNT(*) FROM tasks WHERE created_at >= $2 GROUP BY 1 ORDER BY 1",
        )
        .bind(crate::DAY)
        .bind(since.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1) as u64))
        .collect();
        let per_category = sqlx::query(
            "SELECT category, COUNT(*), \
             SUM(CASE WHEN status IN ('open','acknowledged','in_progress') THEN 1 ELSE 0 END)::BIGINT, \
             SUM(me_too)::BIGINT FROM tasks WHERE created_at >= $1 GROUP BY category ORDER BY COUNT(*) DESC",
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
            "SELECT crew, acknowledged_at - created_at, resolved_at - created_at, rating, reopens FROM tasks \
             WHERE created_at >= $1 AND crew IS NOT NULL",
        )
        .bind(since.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let (durations, feedback) = crew_rows(&rows);
        let never_ended: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE COALESCE(resolved_at, closed_at) IS NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        let recent: Vec<(i64, Option<i64>)> = sqlx::query(
            "SELECT created_at, COALESCE(resolved_at, closed_at) FROM tasks WHERE created_at >= $1 \
             UNION ALL SELECT created_at, COALESCE(resolved_at, closed_at) FROM tasks \
             WHERE COALESCE(resolved_at, closed_at) >= $1 AND created_at < $1",
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
        let ids: Vec<i64> = ids.iter().map(|t| t.0).collect();
        let rows = sqlx::query(
            "SELECT task_id, at, actor, detail FROM task_events WHERE task_id = ANY($1) ORDER BY task_id, id",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(event_from_row).collect()
    }
}
