//! The engine's working set in memory: tasks, indexes for duplicate detection, open
//! dialogues, redelivery keys and delivered posts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::channel::PostKind;
use crate::dialogue::Dialogue;
use crate::model::*;
use crate::store::PostRecord;

use super::{RESIDENTS_KEEP, SEEN_DAYS, SEEN_KEEP};

#[derive(Default)]
pub(super) struct State {
    /// Grouped messages as sent (channel, platform id) → one line and its buttons per
    /// task, so that a task moving edits its line in place (kept in memory: after a
    /// restart a grouped message stays as it was).
    pub(super) groups: HashMap<(String, String), Vec<GroupLine>>,
    /// Who last moved each task, as their platform calls them (for the crew card).
    pub(super) card_actor: HashMap<TaskId, String>,
    /// Flood control: per resident, the times of their latest reports in the last hour
    /// (at most the hourly limit's worth: the limit is all it is compared with), and
    /// whether the dispatchers were told about them.
    pub(super) reports_last_hour: HashMap<Identity, RecentReports>,
    /// How many residents `reports_last_hour` held after it was last swept.
    pub(super) reporters_swept: usize,
    /// The last public post text queued per task: an edit that changes nothing is not sent.
    pub(super) public_text: HashMap<TaskId, String>,
    /// What the town taught the classifier (dispatchers' assignments).
    pub(super) learned: crate::classify::Learned,
    pub(super) tasks: HashMap<TaskId, Task>,
    pub(super) last_id: i64,
    /// Active tasks per category, in id order (for plugins).
    pub(super) active_by_category: HashMap<String, BTreeSet<TaskId>>,
    /// Active tasks by (category, street key) and by (category, grid cell of their
    /// point): duplicate detection looks up, it does not scan.
    pub(super) by_street: HashMap<(String, String), BTreeSet<TaskId>>,
    pub(super) by_cell: HashMap<(String, i64, i64), BTreeSet<TaskId>>,
    /// The index keys each task is filed under, to refile it when it changes.
    pub(super) filed: HashMap<TaskId, Filed>,
    pub(super) last_task_of: HashMap<Identity, TaskId>,
    pub(super) dialogues: HashMap<Identity, Dialogue>,
    pub(super) residents: HashMap<Identity, String>,
    /// Redelivery keys (channel, message id) as 64-bit fingerprints (a false match among
    /// the 100,000 kept: about one chance in 10^9): a tenth of the memory of the strings.
    pub(super) seen: HashSet<u64>,
    pub(super) seen_order: VecDeque<(Timestamp, u64)>,
    /// A platform message → the task posts it carries (several for a grouped message).
    pub(super) posts_by_message: HashMap<(String, String), Vec<PostRecord>>,
    /// Each task's delivered posts.
    pub(super) posts_by_task: HashMap<TaskId, Vec<PostRecord>>,
    /// Tasks no longer active, in the order they stopped being (a number each time, so
    /// that a task touched again counts from its latest time): the oldest leave memory.
    pub(super) closed_order: VecDeque<(u64, TaskId)>,
    pub(super) closed_latest: HashMap<TaskId, u64>,
    pub(super) closed_count: u64,
    /// Tasks a message is being delivered for (how many deliveries): they do not leave
    /// memory meanwhile, so that who may see the message is decided on the task itself.
    pub(super) pinned: HashMap<TaskId, u32>,
    /// People known to have no language recorded (not asked of the store again).
    pub(super) no_language: HashSet<Identity>,
    /// How many residents' languages were kept at the last trim.
    pub(super) residents_kept: usize,
    /// Reporters asked "is it fixed?" who have not answered → those of their tasks that
    /// are in memory.
    pub(super) awaiting: HashMap<Identity, BTreeSet<TaskId>>,
    /// Timers set and not yet run → when due (ordered by owner, then task: one owner's,
    /// or one task's of an owner, are a range); and the same ordered by time. The core's
    /// own ([`crate::store::CORE_TIMERS`]) only up to `core_timers_until`: the later
    /// ones are in the store, read as their time comes near.
    pub(super) timers: BTreeMap<TimerKey, Timestamp>,
    pub(super) timer_queue: BTreeSet<(Timestamp, TimerKey)>,
    pub(super) core_timers_until: Timestamp,
    /// While the next window of core timers is being read: the keys set or cancelled
    /// meanwhile (what was read of them is older).
    pub(super) timers_loading: Option<HashSet<TimerKey>>,
    /// Residents who asked for notices, by district id ("" for the whole town).
    pub(super) subscriptions: HashMap<String, BTreeSet<Identity>>,
    /// Crew members' own choice of being named in public (None: they said no).
    pub(super) credits: HashMap<Identity, Option<String>>,
}

