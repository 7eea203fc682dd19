//! What a plugin may see and do: [`PluginCtx`].
//!
//! A plugin never holds a task's text, its reporter or its followers. It sees a
//! [`PluginTask`]: category, status, place keys, times, links and the folded words of
//! the text (enough to match reports). To show one task's text or place to someone, it
//! passes [`PluginArg::TaskText`] / [`PluginArg::TaskPlace`], and the engine renders it
//! for each recipient through the audience model — a private task's text never reaches
//! a person outside its audience, whatever the plugin asks.

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
    pub related: Vec<TaskId>,
}

impl PluginTask {
    fn of(t: &Task) -> PluginTask {
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
    /// Where `task` waits for the town hall: its district's triage room, or the town's.
    pub fn triage_room(&self, task: TaskId) -> String {
        let district = self.cx.st.tasks.get(&task).and_then(|t| t.place.district.clone());
        self.cx.cfg().triage_room(district.as_deref()).to_owned()
    }
    /// Removes every timer of this plugin's about `task`.
    pub fn cancel_timers(&mut self, task: TaskId) {
        let mine: Vec<TimerKey> =
            self.cx.st.timers.keys().filter(|k| k.owner == self.plugin && k.task == task).cloned().collect();
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
