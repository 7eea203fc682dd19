//! The outbox dispatcher: delivers what the engine committed, per channel, oldest first,
//! within the platform's limits, with retries and backoff, and records the platform ids
//! it gets back.
//!
//! Limits are kept here, once for every channel: a chat that must wait holds back its
//! own later messages, not anyone else's. When new tasks for one room arrive faster than
//! the room may receive messages (Telegram: ~20 a minute in a group), the room's backlog
//! is sent as one grouped message listing the tasks, each with its buttons; when the rush
//! is over, tasks go out one post each again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use tokio::time::Instant;
use tracing::{Instrument, debug, error, info, warn};

use crate::channel::PostKind;
use crate::channel::{Channel, ChannelError, Destination, Inbound, Inbox, Limits, Outgoing};
use crate::engine::{Engine, EngineError, GroupLine};
use crate::model::{TaskId, Timestamp};
use crate::store::{Chats, DeliveryOutcome, OutboxRow, PostRecord, StoreError};

/// While a platform is unreachable, how often the oldest message is tried again.
const PROBE_FIRST: Duration = Duration::from_secs(1);
const PROBE_MAX: Duration = Duration::from_secs(5);
/// After an outage the rooms' track tries the platform this long after the residents'
/// track may: a resident's answer is the first message out, not a room post (and, on a
/// store that cannot record, the one sent before sending stops).
const ROOMS_PROBE_AFTER: Duration = Duration::from_secs(1);
const BATCH: u32 = 500;
/// How often the runtime runs the engine's due timers (a reminder or a time-out is at
/// most this late).
pub const TICK_EVERY: Duration = Duration::from_secs(5);
/// Messages one chat sends in a round before the round ends and the outbox is read
/// again: a round waits for its slowest chat, so a long room backlog must not keep a
/// resident's new acknowledgement waiting behind it.
const LANE_TURN: usize = 3;
/// From how many waiting answers to one resident they go as one message, and at most how many.
const DIRECT_BATCH_FROM: usize = 3;
const DIRECT_BATCH: usize = 10;

/// How many chats a delivery loop for `chats` sends to at once: residents' direct chats
/// as many as the channel allows, rooms (crews, public, triage) half as many, so that
/// they leave the platform room for residents' answers.
fn at_once(chats: Chats, concurrent_chats: usize) -> usize {
    match chats {
        Chats::Rooms => (concurrent_chats / 2).max(1),
        _ => concurrent_chats.max(1),
    }
}

/// A direct message that may share a message with others: plain text, no buttons, not
/// an edit, not a withdrawal, not the last message to an erased person, not unasked.
fn plain_direct(r: &OutboxRow) -> bool {
    let m = &r.message;
    matches!(m.to, Destination::Direct(_))
        && m.edit.is_none()
        && m.buttons.is_empty()
        && !m.withdraw
        && !m.farewell
        && !m.only_if_open
        && m.post.is_none()
}
/// A grouped message stays under this many characters (Telegram allows 4096).
const DIGEST_CHARS: usize = 3_500;
const DIGEST_TASKS: usize = 30;

/// Sliding windows of what was sent on one channel.
#[derive(Default)]
struct Limiter {
    limits: Limits,
    global: VecDeque<Instant>,
    last_to: HashMap<Destination, Instant>,
    rooms: HashMap<String, VecDeque<Instant>>,
    /// The platform said "too many requests": nothing goes before this.
    hold_until: Option<Instant>,
}

impl Limiter {
    fn prune(&mut self, now: Instant) {
        while self.global.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            self.global.pop_front();
        }
        for w in self.rooms.values_mut() {
            while w.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
                w.pop_front();
            }
        }
        if let Some(gap) = self.limits.per_chat_interval {
            self.last_to.retain(|_, t| now.duration_since(*t) < gap);
        }
    }

    /// (wait for the channel as a whole, wait for this destination).
    fn wait(&mut self, to: &Destination, now: Instant) -> (Duration, Duration) {
        self.prune(now);
        let mut global = Duration::ZERO;
        if let Some(n) = self.limits.per_second
            && self.global.len() >= n as usize
            && let Some(first) = self.global.front()
        {
            global = Duration::from_secs(1).saturating_sub(now.duration_since(*first));
        }
        if let Some(until) = self.hold_until {
            global = global.max(until.saturating_duration_since(now));
        }
        let mut dest = Duration::ZERO;
        if let (Some(gap), Some(last)) = (self.limits.per_chat_interval, self.last_to.get(to)) {
            dest = gap.saturating_sub(now.duration_since(*last));
        }
        if let (Destination::Room(r), Some(n)) = (to, self.limits.per_room_per_minute)
            && let Some(w) = self.rooms.get(r)
            && w.len() >= n as usize
            && let Some(first) = w.front()
        {
            dest = dest.max(Duration::from_secs(60).saturating_sub(now.duration_since(*first)));
        }
        (global, dest)
    }

    fn record(&mut self, to: &Destination, now: Instant) {
        if self.limits.per_second.is_some() {
            self.global.push_back(now);
        }
        if self.limits.per_chat_interval.is_some() {
            self.last_to.insert(to.clone(), now);
        }
        if let (Destination::Room(r), Some(_)) = (to, self.limits.per_room_per_minute) {
            self.rooms.entry(r.clone()).or_default().push_back(now);
        }
    }

    /// How many more messages the room may get in the current minute (None: no limit).
    fn room_budget(&mut self, room: &str, now: Instant) -> Option<usize> {
        self.prune(now);
        let n = self.limits.per_room_per_minute? as usize;
        Some(n.saturating_sub(self.rooms.get(room).map_or(0, VecDeque::len)))
    }
}

