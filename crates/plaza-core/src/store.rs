//! The Store trait: what the engine needs from persistence. Implemented on sqlx in
//! `plaza-store`; the engine never sees SQL.
//!
//! The engine keeps its working set in memory ([`Snapshot`]) and hands every state change
//! to [`Store::submit`] as a [`Batch`]: the task rows, their events, the outbox messages
//! they cause and the redelivery key, to be written in ONE transaction. A store may (and
//! `plaza-store` does) group batches from concurrent messages into one commit; it must
//! keep their order.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::channel::{Outbound, PostKind};
use crate::dialogue::Dialogue;
use crate::model::{Identity, Status, Task, TaskEvent, TaskId, TimerKey, Timestamp};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(String),
    /// The database cannot grow: nothing more can be recorded until space is freed.
    #[error("the disk is full; free some space and Plaza goes on by itself ({0})")]
    DiskFull(String),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
}

/// Whether an error's text says a filesystem is out of space: SQLite's "database or disk
/// is full" (the matrix-sdk's stores say it too) or the system's ENOSPC. Backends add
/// their own codes (SQLite's 13, PostgreSQL's 53100).
pub fn says_disk_full(text: &str) -> bool {
    text.contains("disk is full") || text.contains("No space left")
}

/// The space left for an unprivileged writer on the filesystem that holds `dir`
/// (`None` where the system cannot tell).
pub fn free_bytes_at(dir: &std::path::Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// What the engine loads at start: what is open, never the history.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The active tasks (open, acknowledged, in progress) and those whose reporter was
    /// asked "is it fixed?" and has not answered, in number order.
    pub tasks: Vec<Task>,
    /// The highest task number ever given (0 for a new town).
    pub last_task_id: i64,
    pub dialogues: Vec<(Identity, Dialogue)>,
    /// The newest redelivery keys (channel, message id), oldest first, within the window
    /// given to [`Store::load`].
    pub seen: Vec<(String, String)>,
    /// The delivered posts of the loaded tasks.
    pub posts: Vec<PostRecord>,
    /// Every timer set and not yet run, with when it is due — except the core's own
    /// ([`CORE_TIMERS`]) due after [`SeenWindow::core_timers_until`]: those are read
    /// when their time comes near ([`Store::timers_due`]).
    pub timers: Vec<(TimerKey, Timestamp)>,
    /// Residents who asked for notices: (who, district id or "" for the whole town).
    pub subscriptions: Vec<(Identity, String)>,
    /// Crew members' own choice of being named in public: (who, first name or None).
    pub credits: Vec<(Identity, Option<String>)>,
}

/// What [`Store::load`] returns of what grows with history: the redelivery keys seen
/// since `since` (at most the newest `limit`), and the core's timers due until
/// `core_timers_until`.
#[derive(Debug, Clone, Copy)]
pub struct SeenWindow {
    pub since: Timestamp,
    pub limit: u32,
    pub core_timers_until: Timestamp,
}

/// The owner of the engine's own timers (the "is it fixed?" time-out of every task
/// fixed): one per task, so they are loaded window by window, not all at start.
pub const CORE_TIMERS: &str = "core";

/// A task's post as delivered on a channel: replies and reactions to `message_id`
/// belong to `task`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRecord {
    pub channel: String,
    pub room: String,
    pub kind: PostKind,
    pub task: TaskId,
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOutbox {
    pub channel: String,
    pub message: Outbound,
}

/// One state change, written atomically.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Inserted or replaced whole.
    pub tasks: Vec<Task>,
    pub events: Vec<TaskEvent>,
    pub outbox: Vec<NewOutbox>,
    /// `None` ends the dialogue.
    pub dialogues: Vec<(Identity, Option<Dialogue>)>,
    pub residents: Vec<(Identity, String)>,
    /// (channel, message id): the redelivery key of the inbound that caused this.
    pub seen: Vec<(String, String)>,
    /// People whose data is erased, after the rows above are written: their identity
    /// and free text are removed from tasks, events, outbox and dialogues (see
    /// [`Store::person_data`] for what that covers); the tasks stay, anonymous.
    pub erase: Vec<Identity>,
    /// The retention setting: reporters of tasks resolved or closed before this time
    /// are anonymised in the same way.
    pub retention_before: Option<Timestamp>,
    /// Timers set (`Some(due)`) or done / cancelled (`None`).
    pub timers: Vec<(TimerKey, Option<Timestamp>)>,
    /// Notices asked for (`true`) or stopped (`false`): (who, district or "").
    pub subscriptions: Vec<(Identity, String, bool)>,
    /// A crew member's choice of being named in public: (who, first name or None).
    pub credits: Vec<(Identity, Option<String>)>,
    pub at: Timestamp,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
            && self.events.is_empty()
            && self.outbox.is_empty()
            && self.dialogues.is_empty()
            && self.residents.is_empty()
            && self.seen.is_empty()
            && self.erase.is_empty()
            && self.retention_before.is_none()
            && self.timers.is_empty()
            && self.subscriptions.is_empty()
            && self.credits.is_empty()
    }
}

