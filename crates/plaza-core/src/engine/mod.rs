//! The routing engine: one [`Inbound`] in, a state change and the messages it causes out,
//! written to the store in one transaction.
//!
//! The engine keeps its working set (active and recent tasks, open dialogues, residents'
//! languages, redelivery keys, post ids) in memory, behind one lock that is never held
//! across I/O: each message is decided in microseconds, and the writes are handed to the
//! store, which groups concurrent messages into one commit.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use tracing::{debug, info, warn};

use crate::channel::{Chat, Destination, Inbound, InboundKind, Outgoing, PostKind};
use crate::classify::{Classification, Classifier, Learned, PrivateMatch};
use crate::clock::Clock;
use crate::command;
use crate::config::Config;
use crate::i18n::{Arg, Locales};
use crate::model::*;
use crate::plugin::Plugin;
use crate::store::{Batch, OutboxRow, PersonData, PostRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store did not answer")]
    StoreGone,
    /// A web-only process handed an event over and no leading process took it in time
    /// (it stays in the inbox and is handled when one does).
    #[error("no Plaza is leading on this database yet: the request is kept and handled when one starts")]
    NoLeader,
}

/// How long a web-only process waits for the leader to handle what it handed over.
const INBOX_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
/// How often the leader looks at the inbox, and a web-only process at its answer.
const INBOX_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// What became of one inbound event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Handled,
    /// Seen before (platform redelivery): nothing done.
    Duplicate,
}

/// How long redelivery keys are remembered, and at most how many (the newest): a
/// platform redelivers what it was not sure of, not last week's traffic.
const SEEN_DAYS: i64 = 7;
const SEEN_KEEP: u32 = 100_000;
/// How clearly a text must be in a language for it to decide the resident's language
/// whatever they used before.
const CLEAR_LANGUAGE: f64 = 2.0;
/// Residents' languages kept in memory beyond those the tasks in memory need.
const RESIDENTS_KEEP: usize = 10_000;
/// How many of the latest dispatchers' assignments the classifier learns from at start.
const LEARN_FROM: u32 = 20_000;
/// How often (by the engine's clock) the retention setting is applied.
const RETENTION_EVERY_MINUTES: i64 = 60;
/// Timers run in one transaction at most.
const TIMERS_PER_TX: usize = 100;
/// The core's timers (an "is it fixed?" time-out per task fixed) are in memory this
/// far ahead; the next window is read when half of this one has passed.
const CORE_TIMERS_AHEAD_MINUTES: i64 = 6 * 60;

mod actions;
mod audience;
mod conversation;
mod feedback;
mod intake;
mod lifecycle;
mod outbox;
mod plugin_ctx;
mod public;
mod render;
mod rights;
mod state;

pub use audience::Viewer;
pub use plugin_ctx::{PluginArg, PluginCtx, PluginTask};
pub use public::{OwnTask, PublicEvent, PublicTask};
use state::*;
pub use state::{GroupLine, WorkingSet};

/// The writes and messages one inbound causes.
#[derive(Default)]
struct Tx {
    batch: Batch,
    touched: BTreeSet<TaskId>,
    /// A short answer shown at once to whoever pressed a button (a Telegram toast)
    /// instead of a message in the room.
    toast: Option<String>,
    /// The task a report became: the one it made, or the open one it repeats (told to an
    /// API client at once). None: no task (past the sender's limit, not a report).
    became: Option<TaskId>,
    /// Someone answered in person about this change: the usual notice to a task's
    /// audience skips them (a reporter who said "not fixed" is not told "reopened").
    answered_in_person: Option<Identity>,
    /// Who wrote the message being handled, and where (plugins answer there).
    chat: Option<(Identity, Chat)>,
    /// A plugin tells the task's audience of this status change itself.
    quiet: bool,
    /// The report being made is staff's announcement (an incident): being dealt with
    /// already, and its author gets no resident's acknowledgement.
    announcing: bool,
    /// The tasks of the period a plugin's timer asked for (see `Engine::tick`).
    period: Vec<PluginTask>,
}

/// Tasks kept in memory while their messages are delivered (see
/// [`Engine::fault_in_rows`]); dropped, they may leave again.
#[must_use]
pub struct Pinned<'a> {
    engine: &'a Engine,
    ids: Vec<TaskId>,
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        let mut st = self.engine.lock();
        for id in &self.ids {
            if let Some(n) = st.pinned.get_mut(id) {
                *n -= 1;
                if *n == 0 {
                    st.pinned.remove(id);
                }
            }
        }
    }
}

