//! SQLite's writes: the one connection that writes, driven synchronously.
//!
//! A group of batches is one transaction run in one go on the writer's thread, each row
//! bound by reference into a prepared statement that stays in the connection's cache.
//! Through sqlx's asynchronous connection every statement was a round trip between the
//! writer task and SQLite's thread, and most of a group's time went to those hops and to
//! copying every value into bound arguments, not to SQLite (issue 11).
//! Reads stay on sqlx's pool; in WAL mode they never wait for this writer.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use plaza_core::channel::Destination;
use plaza_core::model::{Identity, TimerKey, Timestamp};
use plaza_core::store::{Batch, DeliveryOutcome, StoreError};
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior, params};

use crate::{
    Flat, INSERT_TASKS, Small, UPSERT_TASKS, corrupt, destination_key, flatten, post_kind_str, same_sql, visibility_str,
};

/// Statements kept prepared on the writer's connection (this module has fewer).
const CACHED_STATEMENTS: usize = 64;

/// Opens the writer's connection with the settings every write relies on: WAL, a full
/// fsync at each commit (an acknowledged report survives a power cut), a 10 s wait for
/// a reader's checkpoint.
pub(crate) fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(lite)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(lite)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(lite)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(lite)?;
    conn.pragma_update(None, "foreign_keys", "OFF").map_err(lite)?;
    conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
    Ok(conn)
}

/// A failed write: "disk full" when SQLite or the filesystem says so (the writer then
/// waits for space and says so once), otherwise a database error.
pub(crate) fn lite(e: rusqlite::Error) -> StoreError {
    if e.sqlite_error_code() == Some(ErrorCode::DiskFull) {
        return StoreError::DiskFull(e.to_string());
    }
    crate::db(e)
}

fn begin(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    // The write lock at once: there is one writer, and a reader's checkpoint is waited for
    // here rather than halfway through the group.
    conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(lite)
}

/// The delivery records, cursors and inbox results waiting, in one transaction.
pub(crate) fn write_small(conn: &mut Connection, jobs: &[&Small]) -> Result<(), StoreError> {
    let tx = begin(conn)?;
    for job in jobs {
        match job {
            Small::Delivery { id, outcome, at } => write_delivery(&tx, *id, outcome, *at)?,
            Small::Cursor { key, value } => {
                tx.prepare_cached(same_sql::CURSOR).and_then(|mut s| s.execute(params![key, value])).map_err(lite)?;
            }
            Small::InboxDone { id, became, at } => {
                tx.prepare_cached(same_sql::INBOX_DONE)
                    .and_then(|mut s| s.execute(params![at.0, became.map(|t| t.0), id]))
                    .map_err(lite)?;
                tx.prepare_cached(same_sql::INBOX_PRUNE)
                    .and_then(|mut s| s.execute(params![at.0 - same_sql::INBOX_KEPT_MS]))
                    .map_err(lite)?;
            }
        }
    }
    tx.commit().map_err(lite)
}

fn write_delivery(
    tx: &Transaction<'_>,
    outbox_id: i64,
    outcome: &DeliveryOutcome,
    at: Timestamp,
) -> Result<(), StoreError> {
    match outcome {
        DeliveryOutcome::Delivered { message_id, posts } => {
            tx.prepare_cached(same_sql::DELIVERED)
                .and_then(|mut s| s.execute(params![at.0, message_id, outbox_id]))
                .map_err(lite)?;
            // The last message to someone whose data was erased leaves no trace.
            tx.prepare_cached(concat!(
                "UPDATE outbox SET ",
                blank_outbox_row!(),
                " WHERE id = ?1 AND json_extract(message, '$.farewell') = 1"
            ))
            .and_then(|mut s| s.execute(params![outbox_id]))
            .map_err(lite)?;
            if !posts.is_empty() {
                let mut s = tx.prepare_cached(same_sql::POST).map_err(lite)?;
                for p in posts {
                    s.execute(params![p.channel, p.message_id, p.task.0, p.room, post_kind_str(p.kind)])
                        .map_err(lite)?;
                }
            }
        }
        DeliveryOutcome::Retry { at: due, error } => {
            tx.prepare_cached(same_sql::RETRY)
                .and_then(|mut s| s.execute(params![due.0, error, outbox_id]))
                .map_err(lite)?;
        }
        DeliveryOutcome::Failed { error } => {
            tx.prepare_cached(same_sql::FAILED).and_then(|mut s| s.execute(params![error, outbox_id])).map_err(lite)?;
        }
    }
    Ok(())
}