/// Everything Plaza keeps about one person (a data-access request).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonData {
    /// Their language, if they ever wrote.
    pub language: Option<String>,
    /// Tasks they reported.
    pub reported: Vec<Task>,
    /// Tasks they follow or supported ("me too").
    pub following: Vec<TaskId>,
    /// What they did on tasks: comments, notes, me-too, status changes.
    pub events: Vec<TaskEvent>,
    /// The question the bot is waiting for them to answer.
    pub dialogue: Option<Dialogue>,
}

/// What `/metrics` reads from the store at each scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpsFigures {
    /// (status, category, count); a private task's category is `private`, a task not
    /// yet classified `triage`.
    pub tasks: Vec<(String, String, u64)>,
    /// (channel, messages waiting, the oldest one's creation).
    pub outbox: Vec<(String, u64, Option<Timestamp>)>,
}

/// Resolves once the batch is durable (or failed).
pub type CommitTicket = tokio::sync::oneshot::Receiver<Result<(), StoreError>>;

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub channel: String,
    pub message: Outbound,
    pub attempts: u32,
    pub created_at: Timestamp,
}

/// Which of a channel's chats an outbox read is for: the dispatcher delivers residents'
/// direct chats and rooms in two loops, each reading only its own (a backlog of room
/// posts must not hide the residents' answers behind it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chats {
    All,
    /// Direct chats with one person.
    Direct,
    /// Rooms: crews, the public room, triage.
    Rooms,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// Sent; the task posts it carries (none, one, or several when grouped) are recorded.
    Delivered { message_id: String, posts: Vec<PostRecord> },
    /// Try again at this time (rate limit, network).
    Retry { at: Timestamp, error: String },
    /// Given up for good.
    Failed { error: String },
}

/// Raw figures for the stats page (the web decides what of them the public may read).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Reports per day: (days since 1970, count).
    pub per_day: Vec<(i64, u64)>,
    /// Per category (None: waiting in triage): (category, tasks, open tasks, me-too).
    pub per_category: Vec<(Option<String>, u64, u64, u64)>,
    /// Per task with a crew: (crew, ms to acknowledge, ms to resolve), for percentiles.
    pub durations: Vec<(String, Option<i64>, Option<i64>)>,
    /// Per task with a crew that was marked done at least once: (crew, the reporter's
    /// rating, how many times they said it was not fixed).
    pub feedback: Vec<(String, Option<u8>, u32)>,
    /// Open tasks at the end of each day: (days since 1970, count).
    pub backlog: Vec<(i64, u64)>,
}