pub struct Engine {
    cfg: Arc<Config>,
    locales: Arc<Locales>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    plugins: Vec<Arc<dyn Plugin>>,
    classifier: Classifier,
    /// The config's streets as their parser reads them: (name, key, the key's words),
    /// read once (a report's street is compared with each).
    streets: Vec<(String, String, Vec<String>)>,
    /// room → the channels that host it
    room_channels: HashMap<String, Vec<String>>,
    /// What each channel can do (buttons, reactions, edits): cards say how to act there.
    capabilities: Mutex<HashMap<String, crate::channel::Capabilities>>,
    state: Mutex<State>,
    outbox_signal: tokio::sync::watch::Sender<u64>,
    /// The last commit failed (logged once until one succeeds).
    store_failing: std::sync::atomic::AtomicBool,
    /// When the retention setting was last applied (engine clock).
    retention_ran: Mutex<Option<Timestamp>>,
    /// A web-only process: events are handed to the leading process through the
    /// store's inbox instead of handled here.
    forwarding: std::sync::atomic::AtomicBool,
    /// Plugins' `on_start` ran (at the first tick).
    plugins_started: std::sync::atomic::AtomicBool,
    ops: crate::ops::Ops,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("town", &self.cfg.town.name).finish()
    }
}

impl Engine {
    /// Builds an engine and loads its working set from the store.
    /// `rooms` says which channel hosts which rooms: (channel name, room names).
    pub async fn start(
        cfg: Arc<Config>,
        locales: Arc<Locales>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        plugins: Vec<Arc<dyn Plugin>>,
        rooms: &[(String, Vec<String>)],
    ) -> Result<Arc<Engine>, EngineError> {
        let mut room_channels: HashMap<String, Vec<String>> = HashMap::new();
        for (ch, rs) in rooms {
            for r in rs {
                room_channels.entry(r.clone()).or_default().push(ch.clone());
            }
        }
        let unhosted: Vec<String> = cfg.room_names().into_iter().filter(|r| !room_channels.contains_key(r)).collect();
        if !unhosted.is_empty() {
            // Said once: a town on the web alone has no rooms at all.
            warn!(
                rooms = %unhosted.join(", "),
                "no messenger hosts these rooms: their messages are not delivered (connect Telegram or Matrix, see the README)"
            );
        }
        let (outbox_signal, _) = tokio::sync::watch::channel(0);
        let engine = Engine {
            classifier: Classifier::new(&cfg),
            streets: cfg
                .places
                .streets
                .iter()
                .filter_map(|s| {
                    crate::text::find_street(s).map(|(_, k)| (s.clone(), k.clone(), crate::text::words(&k)))
                })
                .collect(),
            cfg,
            locales,
            store,
            clock,
            plugins,
            room_channels,
            capabilities: Mutex::new(HashMap::new()),
            state: Mutex::new(State::default()),
            outbox_signal,
            store_failing: Default::default(),
            retention_ran: Mutex::new(None),
            forwarding: Default::default(),
            plugins_started: Default::default(),
            ops: crate::ops::Ops::new(),
        };
        engine.reload().await?;
        let st = engine.lock();
        info!(
            open_tasks = st.tasks.len(),
            last_task = st.last_id,
            residents = st.residents.len(),
            learned = st.learned.learned,
            "engine state loaded"
        );
        drop(st);
        Ok(Arc::new(engine))
    }

    async fn reload(&self) -> Result<(), EngineError> {
        let now = self.clock.now();
        let core_timers_until = now.plus_minutes(CORE_TIMERS_AHEAD_MINUTES);
        let window = crate::store::SeenWindow {
            since: now.plus_minutes(-SEEN_DAYS * 24 * 60),
            limit: SEEN_KEEP,
            core_timers_until,
        };
        let snap = self.store.load(window).await?;
        let mut learned = Learned::new(&self.cfg);
        for (text, category) in self.store.assignments(LEARN_FROM).await? {
            if self.cfg.category(&category).is_some() {
                learned.learn(&text, &category);
            }
        }
        let mut st = State { last_id: snap.last_task_id, learned, core_timers_until, ..State::default() };
        for t in snap.tasks {
            st.index_task(&t);
            st.tasks.insert(t.id, t);
        }
        st.dialogues = snap.dialogues.into_iter().collect();
        for k in snap.seen {
            st.mark_seen(&k, now);
        }
        for p in snap.posts {
            st.add_post(p);
        }
        for (k, due) in snap.timers {
            st.set_timer(k, due);
        }
        for (who, district) in snap.subscriptions {
            st.subscriptions.entry(district).or_default().insert(who);
        }
        st.credits = snap.credits.into_iter().collect();
        // The languages of everyone the open tasks and dialogues speak to.
        let mut people: Vec<Identity> = st.dialogues.keys().cloned().collect();
        people.extend(st.tasks.values().flat_map(Task::people).cloned());
        people.sort();
        people.dedup();
        st.residents = self.store.languages(&people).await?.into_iter().collect();
        st.residents_kept = st.residents.len();
        debug!(tasks = st.tasks.len(), last_task = st.last_id, "engine state (re)loaded");
        *self.lock() = st;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves a state that was being changed; the store
        // has the truth, and `handle` reloads from it after any failure.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn locales(&self) -> &Locales {
        &self.locales
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
    /// Changes whenever new outbox rows are committed.
    pub fn outbox_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.outbox_signal.subscribe()
    }
    /// A task from the working set.
    pub fn task(&self, id: TaskId) -> Option<Task> {
        self.lock().tasks.get(&id).cloned()
    }

