//! The routing engine: one [`Inbound`] in, a state change and the messages it causes out,
//! written to the store in one transaction.
//!
//! The engine keeps its working set (active and recent tasks, open dialogues, residents'
//! languages, redelivery keys, post ids) in memory, behind one lock that is never held
//! across I/O: each message is decided in microseconds, and the writes are handed to the
//! store, which groups concurrent messages into one commit.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use tracing::{debug, info, warn};

use crate::channel::{Button, Chat, Destination, Inbound, InboundKind, Outbound, Outgoing, PostKind};
use crate::classify::{Classification, Classifier};
use crate::clock::Clock;
use crate::command::{self, Command, Verb};
use crate::config::{Config, Unclear};
use crate::dialogue::{Dialogue, Draft};
use crate::i18n::{Arg, Locales};
use crate::model::*;
use crate::plugin::{Hook, Plugin};
use crate::store::{Batch, NewOutbox, OutboxRow, PostRecord, Store, StoreError};
use crate::text::{clean, ellipsize, find_street, fold, words};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store did not answer")]
    StoreGone,
}

/// What became of one inbound event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Handled,
    /// Seen before (platform redelivery): nothing done.
    Duplicate,
}

/// How long redelivery keys are remembered.
const SEEN_DAYS: i64 = 7;
/// Tasks changed this recently stay in memory even when closed (reopen, duplicates).
const RECENT_DAYS: i64 = 30;

#[derive(Default)]
struct State {
    tasks: HashMap<TaskId, Task>,
    last_id: i64,
    /// Active tasks per category, in id order (for plugins).
    active_by_category: HashMap<String, BTreeSet<TaskId>>,
    /// Active tasks by (category, street key) and by (category, grid cell of their
    /// point): duplicate detection looks up, it does not scan.
    by_street: HashMap<(String, String), BTreeSet<TaskId>>,
    by_cell: HashMap<(String, i64, i64), BTreeSet<TaskId>>,
    /// The index keys each task is filed under, to refile it when it changes.
    filed: HashMap<TaskId, Filed>,
    last_task_of: HashMap<Identity, TaskId>,
    dialogues: HashMap<Identity, Dialogue>,
    residents: HashMap<Identity, String>,
    seen: HashSet<(String, String)>,
    seen_order: VecDeque<(Timestamp, (String, String))>,
    /// A platform message → the task posts it carries (several for a grouped message).
    posts_by_message: HashMap<(String, String), Vec<PostRecord>>,
    posts_by_task: HashMap<(TaskId, String, String, PostKind), String>,
}

/// Where an active task is filed in the duplicate indexes.
#[derive(Default, Clone, PartialEq)]
struct Filed {
    category: Option<String>,
    street: Option<(String, String)>,
    cell: Option<(String, i64, i64)>,
}

/// Grid cells of about 100 m: a duplicate within the radius is in the same or a
/// neighbouring cell (for radii up to the cell size).
const CELL_DEG: f64 = 0.001;

fn cell_of(p: &GeoPoint) -> (i64, i64) {
    ((p.lat / CELL_DEG).floor() as i64, (p.lon / CELL_DEG).floor() as i64)
}

impl State {
    fn index_task(&mut self, t: &Task) {
        let want = match (&t.category, t.status.is_active()) {
            (Some(c), true) => Filed {
                category: Some(c.clone()),
                street: t.place.street_key.clone().map(|k| (c.clone(), k)),
                cell: t.place.point.map(|p| {
                    let (x, y) = cell_of(&p);
                    (c.clone(), x, y)
                }),
            },
            _ => Filed::default(),
        };
        let had = self.filed.get(&t.id).cloned().unwrap_or_default();
        if had != want {
            if let Some(c) = &had.category {
                self.active_by_category.get_mut(c).map(|s| s.remove(&t.id));
            }
            if let Some(k) = &had.street {
                self.by_street.get_mut(k).map(|s| s.remove(&t.id));
            }
            if let Some(k) = &had.cell {
                self.by_cell.get_mut(k).map(|s| s.remove(&t.id));
            }
            if let Some(c) = &want.category {
                self.active_by_category.entry(c.clone()).or_default().insert(t.id);
            }
            if let Some(k) = &want.street {
                self.by_street.entry(k.clone()).or_default().insert(t.id);
            }
            if let Some(k) = &want.cell {
                self.by_cell.entry(k.clone()).or_default().insert(t.id);
            }
            if want == Filed::default() {
                self.filed.remove(&t.id);
            } else {
                self.filed.insert(t.id, want);
            }
        }
        let last = self.last_task_of.entry(t.reporter.clone()).or_insert(t.id);
        if *last < t.id {
            *last = t.id;
        }
    }
    fn add_post(&mut self, p: PostRecord) {
        self.posts_by_task.insert((p.task, p.channel.clone(), p.room.clone(), p.kind), p.message_id.clone());
        let v = self.posts_by_message.entry((p.channel.clone(), p.message_id.clone())).or_default();
        if !v.contains(&p) {
            v.push(p);
        }
    }
    fn mark_seen(&mut self, key: (String, String), at: Timestamp) {
        let horizon = at.plus_minutes(-SEEN_DAYS * 24 * 60);
        while let Some((t, _)) = self.seen_order.front() {
            if *t >= horizon {
                break;
            }
            if let Some((_, k)) = self.seen_order.pop_front() {
                self.seen.remove(&k);
            }
        }
        self.seen.insert(key.clone());
        self.seen_order.push_back((at, key));
    }
}

/// The writes and messages one inbound causes.
struct Tx {
    batch: Batch,
    touched: BTreeSet<TaskId>,
}