/// Rows sent as one message: a rush of new posts for a limited room (one summary line
/// each, with their buttons, remembered so each line can be edited later), or answers
/// waiting for one resident (each whole, apart by a blank line).
#[derive(Clone, Copy)]
enum Together {
    Room,
    Resident,
}

impl Together {
    fn joiner(self) -> &'static str {
        match self {
            Together::Room => "\n",
            Together::Resident => "\n\n",
        }
    }
}

/// Whether a chat's queue may go on after one message.
enum Step {
    Go,
    /// This chat must wait this long (a limit, a 429, an outage).
    Wait(Duration),
    /// Stop sending (the store cannot record deliveries).
    Stop,
}

/// Deliveries sent but not yet recorded, and since when the store refuses them.
#[derive(Default)]
struct Unrecorded {
    rows: Vec<(i64, DeliveryOutcome, Timestamp)>,
    outage: Option<Outage>,
}

/// What one round of delivery did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Round {
    /// Outbox rows sent, failed or rescheduled.
    pub attempted: usize,
    /// Some rows are waiting for a limit: try again after this long.
    pub wake_in: Option<Duration>,
}

pub struct Dispatcher {
    engine: Arc<Engine>,
    channels: Vec<Arc<dyn Channel>>,
    limiters: Mutex<HashMap<String, Limiter>>,
    /// Channels whose platform is unreachable: since when, and when to try again.
    outages: Mutex<HashMap<String, Outage>>,
    unrecorded: Mutex<Unrecorded>,
    /// Channels whose [`Channel::ready`] has returned: asked once, not at every round.
    ready: Mutex<HashSet<String>>,
}

/// A platform that cannot be reached: messages stay queued (none is given up for a
/// network error), one message probes every few seconds, the log says so once when it
/// starts and once when it ends.
struct Outage {
    since: Instant,
    pause: Duration,
    probe_at: Instant,
    held: usize,
}

