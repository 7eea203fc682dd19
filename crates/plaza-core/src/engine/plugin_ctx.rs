//! What a plugin may see and do: [`PluginCtx`].
//!
//! A plugin never holds a task's text, its reporter or its followers. It sees a
//! [`PluginTask`]: category, status, place keys, times, links and the folded words of
//! the text (enough to match reports). To show one task's text or place to someone, it
//! passes [`PluginArg::TaskText`] / [`PluginArg::TaskPlace`], and the engine renders it
//! for each recipient through the audience model — a private task's text never reaches
//! a person outside its audience, whatever the plugin asks.

use std::collections::BTreeSet;

use super::audience::{self, Viewer};
use super::*;
use crate::channel::Outbound;
use crate::text::words;

/// What a plugin may see and do.
pub struct PluginCtx<'e, 's> {
    pub(super) cx: Cx<'e, 's>,
    pub(super) plugin: &'s str,
}

/// A task as a plugin sees it: no text, no people.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginTask {
    pub id: TaskId,
    pub category: Option<String>,
    /// The crew it is with (None while it waits in triage).
    pub crew: Option<String>,
    pub status: Status,
    pub visibility: Visibility,
    /// The folded words of the report (lower case, no accents), for matching.
    pub words: Vec<String>,
    /// Folded street name without the house number.
    pub street_key: Option<String>,
    pub point: Option<GeoPoint>,
    pub created_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// The reporter's rating of the fix (1 to 5), if given.
    pub rating: Option<u8>,
    pub duplicate_of: Option<TaskId>,
    pub related: Vec<TaskId>,
}

impl PluginTask {
    pub(super) fn of(t: &Task) -> PluginTask {
        PluginTask {
            id: t.id,
            category: t.category.clone(),
            crew: t.crew.clone(),
            status: t.status,
            visibility: t.visibility,
            words: words(&t.description),
            street_key: t.place.street_key.clone(),
            point: t.place.point,
            created_at: t.created_at,
            acknowledged_at: t.acknowledged_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
            rating: t.feedback.rating,
            duplicate_of: t.duplicate_of,
            related: t.related.clone(),
        }
    }
}