    /// How much the engine holds in memory: what is open and recent, never the history.
    pub fn working_set(&self) -> WorkingSet {
        self.lock().working_set()
    }

    /// Handles one inbound event. Returns once its effects are committed.
    pub async fn handle(&self, inbound: Inbound) -> Result<Outcome, EngineError> {
        self.handle_with_toast(inbound).await.map(|(o, _)| o)
    }

    /// Handles one inbound event; also returns the short answer for a button press in a
    /// room, for channels that show one at once where the button was pressed (a toast).
    pub async fn handle_with_toast(&self, inbound: Inbound) -> Result<(Outcome, Option<String>), EngineError> {
        self.handle_traced(inbound).await.map(|(o, toast, _)| (o, toast))
    }

    /// Handles a report from an API client ([`InboundKind::ServiceRequest`]); returns the
    /// task it became: the one it made, or the open one it repeats; `None` if none (past
    /// the sender's limit, or the same request delivered again).
    pub async fn service_request(&self, inbound: Inbound) -> Result<(Outcome, Option<TaskId>), EngineError> {
        self.handle_traced(inbound).await.map(|(o, _, created)| (o, created))
    }

    /// Makes this engine a web-only process's: what it is given to handle goes to the
    /// leading process through the store's inbox ([`Engine::serve_inbox`] there), and
    /// the answer is what the leader made of it. Pages are read from the store.
    pub fn forward_to_leader(&self) {
        self.forwarding.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    async fn forward(&self, inbound: Inbound) -> Result<(Outcome, Option<String>, Option<TaskId>), EngineError> {
        let id = self.store.inbox_put(&inbound, self.clock.now()).await?;
        let deadline = tokio::time::Instant::now() + INBOX_WAIT;
        loop {
            if let Some(became) = self.store.inbox_result(id).await? {
                return Ok((Outcome::Handled, None, became));
            }
            if tokio::time::Instant::now() >= deadline {
                warn!(inbox = id, "no leading Plaza took the request in time; it waits in the inbox");
                return Err(EngineError::NoLeader);
            }
            tokio::time::sleep(INBOX_POLL).await;
        }
    }

    /// The leading process's side of the inbox: handles, in order, what web-only
    /// processes hand over, and writes back the task each became. Runs until the store
    /// fails for good (then returns the error).
    pub async fn serve_inbox(self: Arc<Self>) -> Result<(), EngineError> {
        loop {
            let due = self.store.inbox_due(100).await?;
            if due.is_empty() {
                tokio::time::sleep(INBOX_POLL).await;
                continue;
            }
            for (id, inbound) in due {
                let became = match self.service_request(inbound).await {
                    Ok((_, became)) => became,
                    // Stays in the inbox: tried again on the next look.
                    Err(e) => {
                        warn!(inbox = id, error = %e, "an event from a web process could not be handled yet");
                        tokio::time::sleep(INBOX_POLL).await;
                        break;
                    }
                };
                self.store.inbox_done(id, became, self.clock.now()).await?;
            }
        }
    }

    async fn handle_traced(&self, inbound: Inbound) -> Result<(Outcome, Option<String>, Option<TaskId>), EngineError> {
        if self.forwarding.load(std::sync::atomic::Ordering::Relaxed) {
            return self.forward(inbound).await;
        }
        use tracing::Instrument;
        let span = tracing::info_span!("inbound", channel = %inbound.channel, msg = %inbound.message_id);
        let channel = inbound.channel.clone();
        self.ops.inbound.with_label_values(&[channel.as_str(), inbound.kind.name()]).inc();
        let began = std::time::Instant::now();
        let r = self.handle_in_span(inbound).instrument(span).await;
        self.ops.handling.with_label_values(&[channel.as_str()]).observe(began.elapsed().as_secs_f64());
        r
    }

    /// Metrics and the channels' health, for operations (`/metrics`, `/health`).
    pub fn ops(&self) -> &crate::ops::Ops {
        &self.ops
    }

    /// Tells the engine what a channel can do (the dispatcher does, for its channels).
    pub fn set_capabilities(&self, channel: &str, caps: crate::channel::Capabilities) {
        self.capabilities.lock().unwrap_or_else(|p| p.into_inner()).insert(channel.to_owned(), caps);
    }

    pub(crate) fn capabilities_of(&self, channel: &str) -> crate::channel::Capabilities {
        self.capabilities.lock().unwrap_or_else(|p| p.into_inner()).get(channel).copied().unwrap_or_default()
    }

    async fn handle_in_span(&self, inbound: Inbound) -> Result<(Outcome, Option<String>, Option<TaskId>), EngineError> {
        let reading = self.prefetch(&inbound).await?;
        // A data-access request needs what is on disk, read before the state is locked.
        let person: Option<PersonData> = match self.wants_own_data(&inbound) {
            true => Some(self.store.person_data(&inbound.sender).await?),
            false => None,
        };
        let (toast, created);
        let ticket = {
            let mut st = self.lock();
            let key = (inbound.channel.clone(), inbound.message_id.clone());
            if st.was_seen(&key) {
                debug!("redelivered; ignored");
                return Ok((Outcome::Duplicate, None, None));
            }
            let now = self.clock.now();
            st.mark_seen(&key, now);
            let mut tx = Tx { batch: Batch { at: now, ..Batch::default() }, ..Tx::default() };
            tx.batch.seen.push(key);
            {
                let sender_name = inbound.sender_name.clone().filter(|n| !n.trim().is_empty());
                let mut cx = Cx {
                    e: self,
                    st: &mut st,
                    tx: &mut tx,
                    now,
                    sender_name,
                    understood: Default::default(),
                    readings: std::cell::RefCell::new(
                        reading.map(|(t, r)| (t, std::rc::Rc::new(r))).into_iter().collect(),
                    ),
                };
                cx.apply_retention();
                match person {
                    Some(p) => cx.send_own_data(&inbound, p),
                    None => cx.process(&inbound),
                }
            }
            toast = tx.toast.take();
            created = tx.became;
            self.finish(&mut st, tx)
        };
        self.committed(ticket).await?;
        Ok((Outcome::Handled, toast, created))
    }

    /// The end of a transaction, under the lock: the touched tasks' rows (and indexes),
    /// memory trimmed, the batch handed to the store.
    fn finish(&self, st: &mut State, mut tx: Tx) -> crate::store::CommitTicket {
        for id in std::mem::take(&mut tx.touched) {
            if let Some(t) = st.tasks.get_mut(&id) {
                // Where it is in the town follows its place, however that changed (a task
                // with no street or point keeps the district it was given: an incident
                // announced for a whole district).
                if t.place.is_known() {
                    t.place.district = self.cfg.district_of(&t.place).map(|d| d.id.clone());
                }
                let t = t.clone();
                st.index_task(&t);
                if !t.status.is_active() {
                    st.note_closed(t.id);
                }
                tx.batch.tasks.push(t);
            }
        }
        st.trim(self.cfg.engine.closed_tasks_in_memory);
        self.store.submit(tx.batch)
    }

    /// Runs the timers that are due by the engine's clock (the core's "is it fixed?"
    /// time-outs, plugins' reminders), each once, in one transaction per hundred.
    /// Returns how many ran. The runtime calls it every few seconds; the console after
    /// each line (so that `~ 3d` moves time for them too).
    pub async fn tick(&self) -> Result<usize, EngineError> {
        if self.forwarding.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(0);
        }
        if !self.plugins_started.load(std::sync::atomic::Ordering::SeqCst) {
            self.system_tx(self.clock.now(), |cx| {
                for p in cx.e.plugins.clone() {
                    let mut pc = PluginCtx { cx: cx.sub(), plugin: p.name() };
                    p.on_start(&mut pc);
                }
            })
            .await?;
            // Only once it is stored: a failed start is tried again at the next tick.
            self.plugins_started.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.read_core_timers().await?;
        let mut ran = 0;
        loop {
            let now = self.clock.now();
            let due = self.lock().due_timers(now, TIMERS_PER_TX);
            if due.is_empty() {
                return Ok(ran);
            }
            let tasks: Vec<TaskId> = due.iter().map(|k| k.task).collect();
            self.fault_in(&tasks, &[]).await?;
            // A timer that summarises a period has its tasks read first (not under the lock).
            let mut periods: HashMap<TimerKey, Vec<Task>> = HashMap::new();
            for key in &due {
                let Some(p) = self.plugins.iter().find(|p| p.name() == key.owner) else { continue };
                if let Some((from, until)) = p.period_for_timer(&self.cfg, &key.key, now) {
                    periods.insert(key.clone(), self.period_tasks(from, until).await?);
                }
            }
            self.system_tx(now, |cx| {
                for key in &due {
                    // Still set (a message may have cancelled it meanwhile): run once.
                    if cx.st.timers.get(key).is_some_and(|d| *d <= now) {
                        cx.tx.period = periods.remove(key).map(|stored| cx.period_view(stored)).unwrap_or_default();
                        cx.cancel_timer(key);
                        cx.run_timer(key);
                        cx.tx.period.clear();
                        ran += 1;
                    }
                }
            })
            .await?;
        }
    }

    /// Reads the core's timers that come due within the next window, once half of the
    /// window in memory has passed (or the clock jumped past it).
    async fn read_core_timers(&self) -> Result<(), EngineError> {
        let now = self.clock.now();
        let (from, until, ticket) = {
            let mut st = self.lock();
            if now.plus_minutes(CORE_TIMERS_AHEAD_MINUTES / 2) < st.core_timers_until {
                return Ok(());
            }
            let until = now.plus_minutes(CORE_TIMERS_AHEAD_MINUTES);
            let from = st.widen_core_timers(until);
            // Timers set from now on up to `until` stay in memory; those set before went
            // to the store in batches submitted before this one: once it is committed,
            // the read sees them all.
            (from, until, self.store.submit(Batch { at: now, ..Batch::default() }))
        };
        let read = async {
            ticket.await.map_err(|_| EngineError::StoreGone)??;
            Ok::<_, EngineError>(self.store.timers_due(crate::store::CORE_TIMERS, from, until).await?)
        }
        .await;
        let mut st = self.lock();
        match read {
            Ok(timers) => {
                debug!(timers = timers.len(), "the core's next timers read");
                st.core_timers_read(timers);
                Ok(())
            }
            Err(e) => {
                // Read again at the next tick.
                st.core_timers_read(Vec::new());
                st.core_timers_until = from;
                Err(e)
            }
        }
    }

    /// Work with no message behind it (timers, plugins' start), in one transaction.
    async fn system_tx(&self, now: Timestamp, work: impl FnOnce(&mut Cx<'_, '_>)) -> Result<(), EngineError> {
        let ticket = {
            let mut st = self.lock();
            let mut tx = Tx { batch: Batch { at: now, ..Batch::default() }, ..Tx::default() };
            work(&mut Cx::system(self, &mut st, &mut tx, now));
            self.finish(&mut st, tx)
        };
        self.committed(ticket).await
    }

    /// The tasks created in [from, until) or resolved or closed since `from`, from the
    /// store (a period's summary).
    async fn period_tasks(&self, from: Timestamp, until: Timestamp) -> Result<Vec<Task>, EngineError> {
        let created =
            crate::store::TaskQuery { created_from: Some(from), created_before: Some(until), ..Default::default() };
        let ended = crate::store::TaskQuery { ended_from: Some(from), ..Default::default() };
        let mut all = self.store.tasks(&created).await?;
        let mut more = self.store.tasks(&ended).await?;
        all.append(&mut more);
        all.sort_by_key(|t| t.id);
        all.dedup_by_key(|t| t.id);
        Ok(all)
    }

    /// Waits for a batch's commit: on success the dispatcher is woken; on failure the
    /// state is reloaded from the store (which has the truth).
    async fn committed(&self, ticket: crate::store::CommitTicket) -> Result<(), EngineError> {
        let res = match ticket.await {
            Ok(r) => r.map_err(EngineError::from),
            Err(_) => Err(EngineError::StoreGone),
        };
        match res {
            Ok(()) => {
                if self.store_failing.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    info!("the store takes messages again");
                }
                self.outbox_signal.send_modify(|n| *n = n.wrapping_add(1));
                Ok(())
            }
            Err(e) => {
                // Said once while the store keeps failing (a full disk fails every try).
                if self.store_failing.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    debug!(error = %e, "commit failed again; the message stays with the platform");
                } else {
                    warn!(error = %e, "commit failed; the message stays with the platform and comes again");
                }
                if let Err(e2) = self.reload().await {
                    warn!(error = %e2, "reload failed too");
                }
                Err(e)
            }
        }
    }

    /// Loads into memory what a message refers to that is not there: the tasks it names
    /// or answers (with their posts and their people's languages), and its sender's
    /// language. Returns the keywords' reading of its text when it was made here (to
    /// tell whether the text states its language), to be used again.
    async fn prefetch(&self, inbound: &Inbound) -> Result<Option<(String, crate::classify::Reading)>, EngineError> {
        let mut want: Vec<TaskId> = Vec::new();
        if let InboundKind::Text { text } = &inbound.kind
            && let Some(c) = command::parse(text)
        {
            want.extend(c.task);
            if let Some((t, _)) = command::task_ref(&c.rest) {
                want.push(t);
            }
        }
        if let InboundKind::Button { data } = &inbound.kind
            && let Some((_, n)) = data.split_once(':')
            && let Ok(n) = n.parse()
        {
            want.push(TaskId(n));
        }
        // A task named in the public room's text ("#12 …", "yo también #12").
        if let (InboundKind::Text { text }, Chat::Room(r)) = (&inbound.kind, &inbound.chat)
            && r == "public"
            && let Some((id, _)) = command::public_ref(text)
        {
            want.push(id);
        }
        let mut answered = Vec::new();
        if let Some(r) = &inbound.reply_to {
            let known = self.lock().posts_by_message.contains_key(&(inbound.channel.clone(), r.clone()));
            if !known {
                answered = self.store.posts_by_message(&inbound.channel, r).await?;
                want.extend(answered.iter().map(|p| p.task));
            }
        }
        // The sender's fixes waiting for their "is it fixed?" answer (they leave memory
        // like any closed task) are read when what they wrote may be about them (an
        // answer, "any news?"; a button names its task): a new report is not slowed
        // down by their old ones, and nothing about them is loaded at start.
        let about_fixes = match &inbound.kind {
            InboundKind::Text { text } => {
                feedback::fix_answer(&self.cfg, text).is_some() || self.cfg.mentions(text, |h| &h.status_questions)
            }
            _ => false,
        };
        let known = {
            let st = self.lock();
            // The task a resident is rating, which may have left memory since.
            if let Some(crate::dialogue::Dialogue::Rate { task, .. }) = st.dialogues.get(&inbound.sender) {
                want.push(*task);
            }
            st.residents.contains_key(&inbound.sender) || st.no_language.contains(&inbound.sender)
        };
        if about_fixes {
            let q = crate::store::TaskQuery {
                reporter: Some(inbound.sender.clone()),
                awaiting_answer: true,
                ..Default::default()
            };
            want.extend(self.store.tasks(&q).await?.iter().map(|t| t.id));
        }
        // The sender's language, unless what they wrote says it clearly by itself (the
        // stored one would not count then: see `classify_lang`).
        let reading = match &inbound.kind {
            InboundKind::Text { text } if !known => Some((text.clone(), self.classifier.read(text))),
            _ => None,
        };
        let clear = reading.as_ref().is_some_and(|(_, r)| {
            self.classifier
                .detect_language_read(r)
                .is_some_and(|(l, score)| score >= CLEAR_LANGUAGE && self.locales.has_language(&l))
        });
        let sender = if clear || known { &[][..] } else { std::slice::from_ref(&inbound.sender) };
        self.fault_in(&want, sender).await?;
        let mut st = self.lock();
        for p in answered {
            if st.tasks.contains_key(&p.task) {
                st.add_post(p);
            }
        }
        Ok(reading)
    }

    /// Reads into memory the tasks (with their posts) and the languages of the people
    /// given and of those tasks' people, where memory does not have them.
    async fn fault_in(&self, tasks: &[TaskId], people: &[Identity]) -> Result<(), EngineError> {
        let mut people: Vec<Identity> = people.to_vec();
        for &id in tasks {
            if id.0 <= 0 || self.lock().tasks.contains_key(&id) {
                continue;
            }
            if let Some(t) = self.store.task(id).await? {
                let mut posts = Vec::new();
                // With the other tasks of a grouped message it is on: an edit changes
                // its line only.
                for p in self.store.posts_of(id).await? {
                    posts.extend(self.store.posts_by_message(&p.channel, &p.message_id).await?);
                }
                people.extend(t.people().cloned());
                let mut st = self.lock();
                if st.tasks.contains_key(&id) {
                    continue;
                }
                for p in posts {
                    if p.task == id {
                        st.add_post(p);
                    } else {
                        st.add_message_post(p);
                    }
                }
                if !t.status.is_active() {
                    st.note_closed(id);
                }
                st.index_task(&t);
                st.tasks.insert(id, t);
            }
        }
        let missing: Vec<Identity> = {
            let st = self.lock();
            people.into_iter().filter(|p| !st.residents.contains_key(p) && !st.no_language.contains(p)).collect()
        };
        if !missing.is_empty() {
            let found = self.store.languages(&missing).await?;
            let mut st = self.lock();
            for who in missing {
                if !found.iter().any(|(w, _)| *w == who) {
                    st.no_language.insert(who);
                }
            }
            for (who, lang) in found {
                st.no_language.remove(&who);
                st.residents.entry(who).or_insert(lang);
            }
        }
        Ok(())
    }

    /// Reads into memory the tasks these outbox rows are about, where memory does not
    /// have them (the dispatcher, before it renders them: a post's platform id, whether
    /// the task may still be seen there). They stay in memory until the returned guard
    /// is dropped (the delivery is over), whatever other trims happen meanwhile.
    pub async fn fault_in_rows<'a>(
        &self,
        rows: impl IntoIterator<Item = &'a OutboxRow>,
    ) -> Result<Pinned<'_>, EngineError> {
        let mut ids: Vec<TaskId> = rows.into_iter().filter_map(|r| r.message.task).collect();
        ids.sort();
        ids.dedup();
        // Pinned before they are read: no trim in between can take one out again.
        {
            let mut st = self.lock();
            for id in &ids {
                *st.pinned.entry(*id).or_default() += 1;
            }
        }
        let pinned = Pinned { engine: self, ids };
        self.fault_in(&pinned.ids, &[]).await?;
        // Delivery alone (no message coming in) keeps memory bounded too.
        self.lock().trim(self.cfg.engine.closed_tasks_in_memory);
        Ok(pinned)
    }

    /// Resolves an outbox row into what the adapter sends: the platform ids of the post
    /// it edits or answers, as delivered on that channel. `None`: nothing to send (an
    /// edit of a grouped message, which stays as it was sent).
    pub fn outgoing(&self, row: &OutboxRow) -> Option<Outgoing> {
        let m = &row.message;
        let mut st = self.lock();
        let room = match &m.to {
            Destination::Room(r) => Some(r.clone()),
            Destination::Direct(_) => None,
        };
        let lookup = |kind: Option<PostKind>| -> Option<String> {
            let (kind, task, room) = (kind?, m.task?, room.clone()?);
            st.post_of(task, &row.channel, &room, kind).map(str::to_owned)
        };
        if !Self::may_deliver_in(&self.cfg, &st, row) {
            debug!(task = ?m.task, "the task became private before this message left; not sent");
            return None;
        }
        let edit = lookup(m.edit);
        if m.edit.is_some() && edit.is_none() && m.withdraw {
            // Never delivered: nothing to withdraw.
            return None;
        }
        if let Some(e) = &edit
            && st.is_group(&row.channel, e)
        {
            // An edit of one task in a grouped message: its line (and buttons) change,
            // the others stay; a withdrawn task's line becomes the neutral one.
            let (Some(task), Some(lines)) = (m.task, st.groups.get_mut(&(row.channel.clone(), e.clone()))) else {
                return None;
            };
            let line = lines.iter_mut().find(|l| l.task == task)?;
            line.line = match (m.withdraw, &m.summary) {
                (true, _) => m.text.replace('\n', " · "),
                (false, Some(s)) => s.clone(),
                (false, None) => return None,
            };
            line.buttons = if m.withdraw { vec![] } else { Self::group_buttons(task, &m.buttons) };
            let (text, buttons) = GroupLine::message(lines, "\n");
            return Some(Outgoing {
                key: format!("plaza-{}", row.id),
                text,
                buttons,
                edit: edit.clone(),
                ..Outgoing::plain(m.to.clone())
            });
        }
        // A channel that cannot edit a message gets a one-line update instead of the whole
        // post again (the task's state in its summary line), as a new message.
        if m.edit.is_some() && !m.withdraw && !self.capabilities_of(&row.channel).edits {
            let line = m.summary.clone()?;
            return Some(Outgoing {
                key: format!("plaza-{}", row.id),
                text: line,
                task: m.task,
                ..Outgoing::plain(m.to.clone())
            });
        }
        Some(Outgoing {
            key: format!("plaza-{}", row.id),
            to: m.to.clone(),
            text: m.text.clone(),
            buttons: m.buttons.clone(),
            task: m.task,
            post: m.post,
            edit,
            reply_to: lookup(m.thread),
            withdraw: m.withdraw,
            only_if_open: m.only_if_open,
            farewell: m.farewell,
        })
    }

    /// Whether an outbox row may still go where it is addressed. Who may see a task is
    /// decided at delivery too, not only when the message was queued: a post or a
    /// follower's message about a task that has since become private is not sent.
    pub fn may_deliver(&self, row: &OutboxRow) -> bool {
        Self::may_deliver_in(&self.cfg, &self.lock(), row)
    }

    fn may_deliver_in(cfg: &Config, st: &State, row: &OutboxRow) -> bool {
        let m = &row.message;
        match m.task.and_then(|id| st.tasks.get(&id)) {
            Some(t) => m.withdraw || audience::may_receive(cfg, t, &m.to),
            None => true,
        }
    }

    /// Remembers a delivered post, so replies and reactions to it find the task.
    pub fn record_post(&self, p: PostRecord) {
        let mut st = self.lock();
        // A task no longer in memory has its posts in the store, read when needed.
        if st.tasks.contains_key(&p.task) {
            st.add_post(p);
        }
    }

    /// Remembers the lines of a grouped message the dispatcher sent, so that an edit of
    /// one of its tasks re-renders the message with that line changed.
    pub fn record_group(&self, channel: &str, message_id: &str, lines: Vec<GroupLine>) {
        let mut st = self.lock();
        // Only while one of its tasks is in memory: the group leaves with the last of them.
        if lines.iter().any(|l| st.tasks.contains_key(&l.task)) {
            st.groups.insert((channel.to_owned(), message_id.to_owned()), lines);
        }
    }

    /// The labels a task's buttons get in a grouped message: "✅ #12".
    pub fn group_buttons(task: TaskId, buttons: &[crate::channel::Button]) -> Vec<crate::channel::Button> {
        buttons
            .iter()
            .map(|b| {
                let icon = b.label.split_whitespace().next().unwrap_or("•");
                crate::channel::Button { label: format!("{icon} #{}", task.0), data: b.data.clone() }
            })
            .collect()
    }
}