/// Which tasks to list (exports, the board, `plaza` sub-commands).
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub status: Option<Status>,
    /// Any of these statuses (with `status`, both must hold).
    pub statuses: Vec<Status>,
    pub category: Option<String>,
    pub public_only: bool,
    /// Only the tasks this person reported.
    pub reporter: Option<Identity>,
    /// Only tasks resolved whose reporter was asked "is it fixed?" and has not answered.
    pub awaiting_answer: bool,
    /// Only the tasks in this district (`[[district]]` id).
    pub district: Option<String>,
    /// Only these tasks (empty: any).
    pub ids: Vec<TaskId>,
    /// Created at or after / before this time.
    pub created_from: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    /// Resolved or closed at or after this time.
    pub ended_from: Option<Timestamp>,
    /// Newest first (the board), instead of by number.
    pub newest_first: bool,
    pub offset: u32,
    pub limit: Option<u32>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The working set to start from: active tasks and their posts, open dialogues, the
    /// newest redelivery keys, the timers (see [`Snapshot::timers`]). Closed tasks and
    /// residents are read when needed.
    async fn load(&self, seen: SeenWindow) -> Result<Snapshot, StoreError>;
    /// `owner`'s timers due after `after` and at or before `until`, soonest first.
    async fn timers_due(
        &self,
        owner: &str,
        after: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(TimerKey, Timestamp)>, StoreError>;
    /// The languages recorded for these people (those with none are left out).
    async fn languages(&self, who: &[Identity]) -> Result<Vec<(Identity, String)>, StoreError>;
    /// One task, from disk (for tasks outside the working set).
    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError>;
    /// The posts of one task (for tasks outside the working set).
    async fn posts_of(&self, id: TaskId) -> Result<Vec<PostRecord>, StoreError>;
    /// Which tasks a platform message carries (one, or several for a grouped message).
    async fn posts_by_message(&self, channel: &str, message_id: &str) -> Result<Vec<PostRecord>, StoreError>;
    /// Queues a batch for writing; the ticket resolves when it is committed. Batches are
    /// committed in the order they were submitted.
    fn submit(&self, batch: Batch) -> CommitTicket;
    /// Outbox messages for `channel`'s `chats` due at `now`, oldest first (a chat with
    /// an earlier message not yet due has none: its order is kept).
    async fn due_outbox(
        &self,
        channel: &str,
        chats: Chats,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// When the first pending message for `channel`'s `chats` is due (it may be already).
    async fn next_retry(&self, channel: &str, chats: Chats) -> Result<Option<Timestamp>, StoreError>;
    /// Records a delivery attempt (and the post, if one was delivered).
    async fn record_delivery(&self, outbox_id: i64, outcome: DeliveryOutcome, at: Timestamp) -> Result<(), StoreError>;
    /// A channel's resume point (Telegram update offset, Matrix sync token).
    async fn cursor(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_cursor(&self, key: &str, value: &str) -> Result<(), StoreError>;
    async fn tasks(&self, query: &TaskQuery) -> Result<Vec<Task>, StoreError>;
    /// The latest `limit` dispatchers' assignments: (the report's text, the category
    /// given), newest first — what the classifier learns from.
    async fn assignments(&self, limit: u32) -> Result<Vec<(String, String)>, StoreError>;
    /// Everything kept about `who`.
    async fn person_data(&self, who: &Identity) -> Result<PersonData, StoreError>;
    async fn events(&self, id: TaskId) -> Result<Vec<TaskEvent>, StoreError>;
    /// The events of several tasks (by task, in order), in one read.
    async fn events_of(&self, ids: &[TaskId]) -> Result<Vec<TaskEvent>, StoreError> {
        let mut all = Vec::new();
        for id in ids {
            all.extend(self.events(*id).await?);
        }
        Ok(all)
    }
    /// Figures for the public stats page, over tasks created from `since` to `until`.
    async fn stats(&self, since: Timestamp, until: Timestamp) -> Result<Stats, StoreError>;
    /// Messages waiting to be sent, per channel: (channel, how many, the oldest's
    /// creation). Cheap (the pending index): /health reads it at every probe.
    async fn outbox_figures(&self) -> Result<Vec<(String, u64, Option<Timestamp>)>, StoreError>;
    /// The last `limit` messages delivered to `to`, oldest first, with the platform's id
    /// for each: what a channel that shows the conversation itself (the web chat's page)
    /// shows again after a restart. Erased people's messages are blanked and not here;
    /// messages that were not shown (no platform id) are left out.
    async fn delivered_to(
        &self,
        to: &crate::channel::Destination,
        limit: u32,
    ) -> Result<Vec<(String, crate::channel::Outbound)>, StoreError>;
    /// Tasks by status and category (see [`OpsFigures::tasks`]); reads every task.
    async fn task_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError>;
    /// Counts for the metrics: tasks by status and category, the outbox per channel.
    async fn ops_figures(&self) -> Result<OpsFigures, StoreError> {
        Ok(OpsFigures { tasks: self.task_counts().await?, outbox: self.outbox_figures().await? })
    }
    /// Hands an event to the process that runs the engine (a web-only process does, for
    /// an Open311 POST); returns its number in the inbox.
    async fn inbox_put(&self, inbound: &crate::channel::Inbound, at: Timestamp) -> Result<i64, StoreError>;
    /// Events handed over and not handled yet, oldest first.
    async fn inbox_due(&self, limit: u32) -> Result<Vec<(i64, crate::channel::Inbound)>, StoreError>;
    /// Marks an inbox event handled, with the task it became: its text and sender are
    /// cleared at once, the row itself goes an hour later.
    async fn inbox_done(&self, id: i64, became: Option<TaskId>, at: Timestamp) -> Result<(), StoreError>;
    /// What became of an inbox event: `None` while it waits, `Some(task)` once handled.
    async fn inbox_result(&self, id: i64) -> Result<Option<Option<TaskId>>, StoreError>;
    /// Bytes free for the database on its filesystem, where the store can tell.
    fn free_bytes(&self) -> Option<u64> {
        None
    }
}
