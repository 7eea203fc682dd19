//! A task's lifecycle and who hears of it: status changes, visibility changes (events
//! with consequences), me-too, neighbours' replies.

use tracing::info;

use super::audience::{self, Viewer};
use super::*;
use crate::text::ellipsize;

impl<'e, 's> Cx<'e, 's> {
    pub(super) fn set_status(&mut self, id: TaskId, to: Status, actor: Option<&Identity>, note: Option<String>) {
        let now = self.now;
        let credit = match (to, actor) {
            (Status::Resolved, Some(a)) => {
                let crew = self.st.tasks.get(&id).and_then(|t| t.crew.clone());
                self.credit_name(crew.as_deref(), a)
            }
            _ => None,
        };
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
            Status::Resolved => {
                t.resolved_at = Some(now);
                t.feedback.credit = credit;
            }
            Status::Closed(_) => t.closed_at = Some(now),
            Status::Open => {
                t.resolved_at = None;
                t.closed_at = None;
            }
        }
        let was_asked = t.awaits_answer();
        if to != Status::Resolved {
            // A question about a fix that is no longer the latest word goes unanswered.
            t.feedback.confirmation = t.feedback.confirmation.filter(|c| *c != Confirmation::Asked);
            t.feedback.credit = None;
        }
        let t = t.clone();
        if to != Status::Resolved && was_asked {
            self.cancel_timer(&super::feedback::confirm_timer(id));
        }
        self.st.index_task(&t);
        self.touch(id);
        self.event(id, actor, EventKind::Status { from, to, note: note.clone() });
        match actor.map(|a| self.sender_name.clone().unwrap_or_else(|| a.id().to_owned())) {
            Some(who) => self.st.card_actor.insert(id, who),
            None => self.st.card_actor.remove(&id),
        };
        self.edit_card(id);
        let ids = id.0.to_string();
        let elapsed_ms = now.since(t.created_at);
        self.tell_audience(id, |cx, l, v| {
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
                let n = if v.sees_whole() { n.clone() } else { audience::mask_for_public(&t, n) };
                m.push('\n');
                m.push_str(&cx.t(l, "note-line", &[("note", Arg::Str(&n))]));
            }
            m
        });
        if to == Status::Resolved && from != Status::Resolved && actor.is_some() {
            self.ask_fixed(id);
        }
        self.edit_public(id);
        for p in self.e.plugins.clone() {
            let mut pc = PluginCtx { cx: self.sub(), plugin: p.name() };
            p.on_status_change(&mut pc, id, from, to);
        }
    }

    pub(super) fn me_too(&mut self, who: &Identity, id: TaskId) {
        let Some(t) = self.st.tasks.get_mut(&id) else { return };
        if !audience::is_public(t) || *who == t.reporter || t.supporters.contains(who) {
            return;
        }
        if !t.status.is_active() {
            // Nothing left to support: say how it ended instead.
            let t = t.clone();
            let lang = self.lang_of(who);
            if let Some(m) = self.status_text(&t, Viewer::Public, &lang) {
                self.dm(who, m, Some(id));
            }
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
        self.dm_unasked(who, m, Some(id));
    }

    pub(super) fn on_public_reply(&mut self, sender: &Identity, id: TaskId, text: &str) {
        if self.is_me_too(text) {
            self.me_too(sender, id);
            return;
        }
        let Some(t) = self.st.tasks.get(&id) else { return };
        if !audience::is_public(t) {
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

    /// `estado #N` as `v` may read it; `None` when `v` may not know the task exists.
    pub(super) fn status_text(&self, t: &Task, v: Viewer, lang: &str) -> Option<String> {
        let view = self.view(t, v, lang)?;
        Some(self.t(
            lang,
            "task-status",
            &[
                ("task", Arg::Str(&view.number)),
                ("category", Arg::Str(&view.category)),
                ("status", Arg::Str(&view.status)),
                ("place", Arg::Str(&view.place)),
            ],
        ))
    }

    /// The task becomes private: its public post is withdrawn, its public followers are
    /// dropped (each told, neutrally, that it is now handled privately), and only an
    /// explicit `publico` makes it public again.
    pub(super) fn make_private(&mut self, id: TaskId, actor: Option<&Identity>) {
        let Some(t) = self.st.tasks.get_mut(&id) else { return };
        let was_public = audience::is_public(t);
        let changed = t.visibility != Visibility::Private;
        t.visibility = Visibility::Private;
        t.sealed = true;
        t.updated_at = self.now;
        let reporter = t.reporter.clone();
        let dropped: Vec<Identity> = t.followers.drain(..).filter(|f| *f != reporter).collect();
        t.supporters.clear();
        self.touch(id);
        if changed {
            self.event(id, actor, EventKind::Visibility { to: Visibility::Private });
        }
        if was_public {
            self.withdraw_public(id);
        }
        for f in dropped {
            let lang = self.lang_of(&f);
            let m = self.t(&lang, "notify-now-private", &[("task", Arg::Str(&id.0.to_string()))]);
            // Not "about" the task any more: this line must reach them although they no
            // longer may see it.
            self.dm(&f, m, None);
        }
        info!(task = id.0, "task made private");
    }

    /// The task becomes public (a dispatcher's `publico`, or an unsealed task given a
    /// public category): posted, or its post brought up to date.
    pub(super) fn make_public(&mut self, id: TaskId, actor: Option<&Identity>) {
        let Some(t) = self.st.tasks.get_mut(&id) else { return };
        let changed = t.visibility != Visibility::Public;
        t.visibility = Visibility::Public;
        t.sealed = false;
        t.updated_at = self.now;
        self.touch(id);
        if changed {
            self.event(id, actor, EventKind::Visibility { to: Visibility::Public });
        }
        // A post withdrawn before is gone (redacted, deleted): publish anew.
        if self.has_public_post(id) && !changed {
            self.edit_public(id);
        } else {
            self.post_public(id);
        }
    }

    /// Records that two tasks are related (both ways): the crews see the link.
    pub(super) fn link_related(&mut self, a: TaskId, b: TaskId) {
        for (x, y) in [(a, b), (b, a)] {
            if let Some(t) = self.st.tasks.get_mut(&x)
                && !t.related.contains(&y)
            {
                t.related.push(y);
                self.touch(x);
                self.event(x, None, EventKind::LinkedRelated { to: y });
            }
        }
    }
}