pub struct Engine {
    cfg: Arc<Config>,
    locales: Arc<Locales>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    plugins: Vec<Arc<dyn Plugin>>,
    classifier: Classifier,
    /// room → the channels that host it
    room_channels: HashMap<String, Vec<String>>,
    state: Mutex<State>,
    outbox_signal: tokio::sync::watch::Sender<u64>,
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
        for r in cfg.room_names() {
            if !room_channels.contains_key(&r) {
                warn!(room = %r, "no channel hosts this room: its messages will not be delivered");
            }
        }
        let (outbox_signal, _) = tokio::sync::watch::channel(0);
        let engine = Engine {
            classifier: Classifier::new(&cfg),
            cfg,
            locales,
            store,
            clock,
            plugins,
            room_channels,
            state: Mutex::new(State::default()),
            outbox_signal,
        };
        engine.reload().await?;
        Ok(Arc::new(engine))
    }

    async fn reload(&self) -> Result<(), EngineError> {
        let now = self.clock.now();
        let snap = self.store.load(now.plus_minutes(-RECENT_DAYS * 24 * 60)).await?;
        let mut st = State { last_id: snap.last_task_id, ..State::default() };
        for t in snap.tasks {
            st.index_task(&t);
            st.tasks.insert(t.id, t);
        }
        st.dialogues = snap.dialogues.into_iter().collect();
        st.residents = snap.residents.into_iter().collect();
        for k in snap.seen {
            st.mark_seen(k, now);
        }
        for p in snap.posts {
            st.add_post(p);
        }
        info!(tasks = st.tasks.len(), last_task = st.last_id, "engine state loaded");
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

    /// Handles one inbound event. Returns once its effects are committed.
    pub async fn handle(&self, inbound: Inbound) -> Result<Outcome, EngineError> {
        use tracing::Instrument;
        let span = tracing::info_span!("inbound", channel = %inbound.channel, msg = %inbound.message_id);
        self.handle_in_span(inbound).instrument(span).await
    }

    async fn handle_in_span(&self, inbound: Inbound) -> Result<Outcome, EngineError> {
        self.prefetch(&inbound).await?;
        let ticket = {
            let mut st = self.lock();
            let key = (inbound.channel.clone(), inbound.message_id.clone());
            if st.seen.contains(&key) {
                debug!("redelivered; ignored");
                return Ok(Outcome::Duplicate);
            }
            let now = self.clock.now();
            st.mark_seen(key.clone(), now);
            let mut tx = Tx { batch: Batch { at: now, ..Batch::default() }, touched: BTreeSet::new() };
            tx.batch.seen.push(key);
            {
                let mut cx = Cx { e: self, st: &mut st, tx: &mut tx, now };
                cx.process(&inbound);
            }
            for id in std::mem::take(&mut tx.touched) {
                if let Some(t) = st.tasks.get(&id) {
                    let t = t.clone();
                    st.index_task(&t);
                    tx.batch.tasks.push(t);
                }
            }
            self.store.submit(tx.batch)
        };
        let res = match ticket.await {
            Ok(r) => r.map_err(EngineError::from),
            Err(_) => Err(EngineError::StoreGone),
        };
        match res {
            Ok(()) => {
                self.outbox_signal.send_modify(|n| *n = n.wrapping_add(1));
                Ok(Outcome::Handled)
            }
            Err(e) => {
                warn!(error = %e, "commit failed; reloading state from the store");
                if let Err(e2) = self.reload().await {
                    warn!(error = %e2, "reload failed too");
                }
                Err(e)
            }
        }
    }

    /// Loads into memory the tasks and posts a message refers to that are not there.
    async fn prefetch(&self, inbound: &Inbound) -> Result<(), EngineError> {
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
        if let Some(r) = &inbound.reply_to {
            let known = self.lock().posts_by_message.contains_key(&(inbound.channel.clone(), r.clone()));
            if !known {
                for p in self.store.posts_by_message(&inbound.channel, r).await? {
                    want.push(p.task);
                    self.lock().add_post(p);
                }
            }
        }
        for id in want {
            if id.0 <= 0 || self.lock().tasks.contains_key(&id) {
                continue;
            }
            if let Some(t) = self.store.task(id).await? {
                let posts = self.store.posts_of(id).await?;
                let mut st = self.lock();
                for p in posts {
                    st.add_post(p);
                }
                st.tasks.entry(t.id).or_insert(t);
            }
        }
        Ok(())
    }

    /// Resolves an outbox row into what the adapter sends: the platform ids of the post
    /// it edits or answers, as delivered on that channel. `None`: nothing to send (an
    /// edit of a grouped message, which stays as it was sent).
    pub fn outgoing(&self, row: &OutboxRow) -> Option<Outgoing> {
        let m = &row.message;
        let st = self.lock();
        let room = match &m.to {
            Destination::Room(r) => Some(r.clone()),
            Destination::Direct(_) => None,
        };
        let lookup = |kind: Option<PostKind>| -> Option<String> {
            let (kind, task, room) = (kind?, m.task?, room.clone()?);
            st.posts_by_task.get(&(task, row.channel.clone(), room, kind)).cloned()
        };
        let edit = lookup(m.edit);
        if let Some(e) = &edit
            && st.posts_by_message.get(&(row.channel.clone(), e.clone())).is_some_and(|v| v.len() > 1)
        {
            return None;
        }
        Some(Outgoing {
            to: m.to.clone(),
            text: m.text.clone(),
            buttons: m.buttons.clone(),
            task: m.task,
            post: m.post,
            edit,
            reply_to: lookup(m.thread),
        })
    }

    /// Remembers a delivered post, so replies and reactions to it find the task.
    pub fn record_post(&self, p: PostRecord) {
        self.lock().add_post(p);
    }
}

/// The working context of one inbound: the engine, its locked state, the transaction.
pub struct Cx<'e, 's> {
    e: &'e Engine,
    st: &'s mut State,
    tx: &'s mut Tx,
    now: Timestamp,
}

/// What a plugin may see and do.
pub struct PluginCtx<'e, 's> {
    cx: Cx<'e, 's>,
    plugin: &'s str,
}