fn min_wake(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Dispatcher {
    pub fn new(engine: Arc<Engine>, channels: Vec<Arc<dyn Channel>>) -> Self {
        for c in &channels {
            engine.set_capabilities(c.name(), c.capabilities());
        }
        let limiters = channels
            .iter()
            .map(|c| (c.name().to_owned(), Limiter { limits: c.limits(), ..Limiter::default() }))
            .collect();
        Dispatcher {
            engine,
            channels,
            limiters: Mutex::new(limiters),
            outages: Mutex::new(HashMap::new()),
            unrecorded: Mutex::new(Unrecorded::default()),
            ready: Mutex::new(HashSet::new()),
        }
    }

    /// Waits until `ch` can send, the first time only.
    async fn until_ready(&self, ch: &dyn Channel) {
        if self.ready.lock().unwrap_or_else(|p| p.into_inner()).contains(ch.name()) {
            return;
        }
        ch.ready().await;
        debug!(channel = ch.name(), "channel ready to send");
        self.ready.lock().unwrap_or_else(|p| p.into_inner()).insert(ch.name().to_owned());
    }

    pub fn channels(&self) -> &[Arc<dyn Channel>] {
        &self.channels
    }

    fn limiter<R>(&self, ch: &str, f: impl FnOnce(&mut Limiter) -> R) -> R {
        let mut l = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        f(l.entry(ch.to_owned()).or_default())
    }

    fn outages(&self) -> std::sync::MutexGuard<'_, HashMap<String, Outage>> {
        self.outages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// While the platform is unreachable and it is not yet time for `track` to try
    /// again: how long.
    fn probe_wait(&self, ch: &str, track: Chats) -> Option<Duration> {
        let o = self.outages();
        let o = o.get(ch)?;
        let at = if track == Chats::Rooms { o.probe_at + ROOMS_PROBE_AFTER } else { o.probe_at };
        let now = Instant::now();
        (at > now).then(|| at - now)
    }

    /// A send failed for want of the network: the channel is in an outage (said once).
    fn network_down(&self, ch: &str, error: &str) -> Duration {
        let mut all = self.outages();
        let now = Instant::now();
        match all.get_mut(ch) {
            Some(o) => {
                o.pause = (o.pause * 2).min(PROBE_MAX);
                o.probe_at = now + o.pause;
                o.held += 1;
                o.pause
            }
            None => {
                warn!(channel = ch, %error, "the platform is unreachable; messages are kept and sent when it is back");
                all.insert(
                    ch.to_owned(),
                    Outage { since: now, pause: PROBE_FIRST, probe_at: now + PROBE_FIRST, held: 1 },
                );
                PROBE_FIRST
            }
        }
    }

    /// A send went through: an outage, if there was one, is over (said once).
    fn network_up(&self, ch: &str) {
        if let Some(o) = self.outages().remove(ch) {
            info!(
                channel = ch,
                after_s = o.since.elapsed().as_secs(),
                tries = o.held,
                "the platform is reachable again; delivering"
            );
        }
    }

    /// A delivery the store could not record (disk full): kept here so it is not sent
    /// again, and nothing new is sent on any channel until it is written.
    fn unrecorded(&self) -> std::sync::MutexGuard<'_, Unrecorded> {
        self.unrecorded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the deliveries the store refused before. None: all written (or none
    /// pending), sending may go on; Some: try again after this long.
    async fn flush_unrecorded(&self) -> Option<Duration> {
        let pending: Vec<(i64, DeliveryOutcome, Timestamp)> = {
            let u = self.unrecorded();
            let o = u.outage.as_ref()?;
            let now = Instant::now();
            if o.probe_at > now {
                return Some(o.probe_at - now);
            }
            u.rows.clone()
        };
        for (id, outcome, at) in pending {
            if let Err(e) = self.engine.store().record_delivery(id, outcome, at).await {
                let mut u = self.unrecorded();
                let o = u.outage.as_mut()?;
                o.pause = (o.pause * 2).min(PROBE_MAX);
                o.probe_at = Instant::now() + o.pause;
                o.held += 1;
                debug!(error = %e, "deliveries still not recorded");
                return Some(o.pause);
            }
            self.unrecorded().rows.retain(|(r, _, _)| *r != id);
        }
        let mut u = self.unrecorded();
        if let Some(o) = u.outage.take() {
            info!(after_s = o.since.elapsed().as_secs(), "the store records deliveries again; sending resumes");
        }
        None
    }

    /// Records what became of a row; if the store cannot, keeps it in memory and stops
    /// all sending until it can (said once).
    async fn note(&self, id: i64, outcome: DeliveryOutcome) {
        let at = self.engine.now();
        let Err(e) = self.engine.store().record_delivery(id, outcome.clone(), at).await else {
            return;
        };
        if let DeliveryOutcome::Retry { .. } = outcome {
            // Nothing went out: the row is simply tried again (a lost retry time costs
            // nothing but an earlier try).
            debug!(error = %e, outbox = id, "a retry time could not be recorded");
            return;
        }
        let mut u = self.unrecorded();
        u.rows.push((id, outcome, at));
        if u.outage.is_none() {
            match &e {
                StoreError::DiskFull(_) => error!(
                    error = %e,
                    "disk full: deliveries cannot be recorded; nothing more is sent until there is space (what was sent is not sent again)"
                ),
                _ => error!(error = %e, "a delivery cannot be recorded; nothing more is sent until the store answers"),
            }
            let now = Instant::now();
            u.outage = Some(Outage { since: now, pause: PROBE_FIRST, probe_at: now + PROBE_FIRST, held: 1 });
        }
    }

    fn store_down(&self) -> bool {
        self.unrecorded().outage.is_some()
    }

    /// Takes a place in the channel's limits for one message to `to`: waits for the
    /// channel as a whole; if the destination itself must wait, says how long.
    async fn acquire(&self, ch: &str, to: &Destination) -> Result<(), Duration> {
        loop {
            let now = Instant::now();
            let global = self.limiter(ch, |l| {
                let (global, dest) = l.wait(to, now);
                if !dest.is_zero() {
                    return Err(dest);
                }
                if global.is_zero() {
                    l.record(to, now);
                }
                Ok(global)
            })?;
            if global.is_zero() {
                return Ok(());
            }
            tokio::time::sleep(global).await;
        }
    }

    /// Delivers what is due on one channel, within its limits: each chat in order,
    /// several chats at once where the channel allows, residents' chats first.
    pub async fn deliver_due(&self, ch: &dyn Channel) -> Result<Round, StoreError> {
        self.deliver_track(ch, Chats::All).await
    }

    /// [`Dispatcher::deliver_due`] for the chats of one track only.
    async fn deliver_track(&self, ch: &dyn Channel, track: Chats) -> Result<Round, StoreError> {
        if let Some(wait) = self.probe_wait(ch.name(), track) {
            return Ok(Round { attempted: 0, wake_in: Some(wait) });
        }
        if let Some(wait) = self.flush_unrecorded().await {
            return Ok(Round { attempted: 0, wake_in: Some(wait) });
        }
        let store = self.engine.store().clone();
        let now = self.engine.now();
        // Only this track's chats: the other's are its own, and a backlog of them must
        // not fill this track's read.
        let mut rows = store.due_outbox(ch.name(), track, now, BATCH).await?;
        {
            let u = self.unrecorded();
            rows.retain(|r| !u.rows.iter().any(|(id, _, _)| *id == r.id));
        }
        let mut round = Round::default();

        // An edit superseded by a later edit of the same post need not be sent.
        let mut last_edit: HashMap<(Destination, Option<TaskId>, PostKind), i64> = HashMap::new();
        for r in &rows {
            if let Some(kind) = r.message.edit {
                last_edit.insert((r.message.to.clone(), r.message.task, kind), r.id);
            }
        }
        let mut lanes: Vec<Vec<&OutboxRow>> = Vec::new();
        let mut lane_of: HashMap<&Destination, usize> = HashMap::new();
        for r in &rows {
            if let Some(kind) = r.message.edit
                && last_edit.get(&(r.message.to.clone(), r.message.task, kind)) != Some(&r.id)
            {
                round.attempted += 1;
                self.skip(r.id).await;
                continue;
            }
            let i = *lane_of.entry(&r.message.to).or_insert_with(|| {
                lanes.push(Vec::new());
                lanes.len() - 1
            });
            lanes[i].push(r);
        }
        // Residents waiting for an answer go before room posts.
        lanes.sort_by_key(|l| (matches!(l[0].message.to, Destination::Room(_)), l[0].id));
        let at_once = at_once(track, ch.limits().concurrent_chats);
        let lanes: Vec<_> = lanes.into_iter().map(|lane| self.deliver_lane(ch, lane)).collect();
        let lanes: Vec<Round> = stream::iter(lanes).buffer_unordered(at_once).collect().await;
        for r in lanes {
            round.attempted += r.attempted;
            if let Some(w) = r.wake_in {
                round.wake_in = min_wake(round.wake_in, w);
            }
        }
        Ok(round)
    }

    /// Delivers one chat's rows in order until one must wait or its turn is over. Their
    /// tasks are in memory meanwhile, whatever else leaves it: who may read a message is
    /// decided on its task.
    async fn deliver_lane(&self, ch: &dyn Channel, lane: Vec<&OutboxRow>) -> Round {
        let _pinned = match self.engine.fault_in_rows(lane.iter().copied()).await {
            Ok(p) => p,
            Err(e) => {
                // The outbox read fails too, and says so.
                debug!(error = %e, channel = ch.name(), "the tasks of messages to send could not be read");
                return Round { attempted: 0, wake_in: Some(PROBE_FIRST) };
            }
        };
        let mut round = Round::default();
        let mut consumed: HashSet<i64> = HashSet::new();
        let mut sent = 0;
        for (i, row) in lane.iter().enumerate() {
            if consumed.contains(&row.id) {
                continue;
            }
            if sent == LANE_TURN {
                // The rest goes in the next round, after what came meanwhile is read.
                break;
            }
            sent += 1;
            // The platform went away (or the store stopped recording): stop here, whatever
            // the track (the rooms' later turn is for the first try after an outage).
            if let Some(wait) = self.probe_wait(ch.name(), Chats::Direct) {
                round.wake_in = min_wake(round.wake_in, wait);
                break;
            }
            if self.store_down() {
                round.wake_in = min_wake(round.wake_in, PROBE_FIRST);
                break;
            }
            // A rush of new messages for a limited room: group them.
            let group = match &row.message.to {
                Destination::Room(room) if row.message.edit.is_none() => {
                    let same: Vec<&OutboxRow> =
                        lane[i..].iter().copied().filter(|r| r.message.edit.is_none()).collect();
                    match self.limiter(ch.name(), |l| l.room_budget(room, Instant::now())) {
                        Some(budget) if same.len() >= 2 && same.len() > budget / 2 => Some(same),
                        _ => None,
                    }
                }
                _ => None,
            };
            // A resident with several answers waiting (a burst of their own reports):
            // they go as one message, so the last is not kept behind the others.
            let backlog = match &row.message.to {
                Destination::Direct(_) if plain_direct(row) => {
                    let run: Vec<&OutboxRow> =
                        lane[i..].iter().copied().take_while(|r| plain_direct(r)).take(DIRECT_BATCH).collect();
                    (run.len() >= DIRECT_BATCH_FROM).then_some(run)
                }
                _ => None,
            };
            let step = match (group, backlog) {
                (Some(same), _) => {
                    let (taken, step) = self.deliver_together(ch, &same, Together::Room).await;
                    round.attempted += taken.len();
                    consumed.extend(taken);
                    step
                }
                (None, Some(run)) => {
                    let (taken, step) = self.deliver_together(ch, &run, Together::Resident).await;
                    round.attempted += taken.len();
                    consumed.extend(taken);
                    step
                }
                (None, None) => {
                    let step = self.deliver_one(ch, row).await;
                    if !matches!(step, Step::Wait(_)) {
                        round.attempted += 1;
                    }
                    step
                }
            };
            match step {
                Step::Go => {}
                Step::Wait(w) => {
                    round.wake_in = min_wake(round.wake_in, w);
                    break;
                }
                Step::Stop => break,
            }
        }
        round
    }

    /// Sends one row.
    async fn deliver_one(&self, ch: &dyn Channel, row: &OutboxRow) -> Step {
        let Some(out) = self.engine.outgoing(row) else {
            debug!(outbox = row.id, "nothing to send (an edit of a grouped message, or a task gone private)");
            self.skip(row.id).await;
            return Step::Go;
        };
        if let Err(wait) = self.acquire(ch.name(), &out.to).await {
            return Step::Wait(wait);
        }
        let span = tracing::debug_span!("deliver", channel = ch.name(), outbox = row.id, task = ?row.message.task);
        let started = Instant::now();
        let result = self.send_split(ch, out).instrument(span).await;
        let sent = Instant::now();
        let step = self.record(row, result).await;
        debug!(
            channel = ch.name(),
            outbox = row.id,
            send_ms = sent.duration_since(started).as_millis() as u64,
            record_ms = sent.elapsed().as_millis() as u64,
            "delivered"
        );
        step
    }

    /// Sends `out` as one message, or, past the channel's `max_chars` / `max_lines`, as
    /// several in order, each taking its place in the rate limits (the buttons on the
    /// last). The first part's id stands for the message. An edit is shortened instead.
    /// A later part that cannot go is tried again here for about half a minute; after
    /// that the send is [`ChannelError::Uncertain`] (the first parts are out).
    async fn send_split(&self, ch: &dyn Channel, mut out: Outgoing) -> Result<crate::channel::Delivered, ChannelError> {
        let limits = ch.limits();
        // Most messages fit: counted without cutting anything.
        let fits = limits.max_chars.is_none_or(|m| out.text.chars().nth(m).is_none())
            && limits.max_lines.is_none_or(|m| out.text.split('\n').nth(m).is_none());
        if fits {
            return ch.send(&out).await;
        }
        let parts = split_text(&out.text, limits.max_chars, limits.max_lines);
        if parts.len() <= 1 {
            return ch.send(&out).await;
        }
        if out.edit.is_some() {
            out.text = shorten(&parts[0], limits.max_chars);
            return ch.send(&out).await;
        }
        let buttons = std::mem::take(&mut out.buttons);
        let (key, n) = (out.key.clone(), parts.len());
        let mut first: Option<crate::channel::Delivered> = None;
        for (i, text) in parts.into_iter().enumerate() {
            let part = Outgoing {
                key: if i == 0 { key.clone() } else { format!("{key}.{i}") },
                text,
                buttons: if i + 1 == n { buttons.clone() } else { vec![] },
                post: if i == 0 { out.post } else { None },
                ..out.clone()
            };
            if i == 0 {
                first = Some(ch.send(&part).await?);
                continue;
            }
            let mut pause = PROBE_FIRST;
            let mut tries = 0;
            loop {
                if let Err(wait) = self.acquire(ch.name(), &part.to).await {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                match ch.send(&part).await {
                    Ok(_) => break,
                    Err(ChannelError::RetryAfter(w)) if tries < 5 => tokio::time::sleep(w).await,
                    Err(ChannelError::Network(_)) if tries < 5 => {
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                    Err(e) => {
                        return Err(ChannelError::Uncertain(format!("part {} of {n} not sent: {e}", i + 1)));
                    }
                }
                tries += 1;
            }
        }
        first.ok_or_else(|| ChannelError::Other("nothing to send".into()))
    }

    /// Marks a row as done without sending it.
    async fn skip(&self, outbox_id: i64) {
        let done = DeliveryOutcome::Delivered { message_id: String::new(), posts: vec![] };
        self.note(outbox_id, done).await
    }

    /// Sends several rows for one chat as one message (see [`Together`]). Returns the ids
    /// of the rows it took.
    async fn deliver_together(&self, ch: &dyn Channel, rows: &[&OutboxRow], how: Together) -> (Vec<i64>, Step) {
        // Rows about tasks that became private since they were queued are not sent.
        let (rows, held): (Vec<&OutboxRow>, Vec<&OutboxRow>) = rows.iter().partition(|r| self.engine.may_deliver(r));
        for r in &held {
            debug!(outbox = r.id, "the task became private before this message left; not sent");
            self.skip(r.id).await;
        }
        let mut ids: Vec<i64> = held.iter().map(|r| r.id).collect();
        let mut lines: Vec<GroupLine> = Vec::new();
        let mut taken: Vec<&OutboxRow> = Vec::new();
        let mut chars = 0;
        for r in rows {
            let line = match how {
                Together::Room => r.message.summary.clone().unwrap_or_else(|| r.message.text.replace('\n', " · ")),
                Together::Resident => r.message.text.clone(),
            };
            if !taken.is_empty() && (chars + line.len() > DIGEST_CHARS || taken.len() >= DIGEST_TASKS) {
                break;
            }
            chars += line.len() + how.joiner().len();
            let task = r.message.task.unwrap_or(TaskId(0));
            let buttons = match (how, r.message.post) {
                (Together::Room, Some(_)) => Engine::group_buttons(task, &r.message.buttons),
                _ => vec![],
            };
            lines.push(GroupLine { task, line, buttons });
            taken.push(r);
        }
        let (Some(first), Some(last)) = (taken.first(), taken.last()) else { return (ids, Step::Go) };
        if let Err(wait) = self.acquire(ch.name(), &first.message.to).await {
            return (ids, Step::Wait(wait));
        }
        info!(channel = ch.name(), to = ?first.message.to, messages = taken.len(), "sending messages as one");
        let (text, buttons) = GroupLine::message(&lines, how.joiner());
        let out = Outgoing {
            key: match how {
                Together::Room => format!("plaza-{}", first.id),
                // Another set of rows after a crash is another message, never one taken for this.
                Together::Resident => format!("plaza-{}-{}", first.id, last.id),
            },
            text,
            buttons,
            ..Outgoing::plain(first.message.to.clone())
        };
        let result = self.send_split(ch, out).await;
        if let (Ok(d), Together::Room) = (&result, how) {
            self.engine.record_group(ch.name(), &d.message_id, lines);
        }
        let mut step = Step::Go;
        for r in &taken {
            step = self.record(r, result.clone()).await;
        }
        ids.extend(taken.iter().map(|r| r.id));
        (ids, step)
    }

    /// Records a delivery attempt and says whether the chat may go on.
    async fn record(&self, row: &OutboxRow, result: Result<crate::channel::Delivered, ChannelError>) -> Step {
        let now = self.engine.now();
        let mut step = Step::Go;
        let outcome = match result {
            Ok(d) => {
                self.network_up(&row.channel);
                self.engine.ops().delivered(&row.channel, now);
                let posts: Vec<PostRecord> = match (row.message.post, row.message.task, &row.message.to) {
                    (Some(kind), Some(task), Destination::Room(room)) => vec![PostRecord {
                        channel: row.channel.clone(),
                        room: room.clone(),
                        kind,
                        task,
                        message_id: d.message_id.clone(),
                    }],
                    _ => vec![],
                };
                for p in &posts {
                    self.engine.record_post(p.clone());
                }
                DeliveryOutcome::Delivered { message_id: d.message_id, posts }
            }
            Err(ChannelError::RetryAfter(wait)) => {
                // A platform's flood limit is the bot's, not one chat's: every chat waits.
                self.limiter(&row.channel, |l| {
                    let until = Instant::now() + wait;
                    l.hold_until = Some(l.hold_until.map_or(until, |h| h.max(until)));
                });
                step = Step::Wait(wait);
                self.engine.ops().delivery_retried(&row.channel);
                debug!(?wait, "rate limited by the platform; kept queued");
                DeliveryOutcome::Retry { at: now.plus_millis(wait.as_millis() as i64), error: "rate limited".into() }
            }
            Err(ChannelError::Network(e)) => {
                // Never given up for the network: kept until the platform is back.
                let wait = self.network_down(&row.channel, &e);
                self.engine.ops().delivery_retried(&row.channel);
                self.engine.ops().sending_down(&row.channel, now, &e);
                step = Step::Wait(wait);
                debug!(error = %e, attempt = row.attempts + 1, "not delivered; kept queued");
                DeliveryOutcome::Retry { at: now.plus_millis(wait.as_millis() as i64), error: e }
            }
            Err(ChannelError::Uncertain(e)) if !self.engine.capabilities_of(&row.channel).idempotent_sends => {
                // It may have gone out; sending it again could tell a resident the same
                // thing twice. Counted as sent, said in the log.
                warn!(error = %e, outbox = row.id, "not sure this message went out; not sent again");
                self.engine.ops().delivered(&row.channel, now);
                DeliveryOutcome::Delivered { message_id: String::new(), posts: vec![] }
            }
            Err(ChannelError::Uncertain(e)) => {
                // The platform drops a second copy with the same key: try again.
                let wait = PROBE_FIRST;
                self.engine.ops().delivery_retried(&row.channel);
                step = Step::Wait(wait);
                DeliveryOutcome::Retry { at: now.plus_millis(wait.as_millis() as i64), error: e }
            }
            Err(e) => {
                self.engine.ops().delivery_failed(&row.channel);
                warn!(error = %e, "delivery failed for good");
                DeliveryOutcome::Failed { error: e.to_string() }
            }
        };
        self.note(row.id, outcome).await;
        if self.store_down() { Step::Stop } else { step }
    }

    /// Delivers until nothing is due on any channel (messages waiting for a retry later
    /// stay queued).
    pub async fn settle(&self) {
        loop {
            let mut total = 0;
            let mut wake: Option<Duration> = None;
            for ch in &self.channels {
                self.until_ready(ch.as_ref()).await;
                match self.deliver_due(ch.as_ref()).await {
                    Ok(r) => {
                        total += r.attempted;
                        if let Some(w) = r.wake_in {
                            wake = min_wake(wake, w);
                        }
                    }
                    Err(e) => warn!(error = %e, channel = ch.name(), "outbox read failed"),
                }
            }
            match (total, wake) {
                (0, None) => break,
                (0, Some(w)) => tokio::time::sleep(w).await,
                _ => {}
            }
        }
    }

    /// Delivers one channel's outbox until the engine goes away: wakes when the engine
    /// commits, when a limit or a retry allows, and once a second in any case.
    /// A channel that sends to several chats at once has two tracks, each its own rounds:
    /// a resident's answer goes as soon as it is stored, not after the round of room
    /// posts under way (which waits for its slowest room) is over.
    pub async fn run_channel(self: Arc<Self>, ch: Arc<dyn Channel>) {
        // Nothing goes out before the channel can send (its messages wait in the outbox).
        self.until_ready(ch.as_ref()).await;
        if ch.limits().concurrent_chats > 1 {
            tokio::join!(self.clone().run_track(ch.clone(), Chats::Direct), self.run_track(ch, Chats::Rooms));
        } else {
            self.run_track(ch, Chats::All).await;
        }
    }

    async fn run_track(self: Arc<Self>, ch: Arc<dyn Channel>, track: Chats) {
        let mut signal = self.engine.outbox_signal();
        loop {
            let round = match self.deliver_track(ch.as_ref(), track).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(error = %e, channel = ch.name(), "outbox read failed");
                    Round::default()
                }
            };
            if round.attempted > 0 && round.wake_in.is_none() {
                continue;
            }
            let mut wait = round.wake_in.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(1));
            if let Ok(Some(at)) = self.engine.store().next_retry(ch.name(), track).await {
                let ms = at.since(self.engine.now()).max(5);
                wait = wait.min(Duration::from_millis(ms as u64));
            }
            tokio::select! {
                r = signal.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Cuts `text` into messages of at most `max_chars` characters and `max_lines` lines:
/// at line ends, then at spaces, then anywhere. Empty lines between parts are dropped.
pub fn split_text(text: &str, max_chars: Option<usize>, max_lines: Option<usize>) -> Vec<String> {
    let chars = max_chars.unwrap_or(usize::MAX).max(1);
    let lines_max = max_lines.unwrap_or(usize::MAX).max(1);
    // Lines no longer than `chars`.
    let mut lines: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let mut rest = line;
        while rest.chars().count() > chars {
            let cut = rest.char_indices().nth(chars).map_or(rest.len(), |(i, _)| i);
            let at = rest[..cut].rfind(' ').filter(|&i| i > 0).unwrap_or(cut);
            lines.push(rest[..at].trim_end().to_owned());
            rest = rest[at..].trim_start();
        }
        lines.push(rest.to_owned());
    }
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Vec<String> = Vec::new();
    let mut len = 0;
    for l in lines {
        let n = l.chars().count();
        if !cur.is_empty() && (cur.len() >= lines_max || len + 1 + n > chars) {
            parts.push(cur.join("\n"));
            cur.clear();
            len = 0;
        }
        if cur.is_empty() && l.trim().is_empty() && !parts.is_empty() {
            continue;
        }
        len += n + usize::from(!cur.is_empty());
        cur.push(l);
    }
    if !cur.is_empty() || parts.is_empty() {
        parts.push(cur.join("\n"));
    }
    parts.retain(|p| !p.trim().is_empty() || text.trim().is_empty());
    parts
}

/// The first part of a text that had to fit one message, marked as cut.
fn shorten(first: &str, max_chars: Option<usize>) -> String {
    let max = max_chars.unwrap_or(usize::MAX);
    let mut s: String = first.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Runs a channel's receive loop; if it fails or panics, starts it again after a pause
/// (a dead receive loop would leave a town without its bot). Returns when the loop ends
/// normally (end of input), or with the error a channel gives at its first start.
async fn supervise(ch: Arc<dyn Channel>, inbox: Arc<dyn Inbox>, engine: Arc<Engine>) -> Result<(), ChannelError> {
    let mut pause = Duration::from_secs(1);
    let mut started_once = false;
    loop {
        info!(channel = ch.name(), "channel started");
        engine.ops().channel_started(ch.name());
        let mut run = {
            let (ch, inbox) = (ch.clone(), inbox.clone());
            AbortOnDrop(tokio::spawn(async move { ch.run(inbox).await }))
        };
        let begun = Instant::now();
        match (&mut run.0).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) if !started_once && begun.elapsed() < Duration::from_secs(2) => {
                // Fails straight away at start (bad address, port taken): say so.
                return Err(e);
            }
            Ok(Err(e)) => {
                warn!(channel = ch.name(), error = %e, "channel stopped; starting it again");
                engine.ops().receiving_down(ch.name(), engine.now(), &e.to_string());
            }
            Err(e) => {
                warn!(channel = ch.name(), error = %e, "channel crashed; starting it again");
                engine.ops().receiving_down(ch.name(), engine.now(), &e.to_string());
            }
        }
        started_once = true;
        if begun.elapsed() > Duration::from_secs(60) {
            pause = Duration::from_secs(1);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(60));
    }
}

/// A spawned task that ends with its owner (so stopping the supervisor stops the loop).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An engine with its dispatcher: what a channel hands its events to.
pub struct Runtime {
    pub engine: Arc<Engine>,
    pub dispatcher: Arc<Dispatcher>,
}

#[async_trait]
impl Inbox for Runtime {
    async fn deliver(&self, inbound: Inbound) -> Result<Option<String>, EngineError> {
        self.engine.handle_with_toast(inbound).await.map(|(_, toast)| toast)
    }
    async fn settle(&self) {
        // Timers due by now run first (the console's `~ 3d` moves their time too).
        if let Err(e) = self.engine.tick().await {
            warn!(error = %e, "timers could not run; trying again at the next tick");
        }
        self.dispatcher.settle().await
    }
    fn now(&self) -> Timestamp {
        self.engine.now()
    }
    async fn cursor(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.engine.store().cursor(key).await
    }
    async fn set_cursor(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.engine.store().set_cursor(key, value).await
    }
}

impl Runtime {
    /// Runs every channel's receive loop and its outbox delivery until `shutdown`
    /// resolves or every receive loop has ended; then delivers what is due and returns.
    pub async fn serve(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) -> Result<(), ChannelError> {
        let mut delivery = Vec::new();
        for ch in self.dispatcher.channels() {
            delivery.push(tokio::spawn(self.dispatcher.clone().run_channel(ch.clone())));
        }
        let ticker = {
            let engine = self.engine.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(TICK_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    if let Err(e) = engine.tick().await {
                        warn!(error = %e, "timers could not run; trying again at the next tick");
                    }
                }
            })
        };
        let mut loops = tokio::task::JoinSet::new();
        for ch in self.dispatcher.channels().to_vec() {
            let inbox: Arc<dyn Inbox> = self.clone();
            loops.spawn(supervise(ch, inbox, self.engine.clone()));
        }
        let result = tokio::select! {
            _ = shutdown => {
                info!("shutting down");
                Ok(())
            }
            r = async {
                while let Some(done) = loops.join_next().await {
                    if let Ok(Err(e)) = done {
                        return Err(e);
                    }
                }
                Ok(())
            } => r,
        };
        loops.abort_all();
        ticker.abort();
        for d in delivery {
            d.abort();
        }
        // What is due now goes out before we stop; the rest waits in the outbox.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.dispatcher.settle()).await;
        result
    }
}

#[cfg(test)]
mod split_tests {
    use super::split_text;

    #[test]
    fn lines_words_and_hard_cuts() {
        assert_eq!(split_text("short", Some(100), None), vec!["short"]);
        assert_eq!(split_text("a\nb\nc", None, Some(1)), vec!["a", "b", "c"]);
        assert_eq!(split_text("a\nb\nc", None, Some(2)), vec!["a\nb", "c"]);
        // At spaces; a word longer than the limit is cut anywhere.
        assert_eq!(split_text("one two three", Some(8), None), vec!["one two", "three"]);
        assert_eq!(split_text("abcdefghij", Some(4), None), vec!["abcd", "efgh", "ij"]);
        // Characters, not bytes.
        assert_eq!(split_text("ññññ ññ", Some(4), None), vec!["ññññ", "ññ"]);
        // Blank lines do not become messages of their own.
        assert_eq!(split_text("a\n\nb", None, Some(1)), vec!["a", "b"]);
        // Nothing is lost: every word of a long text comes out, in order.
        let text: String = (0..500).map(|i| format!("w{i} ")).collect::<String>() + "\nend";
        let parts = split_text(&text, Some(50), Some(2));
        assert!(parts.iter().all(|p| p.chars().count() <= 50 && p.lines().count() <= 2));
        let words: Vec<String> = parts.iter().flat_map(|p| p.split_whitespace().map(str::to_owned)).collect();
        assert_eq!(words, text.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
    }
}