/// The working context of one inbound: the engine, its locked state, the transaction.
pub struct Cx<'e, 's> {
    e: &'e Engine,
    st: &'s mut State,
    tx: &'s mut Tx,
    now: Timestamp,
    /// How the sender of the message being handled is called on their platform.
    sender_name: Option<String>,
    /// What was made of each text this message brought (a text is read once, however
    /// many questions are asked of it).
    understood: std::cell::RefCell<Vec<(String, std::rc::Rc<Understanding>)>>,
    /// The keywords' reading of each text this message brought.
    readings: std::cell::RefCell<Vec<(String, std::rc::Rc<crate::classify::Reading>)>>,
}

/// What a text says, read once: its street, whether it speaks of something private or
/// of a person, and its category.
#[derive(Debug)]
struct Understanding {
    street: Option<(String, String)>,
    private: Option<PrivateMatch>,
    person: bool,
    class: Classification,
}

impl<'e, 's> Cx<'e, 's> {
    /// A context with no message being handled (timers, renders).
    fn system(e: &'e Engine, st: &'s mut State, tx: &'s mut Tx, now: Timestamp) -> Cx<'e, 's> {
        Cx { e, st, tx, now, sender_name: None, understood: Default::default(), readings: Default::default() }
    }
    /// A period's tasks as a plugin sees them: those read from the store (in memory's
    /// latest version where memory has them), and every task open now.
    fn period_view(&self, mut stored: Vec<Task>) -> Vec<PluginTask> {
        for t in &mut stored {
            if let Some(m) = self.st.tasks.get(&t.id) {
                *t = m.clone();
            }
        }
        let seen: BTreeSet<TaskId> = stored.iter().map(|t| t.id).collect();
        let open = self.st.tasks.values().filter(|t| t.status.is_active() && !seen.contains(&t.id));
        stored.iter().chain(open).map(PluginTask::of).collect()
    }
    fn cfg(&self) -> &'e Config {
        &self.e.cfg
    }
    fn t(&self, lang: &str, id: &str, args: &[(&str, Arg<'_>)]) -> String {
        self.e.locales.text(lang, id, args)
    }
    fn room_lang(&self) -> String {
        self.cfg().room_language().to_owned()
    }
    fn lang_of(&self, who: &Identity) -> String {
        self.st.residents.get(who).cloned().unwrap_or_else(|| self.cfg().town.default_language.clone())
    }
    fn touch(&mut self, id: TaskId) {
        self.tx.touched.insert(id);
    }
    fn event(&mut self, task: TaskId, actor: Option<&Identity>, kind: EventKind) {
        self.tx.batch.events.push(TaskEvent { task, at: self.now, actor: actor.cloned(), kind });
    }

    /// Free text → category: the config's keywords decide where they can; where they do
    /// not, what the town taught (dispatchers' assignments) may, with the same
    /// confidence threshold. Privacy is decided before, by the keywords alone.
    fn classify(&self, text: &str) -> Classification {
        let by_keywords = self.e.classifier.classify_read(&self.reading(text));
        if matches!(by_keywords, Classification::Confident { .. }) || self.st.learned.learned == 0 {
            return by_keywords;
        }
        match self.st.learned.predict(text) {
            Some((category, confidence))
                if confidence >= self.cfg().engine.confidence_threshold
                    && match &by_keywords {
                        Classification::Ambiguous { candidates } => candidates.contains(&category),
                        _ => true,
                    } =>
            {
                Classification::Confident { category, confidence }
            }
            _ => by_keywords,
        }
    }

    /// The keywords' reading of a text, made once per message.
    fn reading(&self, text: &str) -> std::rc::Rc<crate::classify::Reading> {
        if let Some((_, r)) = self.readings.borrow().iter().find(|(t, _)| t == text) {
            return r.clone();
        }
        let r = std::rc::Rc::new(self.e.classifier.read(text));
        self.readings.borrow_mut().push((text.to_owned(), r.clone()));
        r
    }

    /// The text read once (street, privacy, persons, category), from this message's memo.
    fn understand(&self, text: &str) -> std::rc::Rc<Understanding> {
        if let Some((_, u)) = self.understood.borrow().iter().find(|(t, _)| t == text) {
            return u.clone();
        }
        let u = std::rc::Rc::new(Understanding {
            street: self.street_in(text),
            private: self.e.classifier.private_match_read(&self.reading(text)),
            person: self.cfg().mentions(text, |h| &h.persons),
            class: self.classify(text),
        });
        self.understood.borrow_mut().push((text.to_owned(), u.clone()));
        u
    }

    fn sub(&mut self) -> Cx<'e, '_> {
        Cx {
            e: self.e,
            st: &mut *self.st,
            tx: &mut *self.tx,
            now: self.now,
            sender_name: self.sender_name.clone(),
            understood: Default::default(),
            readings: Default::default(),
        }
    }
}

/// How to call the sender in a crew room: their platform name, else their id there.
fn display_name(inb: &Inbound) -> &str {
    inb.sender_name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(inb.sender.id())
}