impl PluginCtx<'_, '_> {
    pub fn now(&self) -> Timestamp {
        self.cx.now
    }
    pub fn config(&self) -> &Config {
        &self.cx.e.cfg
    }
    /// This plugin's table in the config (`[plugins.NAME]`), if any.
    pub fn settings(&self) -> Option<&toml::Table> {
        self.cx.e.cfg.plugins.get(self.plugin)
    }
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        self.cx.st.tasks.get(&id)
    }
    /// Active tasks of a category, newest first.
    pub fn active_tasks(&self, category: &str) -> Vec<&Task> {
        self.cx
            .st
            .active_by_category
            .get(category)
            .map(|s| s.iter().rev().filter_map(|id| self.cx.st.tasks.get(id)).collect())
            .unwrap_or_default()
    }
    /// A locale message without arguments, in the language of `who`.
    pub fn text_for(&self, who: &Identity, id: &str) -> String {
        let lang = self.cx.lang_of(who);
        self.cx.e.locales.text(&lang, id, &[])
    }
    /// Records that two tasks are related (both ways).
    pub fn link_related(&mut self, a: TaskId, b: TaskId) {
        for (x, y) in [(a, b), (b, a)] {
            if let Some(t) = self.cx.st.tasks.get_mut(&x)
                && !t.related.contains(&y)
            {
                t.related.push(y);
                self.cx.touch(x);
                self.cx.event(x, None, EventKind::LinkedRelated { to: y });
            }
        }
    }
    /// Tells everyone who follows `task` (reporter first), each in their language, the
    /// locale message `id` with `args`.
    pub fn tell_audience(&mut self, task: TaskId, id: &str, args: &[(&str, String)]) {
        let a: Vec<(&str, Arg<'_>)> = args.iter().map(|(k, v)| (*k, Arg::Str(v.as_str()))).collect();
        self.cx.tell_audience(task, |cx, lang| cx.t(lang, id, &a));
    }
    /// Posts a locale message in a room (a crew id, `public`, `triage`), in the thread of
    /// the task's post there.
    pub fn post_in_thread(&mut self, room: &str, task: TaskId, id: &str, args: &[(&str, String)]) {
        let lang = self.cx.e.cfg.room_language().to_owned();
        let a: Vec<(&str, Arg<'_>)> = args.iter().map(|(k, v)| (*k, Arg::Str(v.as_str()))).collect();
        let text = self.cx.e.locales.text(&lang, id, &a);
        let kind = if room == "public" { PostKind::Public } else { PostKind::Card };
        self.cx.room(room, Outbound { thread: Some(kind), ..self.cx.plain_room(room, text, Some(task)) });
    }
}

impl<'e, 's> Cx<'e, 's> {
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

    // ----- outgoing messages -------------------------------------------------------

    fn push(&mut self, channel: String, message: Outbound) {
        self.tx.batch.outbox.push(NewOutbox { channel, message });
    }
    fn send(&mut self, to: Destination, text: String, task: Option<TaskId>) {
        match &to {
            Destination::Direct(who) => {
                let ch = who.channel().to_owned();
                self.push(
                    ch,
                    Outbound { to, text, buttons: vec![], task, post: None, edit: None, thread: None, summary: None },
                );
            }
            Destination::Room(r) => {
                let r = r.clone();
                self.room(
                    &r,
                    Outbound { to, text, buttons: vec![], task, post: None, edit: None, thread: None, summary: None },
                );
            }
        }
    }
    fn plain_room(&self, room: &str, text: String, task: Option<TaskId>) -> Outbound {
        Outbound {
            to: Destination::Room(room.to_owned()),
            text,
            buttons: vec![],
            task,
            post: None,
            edit: None,
            thread: None,
            summary: None,
        }
    }
    /// A message to a room, on every channel that hosts it.
    fn room(&mut self, room: &str, out: Outbound) {
        let chans = self.e.room_channels.get(room).cloned().unwrap_or_default();
        if chans.is_empty() {
            warn!(room, "no channel hosts this room; message dropped");
        }
        for ch in chans {
            self.push(ch, out.clone());
        }
    }
    fn dm(&mut self, who: &Identity, text: String, task: Option<TaskId>) {
        self.send(Destination::Direct(who.clone()), text, task);
    }
    /// Answers the sender where they wrote: their direct chat, or the room (in the
    /// thread they wrote in, if any).
    fn answer(&mut self, inb: &Inbound, thread: Option<&PostRecord>, text: String) {
        match &inb.chat {
            Chat::Direct => self.dm(&inb.sender, text, None),
            Chat::Room(r) => {
                let r = r.clone();
                let mut out = self.plain_room(&r, text, None);
                if let Some(p) = thread.filter(|p| p.room == r) {
                    out.task = Some(p.task);
                    out.thread = Some(p.kind);
                }
                self.room(&r, out);
            }
            Chat::Unknown(_) => {}
        }
    }
    fn tell_audience(&mut self, task: TaskId, build: impl Fn(&Cx<'e, 's>, &str) -> String) {
        let Some(t) = self.st.tasks.get(&task) else { return };
        for who in t.audience() {
            let lang = self.lang_of(&who);
            let text = build(self, &lang);
            self.dm(&who, text, Some(task));
        }
    }

    // ----- rendering -----------------------------------------------------------------

    fn category_name(&self, t: &Task, lang: &str) -> String {
        match t.category.as_deref().and_then(|c| self.cfg().category(c)) {
            Some(c) => self.cfg().name_in(&c.name, lang).to_owned(),
            None => "?".into(),
        }
    }
    fn crew_name(&self, crew: Option<&str>, lang: &str) -> String {
        match crew.and_then(|c| self.cfg().crew(c)) {
            Some(c) => self.cfg().name_in(&c.name, lang).to_owned(),
            None => "?".into(),
        }
    }
    fn place_text(&self, p: &Place, public: bool) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &p.street {
            parts.push(s.clone());
        }
        if let Some(pt) = &p.point {
            // In public, ~100 m: enough to find a streetlight, not a front door.
            if public {
                if p.street.is_none() {
                    parts.push(format!("📍 {:.3}, {:.3}", pt.lat, pt.lon));
                }
            } else {
                parts.push(format!("📍 {:.5}, {:.5}", pt.lat, pt.lon));
            }
        }
        if parts.is_empty() { "—".into() } else { parts.join(" · ") }
    }
    fn status_label(&self, s: Status, lang: &str) -> String {
        let base = self.t(lang, &format!("status-{}", s.key()), &[]);
        match s.close_reason() {
            Some(r) => format!("{base} ({})", self.t(lang, &format!("close-{}", r.as_str()), &[])),
            None => base,
        }
    }
    fn elapsed(&self, ms: i64, lang: &str) -> String {
        let min = ms / 60_000;
        if min < 1 {
            self.t(lang, "elapsed-less-than-minute", &[])
        } else if min < 60 {
            self.t(lang, "elapsed-minutes", &[("minutes", Arg::Num(min))])
        } else if min < 24 * 60 {
            self.t(lang, "elapsed-hours", &[("hours", Arg::Num(min / 60)), ("minutes", Arg::Num(min % 60))])
        } else {
            self.t(lang, "elapsed-days", &[("days", Arg::Num(min / 1440)), ("hours", Arg::Num((min % 1440) / 60))])
        }
    }
    fn render_card(&self, t: &Task) -> String {
        let lang = self.room_lang();
        let id = t.id.0.to_string();
        let mut text = self.t(
            &lang,
            if t.visibility == Visibility::Private { "task-card-private" } else { "task-card" },
            &[
                ("task", Arg::Str(&id)),
                ("category", Arg::Str(&self.category_name(t, &lang))),
                ("place", Arg::Str(&self.place_text(&t.place, false))),
                ("description", Arg::Str(&ellipsize(&t.description, 600))),
            ],
        );
        for a in &t.attachments {
            text.push_str(&format!("\n📎 {}: {}", a.kind, a.reference));
        }
        text.push('\n');
        text.push_str(&self.t(&lang, "task-card-actions", &[("task", Arg::Str(&id))]));
        text
    }
    fn render_public(&self, t: &Task) -> String {
        let lang = self.room_lang();
        let id = t.id.0.to_string();
        self.t(
            &lang,
            "public-post",
            &[
                ("task", Arg::Str(&id)),
                ("category", Arg::Str(&self.category_name(t, &lang))),
                ("place", Arg::Str(&self.place_text(&t.place, true))),
                ("description", Arg::Str(&ellipsize(&t.description, 600))),
                ("status", Arg::Str(&self.status_label(t.status, &lang))),
                ("metoo", Arg::Num(t.me_too() as i64)),
            ],
        )
    }
    fn render_triage(&self, t: &Task) -> String {
        let lang = self.room_lang();
        let id = t.id.0.to_string();
        let cats: Vec<&str> = self.cfg().categories.iter().map(|c| c.id.as_str()).collect();
        self.t(
            &lang,
            "triage-card",
            &[
                ("task", Arg::Str(&id)),
                ("place", Arg::Str(&self.place_text(&t.place, false))),
                ("description", Arg::Str(&ellipsize(&t.description, 600))),
                ("categories", Arg::Str(&cats.join(", "))),
            ],
        )
    }
    fn card_buttons(&self, t: &Task) -> Vec<Button> {
        let lang = self.room_lang();
        vec![
            Button { label: self.t(&lang, "button-claim", &[]), data: format!("claim:{}", t.id.0) },
            Button { label: self.t(&lang, "button-done", &[]), data: format!("done:{}", t.id.0) },
            Button { label: self.t(&lang, "button-note", &[]), data: format!("note:{}", t.id.0) },
        ]
    }

    // ----- posts ---------------------------------------------------------------------

    fn post_card(&mut self, id: TaskId) {
        let Some(t) = self.st.tasks.get(&id) else { return };
        let Some(crew) = t.crew.clone() else { return };
        let out = Outbound {
            buttons: self.card_buttons(t),
            post: Some(PostKind::Card),
            summary: Some(self.summary("🆕", t)),
            ..self.plain_room(&crew, self.render_card(t), Some(id))
        };
        self.room(&crew, out);
    }
    fn post_public(&mut self, id: TaskId) {
        let Some(t) = self.st.tasks.get(&id) else { return };
        if t.visibility != Visibility::Public {
            return;
        }
        let lang = self.room_lang();
        let out = Outbound {
            buttons: vec![Button { label: self.t(&lang, "button-me-too", &[]), data: format!("metoo:{}", id.0) }],
            post: Some(PostKind::Public),
            summary: Some(self.summary("📢", t)),
            ..self.plain_room("public", self.render_public(t), Some(id))
        };
        self.room("public", out);
    }
    /// One line for a task in a grouped message: "🆕 #12 · Alumbrado público · calle Real 1 · «…»".
    fn summary(&self, icon: &str, t: &Task) -> String {
        let lang = self.room_lang();
        format!(
            "{icon} #{} · {} · {} · «{}»",
            t.id.0,
            self.category_name(t, &lang),
            self.place_text(&t.place, t.visibility == Visibility::Public),
            ellipsize(&t.description.replace('\n', " "), 90)
        )
    }
    /// Whether the task's public post was delivered on some channel.
    fn has_public_post(&self, id: TaskId) -> bool {
        self.e.room_channels.get("public").is_some_and(|chans| {
            chans
                .iter()
                .any(|ch| self.st.posts_by_task.contains_key(&(id, ch.clone(), "public".to_owned(), PostKind::Public)))
        })
    }
    fn edit_public(&mut self, id: TaskId) {
        let Some(t) = self.st.tasks.get(&id) else { return };
        if t.visibility != Visibility::Public {
            return;
        }
        let out =
            Outbound { edit: Some(PostKind::Public), ..self.plain_room("public", self.render_public(t), Some(id)) };
        self.room("public", out);
    }

    // ----- inbound -------------------------------------------------------------------

    fn process(&mut self, inb: &Inbound) {
        if let Chat::Unknown(chat) = &inb.chat {
            debug!(chat, "message in a room the config does not name; ignored");
            return;
        }
        let posts: Vec<PostRecord> = inb
            .reply_to
            .as_ref()
            .and_then(|r| self.st.posts_by_message.get(&(inb.channel.clone(), r.clone())))
            .cloned()
            .unwrap_or_default();
        // A grouped message carries several tasks: the one meant is the one named (#N).
        let thread = match posts.len() {
            0 => None,
            1 => posts.into_iter().next(),
            _ => {
                let named: Vec<i64> = match &inb.kind {
                    InboundKind::Text { text } => text
                        .split(|c: char| c.is_whitespace() || c == ',')
                        .filter_map(|w| command::task_ref(w).map(|(t, _)| t.0))
                        .collect(),
                    InboundKind::Button { data } => {
                        data.split_once(':').and_then(|(_, n)| n.parse().ok()).into_iter().collect()
                    }
                    _ => vec![],
                };
                match posts.into_iter().find(|p| named.contains(&p.task.0)) {
                    Some(p) => Some(p),
                    None => {
                        if matches!(inb.kind, InboundKind::Text { .. }) {
                            let m = self.t(&self.room_lang(), "ask-which-task", &[]);
                            self.answer(inb, None, m);
                        }
                        return;
                    }
                }
            }
        };
        match &inb.kind {
            InboundKind::Text { text } => self.on_text(inb, thread.as_ref(), text),
            InboundKind::Location { point } => self.on_location(inb, *point),
            InboundKind::Attachment { kind, reference, caption } => {
                let a = Attachment { kind: kind.clone(), reference: reference.clone(), channel: inb.channel.clone() };
                self.on_attachment(inb, a, caption.as_deref())
            }
            InboundKind::Button { data } => self.on_button(inb, thread.as_ref(), data),
            InboundKind::Reaction { key } => self.on_reaction(inb, thread.as_ref(), key),
            InboundKind::Joined | InboundKind::Left => {}
        }
    }

    fn on_text(&mut self, inb: &Inbound, thread: Option<&PostRecord>, raw: &str) {
        let text = clean(raw);
        let lang = self.classify_lang(&inb.sender, &text);
        let direct = inb.chat == Chat::Direct;
        if text.is_empty() {
            if direct {
                let m = self.t(&lang, "empty-message", &[]);
                self.answer(inb, thread, m);
            }
            return;
        }
        let len = text.chars().count();
        let max = self.cfg().engine.max_message_chars;
        if len > max {
            let m = self.t(&lang, "too-long", &[("length", Arg::Num(len as i64)), ("max", Arg::Num(max as i64))]);
            self.answer(inb, thread, m);
            return;
        }
        if let Some(cmd) = command::parse(&text) {
            let in_card_thread = thread.is_some_and(|p| p.kind != PostKind::Public);
            let meant = cmd.slash
                || cmd.task.is_some()
                || in_card_thread
                || (direct && matches!(cmd.verb, Verb::Help | Verb::Language) && words(&text).len() <= 2);
            if meant {
                self.on_command(inb, thread, &lang, cmd);
                return;
            }
        }
        for p in self.e.plugins.clone() {
            let mut pc = PluginCtx { cx: self.sub(), plugin: p.name() };
            if p.on_text(&mut pc, &inb.sender, &text) == Hook::Handled {
                return;
            }
        }
        match &inb.chat {
            Chat::Direct => {
                if text.starts_with('/') {
                    let m = self.t(&lang, "unknown-command", &[]);
                    self.answer(inb, thread, m);
                    return;
                }
                self.on_direct_text(&inb.sender, &lang, &text)
            }
            Chat::Room(r) if r == "public" => {
                if let Some(p) = thread {
                    self.on_public_reply(&inb.sender, p.task, &text);
                }
            }
            Chat::Room(_) if thread.is_some_and(|p| p.kind == PostKind::Card && self.may_act(&inb.sender, p.task)) => {
                // A crew member answering the card in words: a note for the resident.
                let cmd = Command { verb: Verb::Note, task: thread.map(|p| p.task), rest: text.clone(), slash: false };
                self.on_command(inb, thread, &lang, cmd);
            }
            Chat::Room(_) => {
                // "/foo", or a command word followed by something that is not a task number.
                let broken_ref = command::parse(&text).is_some_and(|c| {
                    c.task.is_none() && c.rest.starts_with(|ch: char| ch == '#' || ch.is_ascii_digit())
                });
                if text.starts_with('/') || broken_ref {
                    let m = self.t(&self.room_lang(), "unknown-command", &[]);
                    self.answer(inb, thread, m);
                }
            }
            Chat::Unknown(_) => {}
        }
    }

    /// A context borrowing this one, for a plugin hook.
    fn sub(&mut self) -> Cx<'e, '_> {
        Cx { e: self.e, st: &mut *self.st, tx: &mut *self.tx, now: self.now }
    }

    /// The language to answer in: the one the text is written in, else the one the
    /// resident used before, else the town's.
    fn classify_lang(&mut self, who: &Identity, text: &str) -> String {
        match self.e.classifier.detect_language(text) {
            Some(l) if self.e.locales.has_language(&l) => {
                if self.st.residents.get(who) != Some(&l) {
                    self.st.residents.insert(who.clone(), l.clone());
                    self.tx.batch.residents.push((who.clone(), l.clone()));
                }
                l
            }
            _ => self.lang_of(who),
        }
    }

    fn dialogue_of(&mut self, who: &Identity) -> Option<Dialogue> {
        let d = self.st.dialogues.get(who)?;
        let timeout = self.cfg().engine.dialogue_timeout_minutes;
        if d.since().plus_minutes(timeout) < self.now {
            self.end_dialogue(who);
            return None;
        }
        Some(d.clone())
    }
    fn set_dialogue(&mut self, who: &Identity, d: Dialogue) {
        self.st.dialogues.insert(who.clone(), d.clone());
        self.tx.batch.dialogues.push((who.clone(), Some(d)));
    }
    fn end_dialogue(&mut self, who: &Identity) {
        if self.st.dialogues.remove(who).is_some() {
            self.tx.batch.dialogues.push((who.clone(), None));
        }
    }

    fn is_cancel(&self, text: &str) -> bool {
        let f = fold(text.trim());
        let f = f.trim_matches(|c: char| !c.is_alphanumeric());
        self.cfg().language.values().flat_map(|h| h.cancel.iter()).any(|c| fold(c) == f)
    }
    fn is_greeting(&self, text: &str) -> bool {
        let ws = words(text);
        if ws.is_empty() || ws.len() > 4 {
            return false;
        }
        let greetings: Vec<Vec<String>> =
            self.cfg().language.values().flat_map(|h| h.greetings.iter()).map(|g| words(g)).collect();
        // Every word of the message belongs to some greeting.
        ws.iter().all(|w| greetings.iter().any(|g| g.contains(w)))
    }
    fn is_me_too(&self, text: &str) -> bool {
        let f = fold(text.trim());
        let f = f.trim_matches(|c: char| !c.is_alphanumeric() && c != '+').trim();
        self.cfg().language.values().flat_map(|h| h.me_too.iter()).any(|m| fold(m) == f)
    }

    fn on_direct_text(&mut self, sender: &Identity, lang: &str, text: &str) {
        if let Some(d) = self.dialogue_of(sender) {
            if self.is_cancel(text) {
                self.end_dialogue(sender);
                let m = self.t(lang, "dialogue-cancelled", &[]);
                self.dm(sender, m, None);
                return;
            }
            match d {
                Dialogue::Category { mut draft, choices, .. } => {
                    draft.language = lang.to_owned();
                    let n: Option<usize> = text.trim().trim_end_matches('.').parse().ok();
                    match n {
                        Some(0) => {
                            self.end_dialogue(sender);
                            self.create_task(sender, draft, None);
                        }
                        Some(n) if n >= 1 && n <= choices.len() => {
                            self.end_dialogue(sender);
                            self.with_category(sender, draft, &choices[n - 1]);
                        }
                        _ => {
                            // "es una farola": an answer in words that names a category.
                            if let Classification::Confident { category, .. } = self.e.classifier.classify(text) {
                                self.end_dialogue(sender);
                                // The answer says more about the problem: keep both.
                                draft.text = format!("{} — {}", draft.text, text);
                                if draft.place.street.is_none()
                                    && let Some((s, k)) = find_street(text)
                                {
                                    draft.place.street = Some(s);
                                    draft.place.street_key = Some(k);
                                }
                                self.with_category(sender, draft, &category);
                            } else {
                                let mut m =
                                    self.t(lang, "ask-category-bad-choice", &[("max", Arg::Num(choices.len() as i64))]);
                                m.push('\n');
                                m.push_str(&self.choices_text(lang, &choices));
                                self.dm(sender, m, None);
                            }
                        }
                    }
                }
                Dialogue::Location { mut draft, category, .. } => {
                    match find_street(text) {
                        Some((s, k)) => {
                            draft.place.street = Some(s);
                            draft.place.street_key = Some(k);
                        }
                        None => {
                            let s = ellipsize(text, 120);
                            draft.place.street_key = Some(words(&s).join(" "));
                            draft.place.street = Some(s);
                        }
                    }
                    self.end_dialogue(sender);
                    self.create_task(sender, draft, Some(&category));
                }
                Dialogue::Problem { mut draft, .. } => {
                    self.end_dialogue(sender);
                    draft.text = text.to_owned();
                    draft.language = lang.to_owned();
                    if draft.place.street.is_none()
                        && let Some((s, k)) = find_street(text)
                    {
                        draft.place.street = Some(s);
                        draft.place.street_key = Some(k);
                    }
                    self.report(sender, draft);
                }
            }
            return;
        }
        if self.is_greeting(text) {
            let m = self.t(lang, "help", &[("town", Arg::Str(&self.cfg().town.name))]);
            self.dm(sender, m, None);
            return;
        }
        let mut place = Place::default();
        if let Some((s, k)) = find_street(text) {
            place.street = Some(s);
            place.street_key = Some(k);
        }
        let draft = Draft { text: text.to_owned(), language: lang.to_owned(), place, attachments: vec![] };
        self.report(sender, draft);
    }

    fn choices_text(&self, lang: &str, choices: &[String]) -> String {
        let mut lines = Vec::new();
        for (i, c) in choices.iter().enumerate() {
            if let Some(cat) = self.cfg().category(c) {
                let n = (i + 1).to_string();
                lines.push(self.t(
                    lang,
                    "ask-category-choice",
                    &[("n", Arg::Str(&n)), ("category", Arg::Str(self.cfg().name_in(&cat.name, lang)))],
                ));
            }
        }
        lines.push(self.t(lang, "ask-category-other", &[]));
        lines.join("\n")
    }

    /// A complete report text: plugins, then the classifier.
    fn report(&mut self, sender: &Identity, draft: Draft) {
        for p in self.e.plugins.clone() {
            let mut pc = PluginCtx { cx: self.sub(), plugin: p.name() };
            match p.before_classification(&mut pc, sender, &draft) {
                Hook::Continue => {}
                Hook::Handled => return,
                Hook::Category(c) => {
                    if self.cfg().category(&c).is_some() {
                        self.with_category(sender, draft, &c);
                        return;
                    }
                    warn!(plugin = p.name(), category = %c, "plugin chose an unknown category");
                }
            }
        }
        match self.e.classifier.classify(&draft.text) {
            Classification::Confident { category, .. } => self.with_category(sender, draft, &category),
            other => {
                if self.cfg().engine.unclear == Unclear::Triage {
                    self.create_task(sender, draft, None);
                    return;
                }
                let choices: Vec<String> = match other {
                    Classification::Ambiguous { candidates } => candidates.into_iter().take(6).collect(),
                    _ => self.cfg().categories.iter().map(|c| c.id.clone()).collect(),
                };
                let lang = draft.language.clone();
                let mut m = self.t(&lang, "ask-category", &[]);
                m.push('\n');
                m.push_str(&self.choices_text(&lang, &choices));
                self.set_dialogue(sender, Dialogue::Category { draft, choices, since: self.now });
                self.dm(sender, m, None);
            }
        }
    }

    fn with_category(&mut self, sender: &Identity, draft: Draft, category: &str) {
        let Some(cat) = self.cfg().category(category) else {
            self.create_task(sender, draft, None);
            return;
        };
        if cat.needs_location && !draft.place.is_known() {
            let lang = draft.language.clone();
            let m = self.t(&lang, "ask-location", &[("category", Arg::Str(self.cfg().name_in(&cat.name, &lang)))]);
            self.set_dialogue(sender, Dialogue::Location { draft, category: category.to_owned(), since: self.now });
            self.dm(sender, m, None);
            return;
        }
        self.create_task(sender, draft, Some(category));
    }

    fn find_duplicate(&self, category: &str, place: &Place) -> Option<TaskId> {
        let window = self.cfg().engine.duplicate_window_minutes;
        let radius = self.cfg().engine.duplicate_radius_m;
        let cutoff = self.now.plus_minutes(-window);
        let mut candidates: Vec<TaskId> = Vec::new();
        if let Some(k) = &place.street_key
            && let Some(ids) = self.st.by_street.get(&(category.to_owned(), k.clone()))
        {
            candidates.extend(ids.iter().rev().take(16));
        }
        if let Some(p) = &place.point {
            let (x, y) = cell_of(p);
            for dx in -1..=1 {
                for dy in -1..=1 {
                    if let Some(ids) = self.st.by_cell.get(&(category.to_owned(), x + dx, y + dy)) {
                        candidates.extend(ids.iter().rev().take(16).filter(|id| {
                            self.st.tasks.get(id).and_then(|t| t.place.point).is_some_and(|q| q.distance_m(p) <= radius)
                        }));
                    }
                }
            }
        }
        // The newest active one within the window.
        candidates.sort();
        candidates.into_iter().rev().find(|id| self.st.tasks.get(id).is_some_and(|t| t.created_at >= cutoff))
    }

    fn create_task(&mut self, sender: &Identity, draft: Draft, category: Option<&str>) {
        let cat = category.and_then(|c| self.cfg().category(c));
        let dup = cat.filter(|c| c.duplicates).and_then(|c| self.find_duplicate(&c.id, &draft.place));
        self.st.last_id += 1;
        let id = TaskId(self.st.last_id);
        let lang = draft.language.clone();
        let mut task = Task {
            id,
            category: cat.map(|c| c.id.clone()),
            crew: cat.map(|c| c.crew.clone()),
            status: Status::Open,
            visibility: cat.map(|c| c.visibility).unwrap_or(Visibility::Private),
            description: draft.text,
            place: draft.place,
            attachments: draft.attachments,
            reporter: sender.clone(),
            reporter_public: false,
            language: lang.clone(),
            supporters: vec![],
            followers: vec![],
            duplicate_of: None,
            related: vec![],
            assignee: None,
            created_at: self.now,
            updated_at: self.now,
            acknowledged_at: None,
            started_at: None,
            resolved_at: None,
            closed_at: None,
        };
        self.event(id, Some(sender), EventKind::Created);
        let idn = id.0.to_string();
        if let Some(orig) = dup {
            task.status = Status::Closed(CloseReason::Duplicate);
            task.duplicate_of = Some(orig);
            task.closed_at = Some(self.now);
            self.st.tasks.insert(id, task);
            self.touch(id);
            self.event(id, None, EventKind::LinkedDuplicate { of: orig });
            if let Some(o) = self.st.tasks.get_mut(&orig) {
                if *sender != o.reporter && !o.supporters.contains(sender) {
                    o.supporters.push(sender.clone());
                }
                if *sender != o.reporter && !o.followers.contains(sender) {
                    o.followers.push(sender.clone());
                }
                o.updated_at = self.now;
            }
            self.touch(orig);
            self.event(orig, Some(sender), EventKind::MeToo);
            let Some(o) = self.st.tasks.get(&orig) else { return };
            let (on, cname, status) =
                (orig.0.to_string(), self.category_name(o, &lang), self.status_label(o.status, &lang));
            let crew = o.crew.clone();
            let m = self.t(
                &lang,
                "ack-duplicate",
                &[
                    ("task", Arg::Str(&idn)),
                    ("original", Arg::Str(&on)),
                    ("category", Arg::Str(&cname)),
                    ("status", Arg::Str(&status)),
                ],
            );
            self.dm(sender, m, Some(orig));
            self.edit_public(orig);
            if let Some(crew) = crew {
                let rl = self.room_lang();
                let count = self.st.tasks.get(&orig).map(|t| t.me_too() as i64 + 1).unwrap_or(1);
                let m = self.t(
                    &rl,
                    "crew-duplicate-linked",
                    &[("task", Arg::Str(&idn)), ("original", Arg::Str(&on)), ("count", Arg::Num(count))],
                );
                let out = Outbound { thread: Some(PostKind::Card), ..self.plain_room(&crew, m, Some(orig)) };
                self.room(&crew, out);
            }
            return;
        }
        self.st.tasks.insert(id, task);
        self.touch(id);
        let Some(t) = self.st.tasks.get(&id) else { return };
        let t = t.clone();
        if t.crew.is_some() {
            let crew = self.crew_name(t.crew.as_deref(), &lang);
            let m = self.t(
                &lang,
                "ack-created",
                &[
                    ("task", Arg::Str(&idn)),
                    ("category", Arg::Str(&self.category_name(&t, &lang))),
                    ("crew", Arg::Str(&crew)),
                ],
            );
            self.dm(sender, m, Some(id));
            self.post_card(id);
            self.post_public(id);
        } else {
            let m = self.t(&lang, "ack-triage", &[("task", Arg::Str(&idn))]);
            self.dm(sender, m, Some(id));
            let out = Outbound {
                post: Some(PostKind::Triage),
                ..self.plain_room("triage", self.render_triage(&t), Some(id))
            };
            self.room("triage", out);
        }
        info!(task = id.0, category = ?t.category, "task created");
        for p in self.e.plugins.clone() {
            let mut pc = PluginCtx { cx: self.sub(), plugin: p.name() };
            p.on_task_created(&mut pc, id);
        }
    }

    fn recent_own_task(&self, who: &Identity) -> Option<TaskId> {
        let id = *self.st.last_task_of.get(who)?;
        let t = self.st.tasks.get(&id)?;
        let window = self.cfg().engine.attach_window_minutes;
        (t.status.is_active() && t.created_at.plus_minutes(window) >= self.now).then_some(id)
    }

    fn on_location(&mut self, inb: &Inbound, point: GeoPoint) {
        if inb.chat != Chat::Direct {
            return;
        }
        let sender = &inb.sender;
        let lang = self.lang_of(sender);
        if !point.is_valid() {
            let m = self.t(&lang, "empty-message", &[]);
            self.dm(sender, m, None);
            return;
        }
        match self.dialogue_of(sender) {
            Some(Dialogue::Location { mut draft, category, .. }) => {
                draft.place.point = Some(point);
                self.end_dialogue(sender);
                self.create_task(sender, draft, Some(&category));
            }
            Some(Dialogue::Problem { mut draft, since }) => {
                draft.place.point = Some(point);
                self.set_dialogue(sender, Dialogue::Problem { draft, since });
                let m = self.t(&lang, "ask-problem-for-location", &[]);
                self.dm(sender, m, None);
            }
            Some(Dialogue::Category { mut draft, choices, since }) => {
                draft.place.point = Some(point);
                let mut m = self.t(&lang, "ask-category", &[]);
                m.push('\n');
                m.push_str(&self.choices_text(&lang, &choices));
                self.set_dialogue(sender, Dialogue::Category { draft, choices, since });
                self.dm(sender, m, None);
            }
            None => match self
                .recent_own_task(sender)
                .filter(|id| self.st.tasks.get(id).is_some_and(|t| t.place.point.is_none()))
            {
                Some(id) => {
                    if let Some(t) = self.st.tasks.get_mut(&id) {
                        t.place.point = Some(point);
                        t.updated_at = self.now;
                    }
                    self.touch(id);
                    self.event(id, Some(sender), EventKind::Located);
                    let m = self.t(&lang, "location-added", &[("task", Arg::Str(&id.0.to_string()))]);
                    self.dm(sender, m, Some(id));
                    self.edit_public(id);
                    self.crew_thread_note(id, format!("📍 {:.5}, {:.5}", point.lat, point.lon));
                }
                None => {
                    let draft = Draft {
                        text: String::new(),
                        language: lang.clone(),
                        place: Place { point: Some(point), ..Place::default() },
                        attachments: vec![],
                    };
                    self.set_dialogue(sender, Dialogue::Problem { draft, since: self.now });
                    let m = self.t(&lang, "ask-problem-for-location", &[]);
                    self.dm(sender, m, None);
                }
            },
        }
    }

    /// A line in the thread of the task's card in its crew room.
    fn crew_thread_note(&mut self, id: TaskId, text: String) {
        let Some(crew) = self.st.tasks.get(&id).and_then(|t| t.crew.clone()) else { return };
        let out =
            Outbound { thread: Some(PostKind::Card), ..self.plain_room(&crew, format!("#{} {text}", id.0), Some(id)) };
        self.room(&crew, out);
    }

    fn on_attachment(&mut self, inb: &Inbound, a: Attachment, caption: Option<&str>) {
        if inb.chat != Chat::Direct {
            return;
        }
        let sender = &inb.sender;
        let caption = caption.map(clean).filter(|c| !c.is_empty());
        if let Some(c) = caption {
            let lang = self.classify_lang(sender, &c);
            let mut place = Place::default();
            if let Some((s, k)) = find_street(&c) {
                place.street = Some(s);
                place.street_key = Some(k);
            }
            let draft = Draft { text: c, language: lang, place, attachments: vec![a] };
            self.report(sender, draft);
            return;
        }
        let lang = self.lang_of(sender);
        match self.dialogue_of(sender) {
            Some(Dialogue::Location { mut draft, category, since }) => {
                draft.attachments.push(a);
                let m = self.t(&lang, "ask-location", &[("category", Arg::Str(&category))]);
                self.set_dialogue(sender, Dialogue::Location { draft, category, since });
                self.dm(sender, m, None);
            }
            Some(Dialogue::Problem { mut draft, since }) | Some(Dialogue::Category { mut draft, since, .. }) => {
                draft.attachments.push(a);
                self.set_dialogue(sender, Dialogue::Problem { draft, since });
                let m = self.t(&lang, "ask-problem-for-attachment", &[]);
                self.dm(sender, m, None);
            }
            None => match self.recent_own_task(sender) {
                Some(id) => {
                    let line = format!("📎 {}: {}", a.kind, a.reference);
                    if let Some(t) = self.st.tasks.get_mut(&id) {
                        t.attachments.push(a);
                        t.updated_at = self.now;
                    }
                    self.touch(id);
                    self.event(id, Some(sender), EventKind::Attached);
                    let m = self.t(&lang, "attachment-added", &[("task", Arg::Str(&id.0.to_string()))]);
                    self.dm(sender, m, Some(id));
                    self.crew_thread_note(id, line);
                }
                None => {
                    let draft = Draft {
                        text: String::new(),
                        language: lang.clone(),
                        place: Place::default(),
                        attachments: vec![a],
                    };
                    self.set_dialogue(sender, Dialogue::Problem { draft, since: self.now });
                    let m = self.t(&lang, "ask-problem-for-attachment", &[]);
                    self.dm(sender, m, None);
                }
            },
        }
    }

    fn on_button(&mut self, inb: &Inbound, thread: Option<&PostRecord>, data: &str) {
        let Some((action, n)) = data.split_once(':') else { return };
        let Ok(n) = n.parse::<i64>() else { return };
        let task = TaskId(n);
        let lang = self.lang_of(&inb.sender);
        let verb = match action {
            "claim" => Verb::Claim,
            "done" => Verb::Done,
            "ack" => Verb::Ack,
            "metoo" => {
                self.me_too(&inb.sender, task);
                return;
            }
            "note" if self.may_act(&inb.sender, task) => {
                // A note is text: say how to write it.
                let m = self.t(&self.room_lang(), "note-how", &[("task", Arg::Str(&n.to_string()))]);
                self.answer(inb, thread, m);
                return;
            }
            "note" => Verb::Note,
            _ => return,
        };
        self.on_command(inb, thread, &lang, Command { verb, task: Some(task), rest: String::new(), slash: true });
    }

    fn on_reaction(&mut self, inb: &Inbound, thread: Option<&PostRecord>, key: &str) {
        let Some(p) = thread else { return };
        let key = key.trim_end_matches('\u{FE0F}');
        let verb = match key {
            "✅" | "✔" | "☑" => Verb::Done,
            "👀" => Verb::Claim,
            "👍" | "➕" if p.kind == PostKind::Public => {
                self.me_too(&inb.sender, p.task);
                return;
            }
            _ => return,
        };
        if p.kind == PostKind::Public {
            return;
        }
        // A reaction from someone without the right changes nothing, silently: a
        // refusal in the crew room for every stray emoji would be noise.
        if !self.may_act(&inb.sender, p.task) {
            debug!(sender = %inb.sender, "reaction from someone who may not act; ignored");
            return;
        }
        let lang = self.lang_of(&inb.sender);
        self.on_command(inb, Some(p), &lang, Command { verb, task: Some(p.task), rest: String::new(), slash: true });
    }

    fn may_act(&self, who: &Identity, task: TaskId) -> bool {
        if self.cfg().is_dispatcher(who) {
            return true;
        }
        let Some(t) = self.st.tasks.get(&task) else { return false };
        t.crew.as_deref().is_some_and(|c| self.cfg().crews_of(who).contains(&c))
    }

    fn on_command(&mut self, inb: &Inbound, thread: Option<&PostRecord>, lang: &str, cmd: Command) {
        let sender = &inb.sender;
        // Crews and dispatchers get room-language answers in rooms.
        let lang = if matches!(inb.chat, Chat::Room(_)) { self.room_lang() } else { lang.to_owned() };
        let lang = lang.as_str();
        match cmd.verb {
            Verb::Help => {
                let m = self.t(lang, "help", &[("town", Arg::Str(&self.cfg().town.name))]);
                self.answer(inb, thread, m);
                return;
            }
            Verb::Language => {
                let want = fold(cmd.rest.trim());
                if self.cfg().town.languages.contains(&want) {
                    self.st.residents.insert(sender.clone(), want.clone());
                    self.tx.batch.residents.push((sender.clone(), want.clone()));
                    let m = self.t(&want, "language-set", &[]);
                    self.answer(inb, thread, m);
                } else {
                    let m = self.t(lang, "unknown-command", &[]);
                    self.answer(inb, thread, m);
                }
                return;
            }
            _ => {}
        }
        let Some(id) = cmd.task.or(thread.map(|p| p.task)) else {
            let m = self.t(lang, "unknown-command", &[]);
            self.answer(inb, thread, m);
            return;
        };
        let ids = id.0.to_string();
        let Some(task) = self.st.tasks.get(&id).cloned() else {
            let m = self.t(lang, "unknown-task", &[("task", Arg::Str(&ids))]);
            self.answer(inb, thread, m);
            return;
        };
        let dispatcher = self.cfg().is_dispatcher(sender);
        if cmd.verb == Verb::Status {
            let insider = dispatcher
                || task.audience().contains(sender)
                || task.crew.as_deref().is_some_and(|c| self.cfg().crews_of(sender).contains(&c));
            let m = if task.visibility == Visibility::Private && !insider {
                self.t(lang, "task-status-private", &[("task", Arg::Str(&ids))])
            } else {
                self.t(
                    lang,
                    "task-status",
                    &[
                        ("task", Arg::Str(&ids)),
                        ("category", Arg::Str(&self.category_name(&task, lang))),
                        ("status", Arg::Str(&self.status_label(task.status, lang))),
                        (
                            "place",
                            Arg::Str(&self.place_text(&task.place, task.visibility == Visibility::Public && !insider)),
                        ),
                    ],
                )
            };
            self.answer(inb, thread, m);
            return;
        }
        if cmd.verb.is_dispatcher_action() {
            if !dispatcher {
                let m = self.t(lang, "refuse-not-dispatcher", &[]);
                self.answer(inb, thread, m);
                return;
            }
            self.dispatcher_command(inb, thread, lang, cmd.verb, &task, &cmd.rest);
            return;
        }
        // Crew actions.
        if !self.may_act(sender, id) {
            let my_crews = self.cfg().crews_of(sender);
            let m = if my_crews.is_empty() {
                self.t(lang, "refuse-not-crew", &[])
            } else {
                let crew = self.crew_name(task.crew.as_deref(), lang);
                self.t(lang, "refuse-other-crew", &[("task", Arg::Str(&ids)), ("crew", Arg::Str(&crew))])
            };
            info!(sender = %sender, task = id.0, verb = ?cmd.verb, "refused");
            self.answer(inb, thread, m);
            return;
        }
        let note = (!cmd.rest.is_empty()).then(|| cmd.rest.clone());
        let target = match cmd.verb {
            Verb::Ack => Status::Acknowledged,
            Verb::Claim => Status::InProgress,
            Verb::Done => Status::Resolved,
            Verb::Reopen => Status::Open,
            Verb::Close => {
                let first = words(&cmd.rest).into_iter().next().unwrap_or_default();
                let reason = match first.as_str() {
                    "spam" => CloseReason::Spam,
                    "unable" | "imposible" | "no" => CloseReason::Unable,
                    "duplicate" | "duplicado" | "dup" => CloseReason::Duplicate,
                    _ => CloseReason::Other,
                };
                Status::Closed(reason)
            }
            Verb::Note => {
                let Some(text) = note else {
                    let m = self.t(lang, "unknown-command", &[]);
                    self.answer(inb, thread, m);
                    return;
                };
                self.event(id, Some(sender), EventKind::Note { text: text.clone() });
                if let Some(t) = self.st.tasks.get_mut(&id) {
                    t.updated_at = self.now;
                }
                self.touch(id);
                let crew = self.crew_name(task.crew.as_deref(), lang);
                self.tell_audience(id, |cx, l| {
                    let crew = cx.crew_name(task.crew.as_deref(), l);
                    cx.t(
                        l,
                        "notify-note",
                        &[("task", Arg::Str(&ids)), ("crew", Arg::Str(&crew)), ("note", Arg::Str(&text))],
                    )
                });
                let m = self.t(lang, "crew-note-saved", &[("task", Arg::Str(&ids)), ("crew", Arg::Str(&crew))]);
                self.answer(inb, thread, m);
                return;
            }
            _ => return,
        };
        let allowed = match target {
            Status::Acknowledged => task.status == Status::Open,
            Status::InProgress => matches!(task.status, Status::Open | Status::Acknowledged),
            Status::Resolved | Status::Closed(_) => task.status.is_active(),
            Status::Open => !task.status.is_active(),
        };
        if !allowed {
            let m = self.t(
                lang,
                "bad-transition",
                &[("task", Arg::Str(&ids)), ("status", Arg::Str(&self.status_label(task.status, lang)))],
            );
            self.answer(inb, thread, m);
            return;
        }
        if target == Status::InProgress
            && let Some(t) = self.st.tasks.get_mut(&id)
        {
            t.assignee = Some(sender.clone());
        }
        self.set_status(id, target, Some(sender), note);
        // Confirm where it was said, and in the crew room if it was said elsewhere.
        let rl = self.room_lang();
        let crew_room = task.crew.clone();
        let said_in_crew_room = matches!(&inb.chat, Chat::Room(r) if Some(r) == crew_room.as_ref());
        if let Some(crew) = crew_room.filter(|_| !said_in_crew_room) {
            let m = self.confirm_text(id, &rl, display_name(inb));
            let out = Outbound { thread: Some(PostKind::Card), ..self.plain_room(&crew, m, Some(id)) };
            self.room(&crew, out);
        }
        let m = self.confirm_text(id, lang, display_name(inb));
        self.answer(inb, thread, m);
    }

    /// "#N → status (who)": what a crew or dispatcher is told after acting.
    fn confirm_text(&self, id: TaskId, lang: &str, who: &str) -> String {
        let st = self.st.tasks.get(&id).map(|t| t.status).unwrap_or(Status::Open);
        let ids = id.0.to_string();
        self.t(
            lang,
            "crew-confirm",
            &[("task", Arg::Str(&ids)), ("status", Arg::Str(&self.status_label(st, lang))), ("who", Arg::Str(who))],
        )
    }

    fn dispatcher_command(
        &mut self,
        inb: &Inbound,
        thread: Option<&PostRecord>,
        lang: &str,
        verb: Verb,
        task: &Task,
        rest: &str,
    ) {
        let id = task.id;
        let ids = id.0.to_string();
        match verb {
            Verb::Assign => {
                let want = fold(rest.trim());
                let by_name = self.cfg().categories.iter().find(|c| {
                    c.id == want
                        || c.name.values().any(|n| fold(n) == want)
                        || (!want.is_empty() && c.name.values().any(|n| fold(n).starts_with(&want)))
                });
                // Else a keyword: "asignar #3 limpieza", "assign #3 pothole".
                let cat = by_name.or_else(|| match self.e.classifier.classify(rest) {
                    Classification::Confident { category, .. } => self.cfg().category(&category),
                    _ => None,
                });
                let Some(cat) = cat else {
                    let cats: Vec<&str> = self.cfg().categories.iter().map(|c| c.id.as_str()).collect();
                    let m = self.t(lang, "unknown-category", &[("categories", Arg::Str(&cats.join(", ")))]);
                    self.answer(inb, thread, m);
                    return;
                };
                let was_public = task.visibility == Visibility::Public && task.crew.is_some();
                if let Some(t) = self.st.tasks.get_mut(&id) {
                    t.category = Some(cat.id.clone());
                    t.crew = Some(cat.crew.clone());
                    t.visibility = cat.visibility;
                    t.updated_at = self.now;
                }
                self.touch(id);
                self.event(
                    id,
                    Some(&inb.sender),
                    EventKind::Assigned { category: Some(cat.id.clone()), crew: Some(cat.crew.clone()) },
                );
                self.post_card(id);
                if cat.visibility == Visibility::Public {
                    if was_public || self.has_public_post(id) {
                        self.edit_public(id);
                    } else {
                        self.post_public(id);
                    }
                }
                self.tell_audience(id, |cx, l| {
                    let t = cx.st.tasks.get(&id);
                    let (c, crew) = match t {
                        Some(t) => (cx.category_name(t, l), cx.crew_name(t.crew.as_deref(), l)),
                        None => (String::new(), String::new()),
                    };
                    cx.t(
                        l,
                        "notify-assigned",
                        &[("task", Arg::Str(&ids)), ("category", Arg::Str(&c)), ("crew", Arg::Str(&crew))],
                    )
                });
                let m = self.confirm_text(id, lang, display_name(inb));
                let m = format!("{m} → {}", self.crew_name(Some(&cat.crew), lang));
                self.answer(inb, thread, m);
            }
            Verb::Duplicate => {
                let Some((orig, _)) = command::task_ref(rest) else {
                    let m = self.t(lang, "unknown-command", &[]);
                    self.answer(inb, thread, m);
                    return;
                };
                if orig == id || !self.st.tasks.contains_key(&orig) {
                    let m = self.t(lang, "unknown-task", &[("task", Arg::Str(&orig.0.to_string()))]);
                    self.answer(inb, thread, m);
                    return;
                }
                if !task.status.is_active() {
                    let m = self.t(
                        lang,
                        "bad-transition",
                        &[("task", Arg::Str(&ids)), ("status", Arg::Str(&self.status_label(task.status, lang)))],
                    );
                    self.answer(inb, thread, m);
                    return;
                }
                if let Some(t) = self.st.tasks.get_mut(&id) {
                    t.duplicate_of = Some(orig);
                }
                let people = task.audience();
                if let Some(o) = self.st.tasks.get_mut(&orig) {
                    for p in people {
                        if p != o.reporter && !o.followers.contains(&p) {
                            o.followers.push(p.clone());
                        }
                        if p != o.reporter && !o.supporters.contains(&p) {
                            o.supporters.push(p);
                        }
                    }
                    o.updated_at = self.now;
                }
                self.touch(orig);
                self.event(id, Some(&inb.sender), EventKind::LinkedDuplicate { of: orig });
                self.set_status(
                    id,
                    Status::Closed(CloseReason::Duplicate),
                    Some(&inb.sender),
                    Some(format!("#{}", orig.0)),
                );
                self.edit_public(orig);
                let m = self.confirm_text(id, lang, display_name(inb));
                self.answer(inb, thread, m);
            }
            Verb::Public | Verb::Private => {
                let to = if verb == Verb::Public { Visibility::Public } else { Visibility::Private };
                if task.visibility != to {
                    if to == Visibility::Private {
                        // Replace the public post's text before the task goes private.
                        let rl = self.room_lang();
                        let text = self.t(&rl, "public-withdrawn", &[("task", Arg::Str(&ids))]);
                        let out =
                            Outbound { edit: Some(PostKind::Public), ..self.plain_room("public", text, Some(id)) };
                        if self.has_public_post(id) {
                            self.room("public", out);
                        }
                    }
                    if let Some(t) = self.st.tasks.get_mut(&id) {
                        t.visibility = to;
                        t.updated_at = self.now;
                    }
                    self.touch(id);
                    self.event(id, Some(&inb.sender), EventKind::Visibility { to });
                    if to == Visibility::Public && task.crew.is_some() {
                        if self.has_public_post(id) {
                            self.edit_public(id);
                        } else {
                            self.post_public(id);
                        }
                    }
                }
                let m = self.confirm_text(id, lang, display_name(inb));
                self.answer(inb, thread, m);
            }
            _ => {}
        }
    }

    /// Moves a task to `to`, records it, tells everyone who follows it and updates the
    /// public post.
    fn set_status(&mut self, id: TaskId, to: Status, actor: Option<&Identity>, note: Option<String>) {
        let now = self.now;
        let Some(t) = self.st.tasks.get_mut(&id) else { return };
        let from = t.status;
        t.status = to;
        t.updated_at = now;
        match to {
            Status::Acknowledged => t.acknowledged_at = Some(now),
            Status::InProgress => {
                t.acknowledged_at.get_or_insert(now);
                t.started_at = Some(now);
            }
            Status::Resolved => t.resolved_at = Some(now),
            Status::Closed(_) => t.closed_at = Some(now),
            Status::Open => {
                t.resolved_at = None;
                t.closed_at = None;
            }
        }
        let t = t.clone();
        self.st.index_task(&t);
        self.touch(id);
        self.event(id, actor, EventKind::Status { from, to, note: note.clone() });
        let ids = id.0.to_string();
        let elapsed_ms = now.since(t.created_at);
        self.tell_audience(id, |cx, l| {
            let cat = cx.category_name(&t, l);
            let crew = cx.crew_name(t.crew.as_deref(), l);
            let args_base = [("task", Arg::Str(&ids)), ("category", Arg::Str(&cat)), ("crew", Arg::Str(&crew))];
            let mut m = match to {
                Status::Acknowledged => cx.t(l, "notify-acknowledged", &args_base),
                Status::InProgress => cx.t(l, "notify-in-progress", &args_base),
                Status::Resolved => {
                    let el = cx.elapsed(elapsed_ms, l);
                    cx.t(
                        l,
                        "notify-resolved",
                        &[
                            ("task", Arg::Str(&ids)),
                            ("category", Arg::Str(&cat)),
                            ("crew", Arg::Str(&crew)),
                            ("elapsed", Arg::Str(&el)),
                        ],
                    )
                }
                Status::Closed(r) => {
                    let reason = cx.t(l, &format!("close-{}", r.as_str()), &[]);
                    cx.t(
                        l,
                        "notify-closed",
                        &[("task", Arg::Str(&ids)), ("category", Arg::Str(&cat)), ("reason", Arg::Str(&reason))],
                    )
                }
                Status::Open => cx.t(l, "notify-reopened", &args_base),
            };
            if let Some(n) = &note {
                m.push('\n');
                m.push_str(&cx.t(l, "note-line", &[("note", Arg::Str(n))]));
            }
            m
        });
        self.edit_public(id);
        for p in self.e.plugins.clone() {
            let mut pc = PluginCtx { cx: self.sub(), plugin: p.name() };
            p.on_status_change(&mut pc, id, from, to);
        }
    }

    fn me_too(&mut self, who: &Identity, id: TaskId) {
        let Some(t) = self.st.tasks.get_mut(&id) else { return };
        if t.visibility != Visibility::Public || *who == t.reporter || t.supporters.contains(who) {
            return;
        }
        if !t.status.is_active() {
            // Nothing left to support: say how it ended instead.
            let t = t.clone();
            let lang = self.lang_of(who);
            let ids = id.0.to_string();
            let m = self.t(
                &lang,
                "task-status",
                &[
                    ("task", Arg::Str(&ids)),
                    ("category", Arg::Str(&self.category_name(&t, &lang))),
                    ("status", Arg::Str(&self.status_label(t.status, &lang))),
                    ("place", Arg::Str(&self.place_text(&t.place, true))),
                ],
            );
            self.dm(who, m, Some(id));
            return;
        }
        t.supporters.push(who.clone());
        if !t.followers.contains(who) {
            t.followers.push(who.clone());
        }
        t.updated_at = self.now;
        let active = t.status.is_active();
        self.touch(id);
        self.event(id, Some(who), EventKind::MeToo);
        if active {
            self.edit_public(id);
        }
        let lang = self.lang_of(who);
        let m = self.t(&lang, "notify-me-too-thanks", &[("task", Arg::Str(&id.0.to_string()))]);
        self.dm(who, m, Some(id));
    }

    fn on_public_reply(&mut self, sender: &Identity, id: TaskId, text: &str) {
        if self.is_me_too(text) {
            self.me_too(sender, id);
            return;
        }
        let Some(t) = self.st.tasks.get(&id) else { return };
        if t.visibility != Visibility::Public {
            return;
        }
        let reporter = t.reporter.clone();
        self.event(id, Some(sender), EventKind::Comment { text: text.to_owned() });
        if let Some(t) = self.st.tasks.get_mut(&id) {
            t.updated_at = self.now;
        }
        self.touch(id);
        if *sender == reporter {
            return;
        }
        // Only the reporter hears neighbours' answers; the neighbour is not told who that is.
        let lang = self.lang_of(&reporter);
        let m = self.t(
            &lang,
            "notify-comment",
            &[("task", Arg::Str(&id.0.to_string())), ("text", Arg::Str(&ellipsize(text, 1000)))],
        );
        self.dm(&reporter, m, Some(id));
    }
}

/// How to call the sender in a crew room: their platform name, else their id there.
fn display_name(inb: &Inbound) -> &str {
    inb.sender_name.as_deref().filter(|n| !n.trim().is_empty()).unwrap_or(inb.sender.id())
}