/// One task row: the columns of [`INSERT_TASKS`], numbered.
static TASK_SQL: LazyLock<String> = LazyLock::new(|| {
    let values = (1..=34).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    format!("{INSERT_TASKS}VALUES ({values}){UPSERT_TASKS}")
});

fn json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(corrupt)
}

/// A group of the engine's batches as one transaction (see [`flatten`]).
pub(crate) fn write_group(conn: &mut Connection, batches: &[&Batch]) -> Result<(), StoreError> {
    let Flat { tasks, events, outbox, dialogues, residents, seen, erasures, timers, subscriptions, credits } =
        flatten(batches.iter().copied());
    let tx = begin(conn)?;
    write_timers(&tx, &timers)?;
    for (who, district, on) in subscriptions {
        let sql = if *on {
            "INSERT INTO subscriptions (identity, district) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM subscriptions WHERE identity = ?1 AND district = ?2"
        };
        tx.prepare_cached(sql).and_then(|mut s| s.execute(params![who.to_string(), district])).map_err(lite)?;
    }
    for (who, name) in credits {
        tx.prepare_cached(
            "INSERT INTO credits (identity, name) VALUES (?1, ?2) ON CONFLICT(identity) DO UPDATE SET name = excluded.name",
        )
        .and_then(|mut s| s.execute(params![who.to_string(), name]))
        .map_err(lite)?;
    }
    if !tasks.is_empty() {
        let mut s = tx.prepare_cached(&TASK_SQL).map_err(lite)?;
        for t in &tasks {
            s.execute(params![
                t.id.0,
                t.category,
                t.crew,
                t.status.key(),
                t.status.close_reason().map(|r| r.as_str()),
                visibility_str(t.visibility),
                t.description,
                t.place.street,
                t.place.street_key,
                t.place.point.map(|p| p.lat),
                t.place.point.map(|p| p.lon),
                t.reporter.to_string(),
                t.reporter_public,
                t.language,
                t.me_too() as i64,
                json(&t.supporters)?,
                json(&t.followers)?,
                json(&t.attachments)?,
                json(&t.related)?,
                t.duplicate_of.map(|d| d.0),
                t.assignee.as_ref().map(|a| a.to_string()),
                t.created_at.0,
                t.updated_at.0,
                t.acknowledged_at.map(|x| x.0),
                t.started_at.map(|x| x.0),
                t.resolved_at.map(|x| x.0),
                t.closed_at.map(|x| x.0),
                t.sealed,
                t.reporter_name,
                t.place.district,
                t.feedback.confirmation.map(|c| c.as_str()),
                t.feedback.rating.map(i64::from),
                i64::from(t.feedback.reopens),
                t.feedback.credit,
            ])
            .map_err(lite)?;
        }
    }
    if !events.is_empty() {
        let mut s = tx
            .prepare_cached("INSERT INTO task_events (task_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(lite)?;
        for e in &events {
            s.execute(params![
                e.task.0,
                e.at.0,
                e.actor.as_ref().map(|a| a.to_string()),
                e.kind.name(),
                json(&e.kind)?
            ])
            .map_err(lite)?;
        }
    }
    if !outbox.is_empty() {
        let mut s = tx
            .prepare_cached(
                "INSERT INTO outbox (channel, destination, task_id, message, due_at, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )
            .map_err(lite)?;
        for (o, at) in &outbox {
            s.execute(params![
                o.channel,
                destination_key(&o.message.to),
                o.message.task.map(|t| t.0),
                json(&o.message)?,
                at.0
            ])
            .map_err(lite)?;
        }
    }
    for (who, d, at) in dialogues {
        match d {
            Some(d) => {
                let state = json(d)?;
                tx.prepare_cached(
                    "INSERT INTO dialogues (identity, state, updated_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(identity) DO UPDATE SET state=excluded.state, updated_at=excluded.updated_at",
                )
                .and_then(|mut s| s.execute(params![who.to_string(), state, at.0]))
                .map_err(lite)?
            }
            None => tx
                .prepare_cached("DELETE FROM dialogues WHERE identity = ?1")
                .and_then(|mut s| s.execute(params![who.to_string()]))
                .map_err(lite)?,
        };
    }
    if !residents.is_empty() {
        let mut s = tx
            .prepare_cached(
                "INSERT INTO residents (identity, language) VALUES (?1, ?2) \
                 ON CONFLICT(identity) DO UPDATE SET language=excluded.language",
            )
            .map_err(lite)?;
        for (who, l) in &residents {
            s.execute(params![who.to_string(), l]).map_err(lite)?;
        }
    }
    if !seen.is_empty() {
        let mut s = tx
            .prepare_cached("INSERT OR IGNORE INTO seen (channel, message_id, at) VALUES (?1, ?2, ?3)")
            .map_err(lite)?;
        for (c, m, at) in &seen {
            s.execute(params![c, m, at.0]).map_err(lite)?;
        }
    }
    for b in erasures {
        for who in &b.erase {
            erase_person(&tx, who)?;
        }
        if let Some(before) = b.retention_before {
            apply_retention(&tx, before)?;
        }
    }
    tx.commit().map_err(lite)
}

/// Each timer to its last state: set to a time, or gone.
fn write_timers(tx: &Transaction<'_>, timers: &[(&TimerKey, Option<Timestamp>)]) -> Result<(), StoreError> {
    for (k, due) in timers {
        match due {
            Some(due) => tx
                .prepare_cached(
                    "INSERT INTO timers (owner, task_id, key, due_at) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT(owner, task_id, key) DO UPDATE SET due_at = excluded.due_at",
                )
                .and_then(|mut s| s.execute(params![k.owner, k.task.0, k.key, due.0])),
            None => tx
                .prepare_cached("DELETE FROM timers WHERE owner = ?1 AND task_id = ?2 AND key = ?3")
                .and_then(|mut s| s.execute(params![k.owner, k.task.0, k.key])),
        }
        .map_err(lite)?;
    }
    Ok(())
}

/// The SQL side of an erasure (the engine does the same to what it holds in memory).
fn erase_person(tx: &Transaction<'_>, who: &Identity) -> Result<(), StoreError> {
    let id = who.to_string();
    let dest = destination_key(&Destination::Direct(who.clone()));
    let statements: &[&str] = &[
        // Their reports: no identity, no name, no text, no exact place, no photos.
        "UPDATE tasks SET reporter = 'erased:-', reporter_name = NULL, description = '', street = NULL, \
         lat = round(lat, 3), lon = round(lon, 3), attachments = '[]' WHERE reporter = ?1",
        // Their support of others' reports.
        "UPDATE tasks SET followers = (SELECT json_group_array(value) FROM json_each(tasks.followers) WHERE value != ?1), \
         supporters = (SELECT json_group_array(value) FROM json_each(tasks.supporters) WHERE value != ?1) \
         WHERE instr(followers, ?1) > 0 OR instr(supporters, ?1) > 0",
        // What they wrote on tasks, and who did it.
        "UPDATE task_events SET detail = json_set(detail, '$.text', '') WHERE actor = ?1 AND json_extract(detail, '$.text') IS NOT NULL",
        "UPDATE task_events SET detail = json_set(detail, '$.note', NULL) WHERE actor = ?1 AND json_extract(detail, '$.note') IS NOT NULL",
    ];
    for sql in statements.iter().chain(&same_sql::ERASE_PERSON) {
        tx.execute(sql, params![id]).map_err(lite)?;
    }
    // Messages to them: undelivered ones go (but the farewell), delivered ones are blanked;
    // and whatever quoted their reports (crew cards, public posts) is blanked too.
    tx.execute(
        "DELETE FROM outbox WHERE destination = ?1 AND state = 'pending' AND json_extract(message, '$.farewell') IS NOT 1",
        params![dest],
    )
    .map_err(lite)?;
    tx.execute(
        concat!("UPDATE outbox SET ", blank_outbox_row!(), " WHERE destination = ?1 AND state != 'pending'"),
        params![dest],
    )
    .map_err(lite)?;
    Ok(())
}

/// Reporters of tasks resolved or closed before `before` are anonymised.
fn apply_retention(tx: &Transaction<'_>, before: Timestamp) -> Result<(), StoreError> {
    let ended = same_sql::RETENTION_ENDED;
    let statements = [
        // Messages to those reporters about those tasks, and what quoted the reports.
        format!(
            "UPDATE outbox SET message = json_set(message, '$.text', ''), \
             destination = CASE WHEN destination LIKE 'dm:%' THEN 'erased' ELSE destination END \
             WHERE state != 'pending' AND task_id IN (SELECT id FROM tasks WHERE {ended})"
        ),
        same_sql::retention_events(),
        format!(
            "UPDATE tasks SET reporter = 'erased:-', reporter_name = NULL, description = '', street = NULL, \
             lat = round(lat, 3), lon = round(lon, 3), attachments = '[]', followers = '[]', supporters = '[]' WHERE {ended}"
        ),
    ];
    for sql in &statements {
        tx.execute(sql, params![before.0]).map_err(lite)?;
    }
    Ok(())
}