/// A value in a plugin's message, rendered for each recipient.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginArg {
    Text(String),
    Num(i64),
    /// A locale message id, in the recipient's language.
    Message(&'static str),
    /// A task's text as the recipient may read it (whole, masked, or the locale's
    /// `private-text` when they may not).
    TaskText(TaskId),
    /// A task's place as the recipient may know it.
    TaskPlace(TaskId),
    /// A task's category, named in the recipient's language.
    TaskCategory(TaskId),
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
    pub fn task(&self, id: TaskId) -> Option<PluginTask> {
        self.cx.st.tasks.get(&id).map(PluginTask::of)
    }
    /// Active tasks of a category, newest first.
    pub fn active_tasks(&self, category: &str) -> Vec<PluginTask> {
        self.cx
            .st
            .active_by_category
            .get(category)
            .map(|s| s.iter().rev().filter_map(|id| self.cx.st.tasks.get(id)).map(PluginTask::of).collect())
            .unwrap_or_default()
    }
    /// Sets (or moves) this plugin's timer `key` about `task` (or none) to `at`; when it
    /// is due, [`Plugin::on_timer`](crate::plugin::Plugin::on_timer) runs.
    pub fn set_timer(&mut self, task: Option<TaskId>, key: &str, at: Timestamp) {
        let k = TimerKey { owner: self.plugin.to_owned(), task: task.unwrap_or(TaskId(0)), key: key.to_owned() };
        self.cx.set_timer(k, at);
    }
    /// Removes this plugin's timer, if set.
    pub fn cancel_timer(&mut self, task: Option<TaskId>, key: &str) {
        let k = TimerKey { owner: self.plugin.to_owned(), task: task.unwrap_or(TaskId(0)), key: key.to_owned() };
        self.cx.cancel_timer(&k);
    }
    /// The category the town's keywords (and what dispatchers taught) give `text`, when
    /// they are confident.
    pub fn classify(&self, text: &str) -> Option<String> {
        match self.cx.classify(text) {
            crate::classify::Classification::Confident { category, .. } => Some(category),
            _ => None,
        }
    }
    /// A public task announced by staff (`by`: a crew member or a dispatcher), of a public
    /// category, at a street or for a whole district (or neither: the whole town), handled
    /// by the crew of that district for it: posted to its crew and in public
    /// like any report; `by` gets no resident's acknowledgement. None if the category is
    /// unknown or private.
    pub fn announce_task(
        &mut self,
        by: &Identity,
        text: &str,
        category: &str,
        street: Option<(String, String)>,
        district: Option<String>,
    ) -> Option<TaskId> {
        let cat = self.cx.cfg().category(category).filter(|c| c.visibility == Visibility::Public)?;
        let cat = cat.id.clone();
        let mut place =
            Place { district: district.filter(|d| self.cx.cfg().district(d).is_some()), ..Place::default() };
        if let Some((street, key)) = street {
            place.street = Some(street);
            place.street_key = Some(key);
        }
        let lang = self.cx.room_lang();
        let draft = crate::dialogue::Draft { text: text.to_owned(), language: lang, place, attachments: vec![] };
        let before = self.cx.st.last_id;
        self.cx.tx.announcing = true;
        self.cx.create_task(by, draft, Some(&cat), false);
        self.cx.tx.announcing = false;
        (self.cx.st.last_id > before).then_some(TaskId(self.cx.st.last_id))
    }
    /// The street a text names, as the town writes it, and its key: (shown, key).
    pub fn street_of(&self, text: &str) -> Option<(String, String)> {
        self.cx.street_in(text)
    }
    /// Makes `who` a follower of a public, active task (told of every step from now on,
    /// counted on its post like a "me too"), keeping what they wrote, if anything, for the
    /// crew (never shown in public). False if the task is not public and active.
    pub fn add_follower(&mut self, task: TaskId, who: &Identity, wrote: Option<&str>) -> bool {
        let Some(t) = self.cx.st.tasks.get_mut(&task) else { return false };
        if !audience::is_public(t) || !t.status.is_active() || t.reporter == *who {
            return false;
        }
        if !t.supporters.contains(who) {
            t.supporters.push(who.clone());
        }
        if !t.followers.contains(who) {
            t.followers.push(who.clone());
        }
        t.updated_at = self.cx.now;
        self.cx.touch(task);
        self.cx.event(task, Some(who), EventKind::MeToo);
        if let Some(text) = wrote.filter(|t| !t.trim().is_empty()) {
            self.cx.event(task, Some(who), EventKind::Detail { text: text.to_owned() });
        }
        self.cx.edit_public(task);
        true
    }
    /// Tells one person the locale message `id`, rendered as they may read `task`.
    pub fn tell(&mut self, who: &Identity, task: TaskId, id: &str, args: &[(&str, PluginArg)]) {
        let Some(t) = self.cx.st.tasks.get(&task) else { return };
        let cfg = self.cx.cfg();
        if audience::viewer(cfg, t, who) == Viewer::Nobody {
            return;
        }
        let lang = self.cx.lang_of(who);
        let text = self.render(&lang, id, args, |other| audience::viewer(cfg, other, who));
        self.cx.dm(who, text, Some(task));
    }
    /// Answers the message being handled where it was written (its sender's chat, or the
    /// room), in the room language there; `task` is rendered for that audience.
    pub fn reply(&mut self, task: Option<TaskId>, id: &str, args: &[(&str, PluginArg)]) {
        let Some((who, chat)) = self.cx.tx.chat.clone() else { return };
        let cfg = self.cx.cfg();
        match chat {
            Chat::Room(room) if room != "public" => {
                let lang = self.cx.room_lang();
                let text = self.render(&lang, id, args, |other| audience::room_viewer(cfg, other, &room));
                self.cx.room(&room, self.cx.plain_room(&room, text, task));
            }
            _ => {
                let lang = self.cx.lang_of(&who);
                let text = self.render(&lang, id, args, |other| audience::viewer(cfg, other, &who));
                self.cx.dm(&who, text, task);
            }
        }
    }
    /// Marks a task resolved (by the town, not a person: nobody is asked "is it fixed?"),
    /// telling everyone who hears of it the locale message `id` instead of the usual one.
    pub fn resolve(&mut self, task: TaskId, id: &str, args: &[(&str, PluginArg)]) {
        if self.cx.st.tasks.get(&task).is_some_and(|t| t.status.is_active()) {
            self.tell_audience(task, id, args);
            self.cx.tx.quiet = true;
            self.cx.set_status(task, Status::Resolved, None, None);
            self.cx.tx.quiet = false;
        }
    }
    /// This plugin's timers: (task, key, when due).
    pub fn timers(&self) -> Vec<(Option<TaskId>, String, Timestamp)> {
        let mut v: Vec<_> = self
            .cx
            .st
            .timers_of(self.plugin, None)
            .map(|(k, due)| ((k.task.0 > 0).then_some(k.task), k.key.clone(), *due))
            .collect();
        v.sort_by(|a, b| (a.2, &a.1).cmp(&(b.2, &b.1)));
        v
    }
    /// For a timer whose plugin asked for a period ([`Plugin::period_for_timer`]): every
    /// task created or ended in it, and every task open now. Empty otherwise.
    pub fn period_tasks(&self) -> &[PluginTask] {
        &self.cx.tx.period
    }
    /// A locale message in the rooms' language (no task in it: a summary's line).
    pub fn text(&self, id: &str, args: &[(&str, PluginArg)]) -> String {
        let lang = self.cx.room_lang();
        self.render(&lang, id, args, |_| Viewer::Nobody)
    }
    /// Posts a text made of [`PluginCtx::text`] lines in a room (no task: a summary).
    pub fn post(&mut self, room: &str, text: String) {
        self.cx.room(room, self.cx.plain_room(room, text, None));
    }
    /// `who` asks for (`on`) or stops the town's notices of `district` (None: the whole
    /// town's). Kept until they stop them or erase their data.
    pub fn subscribe(&mut self, who: &Identity, district: Option<&str>, on: bool) {
        let d = district.unwrap_or("").to_owned();
        let set = self.cx.st.subscriptions.entry(d.clone()).or_default();
        let changed = if on { set.insert(who.clone()) } else { set.remove(who) };
        if changed {
            self.cx.tx.batch.subscriptions.push((who.clone(), d, on));
        }
    }
    /// Stops every notice `who` asked for; how many there were.
    pub fn unsubscribe_all(&mut self, who: &Identity) -> usize {
        let ds: Vec<String> =
            self.cx.st.subscriptions.iter().filter(|(_, s)| s.contains(who)).map(|(d, _)| d.clone()).collect();
        for d in &ds {
            let d = (!d.is_empty()).then_some(d.as_str());
            self.subscribe(who, d, false);
        }
        ds.len()
    }
    /// Tells everyone who asked for notices of `district` (and of the whole town) the
    /// locale message `id`, each in their language — a notice for the whole town (None)
    /// reaches every one who asked for any; returns how many were told. The plugin never
    /// learns who they are.
    pub fn notify_subscribers(&mut self, district: Option<&str>, id: &str, args: &[(&str, PluginArg)]) -> usize {
        let who: BTreeSet<Identity> = self
            .cx
            .st
            .subscriptions
            .iter()
            .filter(|(d, _)| d.is_empty() || district.is_none_or(|x| x == d.as_str()))
            .flat_map(|(_, s)| s.iter().cloned())
            .collect();
        for w in &who {
            let lang = self.cx.lang_of(w);
            let text = self.render(&lang, id, args, |_| Viewer::Public);
            self.cx.dm_unasked(w, text, None);
        }
        who.len()
    }
    /// The district of `who`'s latest report, if memory has it.
    pub fn district_of_resident(&self, who: &Identity) -> Option<String> {
        let id = self.cx.st.last_task_of.get(who)?;
        self.cx.st.tasks.get(id)?.place.district.clone()
    }
    /// Where `task` waits for the town hall: its district's triage room, or the town's.
    pub fn triage_room(&self, task: TaskId) -> String {
        let district = self.cx.st.tasks.get(&task).and_then(|t| t.place.district.clone());
        self.cx.cfg().triage_room(district.as_deref()).to_owned()
    }
    /// Removes every timer of this plugin's about `task`.
    pub fn cancel_timers(&mut self, task: TaskId) {
        let mine: Vec<TimerKey> = self.cx.st.timers_of(self.plugin, Some(task)).map(|(k, _)| k.clone()).collect();
        for k in mine {
            self.cx.cancel_timer(&k);
        }
    }
    /// Records that two tasks are related (both ways).
    pub fn link_related(&mut self, a: TaskId, b: TaskId) {
        self.cx.link_related(a, b);
    }

    fn render(&self, lang: &str, id: &str, args: &[(&str, PluginArg)], v_of: impl Fn(&Task) -> Viewer) -> String {
        let values: Vec<(&str, String, Option<i64>)> = args
            .iter()
            .map(|(k, a)| {
                let (s, n) = match a {
                    PluginArg::Text(s) => (s.clone(), None),
                    PluginArg::Num(n) => (String::new(), Some(*n)),
                    PluginArg::Message(m) => (self.cx.t(lang, m, &[]), None),
                    PluginArg::TaskText(t) => {
                        let text = self.cx.st.tasks.get(t).and_then(|t| audience::description_for(t, v_of(t)));
                        (text.unwrap_or_else(|| self.cx.t(lang, "private-text", &[])), None)
                    }
                    PluginArg::TaskCategory(t) => {
                        let name = match self.cx.st.tasks.get(t) {
                            Some(t) if t.category.is_some() => self.cx.category_name(t, lang),
                            _ => self.cx.t(lang, "web-stats-triage", &[]),
                        };
                        (name, None)
                    }
                    PluginArg::TaskPlace(t) => {
                        let place = self.cx.st.tasks.get(t).and_then(|t| {
                            let v = v_of(t);
                            (v != Viewer::Nobody).then(|| self.cx.place_text(t, v))
                        });
                        (place.unwrap_or_else(|| self.cx.t(lang, "private-text", &[])), None)
                    }
                };
                (*k, s, n)
            })
            .collect();
        let a: Vec<(&str, Arg<'_>)> = values
            .iter()
            .map(|(k, s, n)| match n {
                Some(n) => (*k, Arg::Num(*n)),
                None => (*k, Arg::Str(s.as_str())),
            })
            .collect();
        self.cx.t(lang, id, &a)
    }

    /// Tells everyone who hears of `task` now (its reporter; its followers while it is
    /// public), each in their language, the locale message `id` with `args` rendered for
    /// them.
    pub fn tell_audience(&mut self, task: TaskId, id: &str, args: &[(&str, PluginArg)]) {
        let Some(t) = self.cx.st.tasks.get(&task) else { return };
        let mut out = Vec::new();
        for (who, _) in self.cx.recipients(t) {
            let lang = self.cx.lang_of(&who);
            let cfg = self.cx.cfg();
            let text = self.render(&lang, id, args, |other| audience::viewer(cfg, other, &who));
            out.push((who, text));
        }
        for (who, text) in out {
            self.cx.dm(&who, text, Some(task));
        }
    }
    /// Posts a locale message in a room (a crew id, `public`, `triage`), in the thread of
    /// the task's post there; nothing if the room may not see the task.
    pub fn post_in_thread(&mut self, room: &str, task: TaskId, id: &str, args: &[(&str, PluginArg)]) {
        let Some(t) = self.cx.st.tasks.get(&task) else { return };
        let cfg = self.cx.cfg();
        if audience::room_viewer(cfg, t, room) == Viewer::Nobody {
            return;
        }
        let lang = self.cx.room_lang();
        let text = self.render(&lang, id, args, |other| audience::room_viewer(cfg, other, room));
        let kind = if room == "public" { PostKind::Public } else { PostKind::Card };
        self.cx.room(room, Outbound { thread: Some(kind), ..self.cx.plain_room(room, text, Some(task)) });
    }
}