/// A redelivery key's fingerprint (SipHash with fixed keys: the same in every run).
fn fingerprint((channel, message): &(String, String)) -> u64 {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    channel.hash(&mut h);
    message.hash(&mut h);
    h.finish()
}

fn unfile<K: std::hash::Hash + Eq>(index: &mut HashMap<K, BTreeSet<TaskId>>, key: &K, id: TaskId) {
    if let Some(set) = index.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

/// A resident's reports in the last hour.
#[derive(Default)]
pub(super) struct RecentReports {
    pub(super) times: VecDeque<Timestamp>,
    /// The dispatchers were told this resident went past the limit.
    pub(super) warned: bool,
}

impl RecentReports {
    fn expire(&mut self, at: Timestamp) {
        let horizon = at.plus_minutes(-60);
        while self.times.front().is_some_and(|t| *t < horizon) {
            self.times.pop_front();
        }
        if self.times.is_empty() {
            self.warned = false;
        }
    }
}

/// Where an active task is filed in the duplicate indexes.
#[derive(Default, Clone, PartialEq)]
pub(super) struct Filed {
    pub(super) category: Option<String>,
    pub(super) street: Option<(String, String)>,
    pub(super) cell: Option<(String, i64, i64)>,
}

/// Grid cells of about 100 m: a duplicate within the radius is in the same or a
/// neighbouring cell (for radii up to the cell size).
pub(super) const CELL_DEG: f64 = 0.001;

pub(super) fn cell_of(p: &GeoPoint) -> (i64, i64) {
    ((p.lat / CELL_DEG).floor() as i64, (p.lon / CELL_DEG).floor() as i64)
}

impl State {
    pub(super) fn index_task(&mut self, t: &Task) {
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
            // An index key with no task left goes too: a town has a street per report.
            if let Some(c) = &had.category {
                unfile(&mut self.active_by_category, c, t.id);
            }
            if let Some(k) = &had.street {
                unfile(&mut self.by_street, k, t.id);
            }
            if let Some(k) = &had.cell {
                unfile(&mut self.by_cell, k, t.id);
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
        if t.awaits_answer() {
            self.awaiting.entry(t.reporter.clone()).or_default().insert(t.id);
        } else {
            self.unawait(&t.reporter, t.id);
        }
    }
    fn unawait(&mut self, who: &Identity, id: TaskId) {
        if let Some(set) = self.awaiting.get_mut(who) {
            set.remove(&id);
            if set.is_empty() {
                self.awaiting.remove(who);
            }
        }
    }

    /// Sets (or moves) a timer; a core timer beyond the loaded window is left to the
    /// store (true if it is kept in memory).
    pub(super) fn set_timer(&mut self, key: TimerKey, due: Timestamp) -> bool {
        if let Some(touched) = &mut self.timers_loading {
            touched.insert(key.clone());
        }
        if key.owner == crate::store::CORE_TIMERS && due > self.core_timers_until {
            self.forget_timer(&key);
            return false;
        }
        if let Some(old) = self.timers.insert(key.clone(), due) {
            self.timer_queue.remove(&(old, key.clone()));
        }
        self.timer_queue.insert((due, key));
        true
    }
    /// Removes a timer; true if it was set in memory.
    pub(super) fn cancel_timer(&mut self, key: &TimerKey) -> bool {
        if let Some(touched) = &mut self.timers_loading {
            touched.insert(key.clone());
        }
        self.forget_timer(key)
    }
    fn forget_timer(&mut self, key: &TimerKey) -> bool {
        match self.timers.remove(key) {
            Some(due) => self.timer_queue.remove(&(due, key.clone())),
            None => false,
        }
    }
    /// Begins reading the core's timers due up to `until` (those set meanwhile are kept
    /// in memory from now on); returns where the window ended before.
    pub(super) fn widen_core_timers(&mut self, until: Timestamp) -> Timestamp {
        self.timers_loading.get_or_insert_with(HashSet::new);
        std::mem::replace(&mut self.core_timers_until, until)
    }
    /// The timers read for the window begun by `widen_core_timers`, except those set
    /// or cancelled since the read began.
    pub(super) fn core_timers_read(&mut self, read: Vec<(TimerKey, Timestamp)>) {
        let touched = self.timers_loading.take().unwrap_or_default();
        for (key, due) in read {
            if !touched.contains(&key) && due <= self.core_timers_until {
                self.set_timer(key, due);
            }
        }
    }
    /// `owner`'s timers (about `task` only, if given), by task and key.
    pub(super) fn timers_of<'a>(
        &'a self,
        owner: &'a str,
        task: Option<TaskId>,
    ) -> impl Iterator<Item = (&'a TimerKey, &'a Timestamp)> + 'a {
        let from = TimerKey { owner: owner.to_owned(), task: task.unwrap_or(TaskId(i64::MIN)), key: String::new() };
        self.timers.range(from..).take_while(move |(k, _)| k.owner == owner && task.is_none_or(|t| k.task == t))
    }
    /// The timers due at `now`, soonest first, at most `limit`.
    pub(super) fn due_timers(&self, now: Timestamp, limit: usize) -> Vec<TimerKey> {
        self.timer_queue.iter().take_while(|(d, _)| *d <= now).take(limit).map(|(_, k)| k.clone()).collect()
    }
    pub(super) fn add_post(&mut self, p: PostRecord) {
        let of_task = self.posts_by_task.entry(p.task).or_default();
        of_task.retain(|q| (&q.channel, &q.room, q.kind) != (&p.channel, &p.room, p.kind));
        of_task.push(p.clone());
        self.add_message_post(p);
    }

    /// Files a post under its platform message only (another task of a grouped message).
    pub(super) fn add_message_post(&mut self, p: PostRecord) {
        let v = self.posts_by_message.entry((p.channel.clone(), p.message_id.clone())).or_default();
        if !v.contains(&p) {
            v.push(p);
        }
    }

    /// The platform id of a task's post of `kind` in `room` on `channel`.
    pub(super) fn post_of(&self, task: TaskId, channel: &str, room: &str, kind: PostKind) -> Option<&str> {
        self.posts_by_task
            .get(&task)?
            .iter()
            .find(|p| p.channel == channel && p.room == room && p.kind == kind)
            .map(|p| p.message_id.as_str())
    }

    /// Whether a platform message carries several tasks' lines.
    pub(super) fn is_group(&self, channel: &str, message_id: &str) -> bool {
        let key = (channel.to_owned(), message_id.to_owned());
        self.groups.contains_key(&key) || self.posts_by_message.get(&key).is_some_and(|v| v.len() > 1)
    }

    /// A task stopped being active (or was read from disk closed): it stays in memory
    /// while it is among the latest `[engine] closed_tasks_in_memory` such, then leaves
    /// (the store has it): a thanks, a "still broken" or an edit of its posts reads it
    /// back when it comes.
    pub(super) fn note_closed(&mut self, id: TaskId) {
        self.closed_count += 1;
        self.closed_latest.insert(id, self.closed_count);
        self.closed_order.push_back((self.closed_count, id));
    }

    /// Keeps memory to what is open and recent: the oldest closed tasks leave, with their
    /// posts and indexes, and residents' languages no task in memory needs.
    pub(super) fn trim(&mut self, closed_keep: usize) {
        let mut in_delivery = Vec::new();
        while self.closed_order.len() > closed_keep {
            let Some((n, id)) = self.closed_order.pop_front() else { break };
            if self.closed_latest.get(&id) != Some(&n) {
                continue;
            }
            if self.pinned.contains_key(&id) {
                in_delivery.push((n, id));
                continue;
            }
            self.closed_latest.remove(&id);
            if self.tasks.get(&id).is_some_and(|t| t.status.is_active()) {
                continue;
            }
            self.evict(id);
        }
        // Still the oldest: they leave at a trim after their delivery.
        for entry in in_delivery.into_iter().rev() {
            self.closed_order.push_front(entry);
        }
        if self.residents.len() > RESIDENTS_KEEP.max(2 * self.residents_kept) {
            let mut needed: HashSet<&Identity> = self.dialogues.keys().collect();
            needed.extend(self.tasks.values().flat_map(Task::people));
            let needed: HashSet<Identity> = needed.into_iter().cloned().collect();
            self.residents.retain(|who, _| needed.contains(who));
            self.residents_kept = self.residents.len();
        }
        if self.no_language.len() > RESIDENTS_KEEP {
            self.no_language.clear();
        }
    }

    fn evict(&mut self, id: TaskId) {
        let Some(t) = self.tasks.remove(&id) else { return };
        self.public_text.remove(&id);
        self.card_actor.remove(&id);
        if self.last_task_of.get(&t.reporter) == Some(&id) {
            self.last_task_of.remove(&t.reporter);
        }
        self.unawait(&t.reporter, id);
        for p in self.posts_by_task.remove(&id).unwrap_or_default() {
            let key = (p.channel, p.message_id);
            if let Some(v) = self.posts_by_message.get_mut(&key) {
                v.retain(|q| q.task != id);
                if !v.iter().any(|q| self.tasks.contains_key(&q.task)) {
                    self.posts_by_message.remove(&key);
                    self.groups.remove(&key);
                }
            }
        }
    }

    /// What is in memory, for operations and tests.
    pub(super) fn working_set(&self) -> WorkingSet {
        WorkingSet {
            tasks: self.tasks.len(),
            active_tasks: self.tasks.values().filter(|t| t.status.is_active()).count(),
            residents: self.residents.len(),
            dialogues: self.dialogues.len(),
            seen: self.seen.len(),
            posts: self.posts_by_task.values().map(Vec::len).sum(),
            timers: self.timers.len(),
        }
    }
    /// Whether this (channel, message id) was handled already.
    pub(super) fn was_seen(&self, key: &(String, String)) -> bool {
        self.seen.contains(&fingerprint(key))
    }

    pub(super) fn mark_seen(&mut self, key: &(String, String), at: Timestamp) {
        let key = fingerprint(key);
        let horizon = at.plus_minutes(-SEEN_DAYS * 24 * 60);
        while let Some((t, _)) = self.seen_order.front() {
            if *t >= horizon {
                break;
            }
            if let Some((_, k)) = self.seen_order.pop_front() {
                self.seen.remove(&k);
            }
        }
        while self.seen_order.len() >= SEEN_KEEP as usize {
            if let Some((_, k)) = self.seen_order.pop_front() {
                self.seen.remove(&k);
            }
        }
        self.seen.insert(key);
        self.seen_order.push_back((at, key));
    }

    /// Counts a report of `who` at `at`, remembering at most `keep` of their times.
    pub(super) fn count_report(&mut self, who: &Identity, at: Timestamp, keep: u32) {
        self.sweep_reporters(at);
        let e = self.reports_last_hour.entry(who.clone()).or_default();
        e.expire(at);
        e.times.push_back(at);
        while e.times.len() > keep.max(1) as usize {
            e.times.pop_front();
        }
    }
    /// How many reports `who` made in the last hour (up to the limit), and whether the
    /// dispatchers were already told about them.
    pub(super) fn reports_of(&mut self, who: &Identity, at: Timestamp) -> (u32, bool) {
        match self.reports_last_hour.get_mut(who) {
            Some(e) => {
                e.expire(at);
                (e.times.len() as u32, e.warned)
            }
            None => (0, false),
        }
    }
    /// Forgets residents with no report in the last hour, whenever their number has
    /// doubled since the last sweep.
    fn sweep_reporters(&mut self, at: Timestamp) {
        if self.reports_last_hour.len() < RESIDENTS_KEEP.max(2 * self.reporters_swept) {
            return;
        }
        self.reports_last_hour.retain(|_, e| {
            e.expire(at);
            !e.times.is_empty()
        });
        self.reporters_swept = self.reports_last_hour.len();
    }
}

/// How much the engine holds in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkingSet {
    /// Tasks in memory, active or recently closed.
    pub tasks: usize,
    pub active_tasks: usize,
    /// Residents whose language is in memory.
    pub residents: usize,
    pub dialogues: usize,
    /// Redelivery keys remembered.
    pub seen: usize,
    /// Delivered posts remembered.
    pub posts: usize,
    /// Timers in memory (the core's only as far as their window; the rest are on disk).
    pub timers: usize,
}

/// One task's line in a grouped message.
#[derive(Debug, Clone)]
pub struct GroupLine {
    pub task: TaskId,
    pub line: String,
    pub buttons: Vec<crate::channel::Button>,
}

impl GroupLine {
    /// The grouped message's text (the lines, apart by `joiner`) and all their buttons.
    pub fn message(lines: &[GroupLine], joiner: &str) -> (String, Vec<crate::channel::Button>) {
        let text = lines.iter().map(|l| l.line.as_str()).collect::<Vec<_>>().join(joiner);
        (text, lines.iter().flat_map(|l| l.buttons.clone()).collect())
    }
}
