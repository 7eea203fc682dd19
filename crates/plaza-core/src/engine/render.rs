//! Where a card's, a post's and a line's text is made. Every renderer takes the viewer
//! it writes for and asks the audience module what that viewer may see.

use super::audience::{self, Viewer};
use super::*;
use crate::channel::{Button, Capabilities, Outbound};
use crate::text::ellipsize;

impl<'e, 's> Cx<'e, 's> {
    pub(super) fn category_name(&self, t: &Task, lang: &str) -> String {
        match t.category.as_deref().and_then(|c| self.cfg().category(c)) {
            Some(c) => self.cfg().name_in(&c.name, lang).to_owned(),
            None => "?".into(),
        }
    }
    pub(super) fn crew_name(&self, crew: Option<&str>, lang: &str) -> String {
        match crew.and_then(|c| self.cfg().crew(c)) {
            Some(c) => self.cfg().name_in(&c.name, lang).to_owned(),
            None => "?".into(),
        }
    }
    /// Where the task is, as `v` may know it: whole for the reporter, the crew and the
    /// dispatchers; for the public the street with personal data masked and the point to
    /// ~100 m (enough to find a streetlight, not a front door).
    pub(super) fn place_text(&self, t: &Task, v: Viewer) -> String {
        let p = &t.place;
        let public = !v.sees_whole();
        let mut parts = Vec::new();
        if let Some(s) = &p.street {
            parts.push(if public { audience::mask_for_public(t, s) } else { s.clone() });
        }
        if let Some(pt) = &p.point {
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
    pub(super) fn status_label(&self, s: Status, lang: &str) -> String {
        let base = self.t(lang, &format!("status-{}", s.key()), &[]);
        match s.close_reason() {
            Some(r) => format!("{base} ({})", self.t(lang, &format!("close-{}", r.as_str()), &[])),
            None => base,
        }
    }
    pub(super) fn elapsed(&self, ms: i64, lang: &str) -> String {
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
    /// The crew card: the task, its state once it has moved, and how to act on it on
    /// this channel (buttons, reactions or typed commands); nothing to do once it is over.
    pub(super) fn render_card(&self, t: &Task, caps: Capabilities) -> String {
        let lang = self.room_lang();
        let id = t.id.0.to_string();
        let mut text = self.t(
            &lang,
            if t.visibility == Visibility::Private { "task-card-private" } else { "task-card" },
            &[
                ("task", Arg::Str(&id)),
                ("category", Arg::Str(&self.category_name(t, &lang))),
                ("place", Arg::Str(&self.place_text(t, Viewer::Crew))),
                ("description", Arg::Str(&ellipsize(&t.description, 600))),
            ],
        );
        for a in &t.attachments {
            text.push_str(&format!("\n📎 {}: {}", a.kind, a.reference));
        }
        if t.status != Status::Open {
            let status = match (&t.status, self.st.card_actor.get(&t.id)) {
                (Status::InProgress | Status::Resolved | Status::Closed(_), Some(who)) => {
                    format!("{} ({who})", self.status_label(t.status, &lang))
                }
                _ => self.status_label(t.status, &lang),
            };
            text.push('\n');
            text.push_str(&self.t(&lang, "task-card-status", &[("status", Arg::Str(&status))]));
        }
        if t.status.is_active() {
            let how = match (caps.buttons, caps.reactions) {
                (true, _) => "task-card-actions-buttons",
                (false, true) => "task-card-actions-reactions",
                _ => "task-card-actions",
            };
            text.push('\n');
            text.push_str(&self.t(&lang, how, &[("task", Arg::Str(&id))]));
        }
        text
    }
    /// The public post as a channel with replies shows it; `None` for a task the public
    /// may not see.
    pub(super) fn render_public(&self, t: &Task) -> Option<String> {
        self.render_public_for(t, Capabilities { threads: true, ..Capabilities::default() })
    }
    /// The public post for a channel: where there are no replies to a message, it says
    /// how to answer in writing ("#12 …", "yo también #12").
    pub(super) fn render_public_for(&self, t: &Task, caps: Capabilities) -> Option<String> {
        let lang = self.room_lang();
        let how = if caps.threads { "public-how-reply" } else { "public-how-typed" };
        let how = self.t(&lang, how, &[("task", Arg::Str(&t.id.0.to_string()))]);
        let v = self.view(t, Viewer::Public, &lang)?;
        // Who fixed it: the crew, and the first name of a member who agreed to be named.
        let credit = match (t.status, t.crew.as_deref()) {
            (Status::Resolved, Some(crew)) => {
                let crew = self.crew_name(Some(crew), &lang);
                let who = t.feedback.credit.clone().unwrap_or_else(|| "none".into());
                format!(" · {}", self.t(&lang, "public-credit", &[("crew", Arg::Str(&crew)), ("who", Arg::Str(&who))]))
            }
            _ => String::new(),
        };
        Some(self.t(
            &lang,
            "public-post",
            &[
                ("task", Arg::Str(&v.number)),
                ("category", Arg::Str(&v.category)),
                ("place", Arg::Str(&v.place)),
                ("description", Arg::Str(&ellipsize(&v.description, 600))),
                ("status", Arg::Str(&v.status)),
                ("metoo", Arg::Num(t.me_too() as i64)),
                ("credit", Arg::Str(&credit)),
                ("how", Arg::Str(&how)),
            ],
        ))
    }
    pub(super) fn render_triage(&self, t: &Task) -> String {
        let lang = self.room_lang();
        let id = t.id.0.to_string();
        let cats: Vec<&str> = self.cfg().categories.iter().map(|c| c.id.as_str()).collect();
        self.t(
            &lang,
            "triage-card",
            &[
                ("task", Arg::Str(&id)),
                ("place", Arg::Str(&self.place_text(t, Viewer::Dispatcher))),
                ("description", Arg::Str(&ellipsize(&t.description, 600))),
                ("categories", Arg::Str(&cats.join(", "))),
            ],
        )
    }
    /// The card's buttons for the task's state: none once it is over.
    pub(super) fn card_buttons(&self, t: &Task) -> Vec<Button> {
        let lang = self.room_lang();
        let mut b = Vec::new();
        if matches!(t.status, Status::Open | Status::Acknowledged) {
            b.push(Button { label: self.t(&lang, "button-claim", &[]), data: format!("claim:{}", t.id.0) });
        }
        if t.status.is_active() {
            b.push(Button { label: self.t(&lang, "button-done", &[]), data: format!("done:{}", t.id.0) });
            b.push(Button { label: self.t(&lang, "button-note", &[]), data: format!("note:{}", t.id.0) });
        }
        b
    }

    // ----- posts ---------------------------------------------------------------------

    pub(super) fn post_card(&mut self, id: TaskId) {
        self.send_card(id, false);
    }
    /// Brings the crew card up to date as the task moves (status, who, buttons).
    pub(super) fn edit_card(&mut self, id: TaskId) {
        self.send_card(id, true);
    }
    /// The crew card, new or as an edit, worded for what each channel can do.
    fn send_card(&mut self, id: TaskId, edit: bool) {
        let Some(t) = self.st.tasks.get(&id).cloned() else { return };
        let Some(crew) = t.crew.clone() else { return };
        let buttons = self.card_buttons(&t);
        // In a grouped message a task is one line; an edit changes that line.
        let summary = Some(self.summary(status_icon(t.status, "🆕"), &t, Viewer::Crew));
        let outs: Vec<(Capabilities, Outbound)> = self
            .caps_of_room(&crew)
            .into_iter()
            .map(|caps| {
                let out = Outbound {
                    buttons: buttons.clone(),
                    post: (!edit).then_some(PostKind::Card),
                    edit: edit.then_some(PostKind::Card),
                    summary: summary.clone(),
                    ..self.plain_room(&crew, self.render_card(&t, caps), Some(id))
                };
                (caps, out)
            })
            .collect();
        self.room_per_channel(&crew, |caps| Self::for_caps(&outs, caps));
    }
    fn caps_of_room(&self, room: &str) -> Vec<Capabilities> {
        let chans = self.e.room_channels.get(room).cloned().unwrap_or_default();
        chans.iter().map(|c| self.e.capabilities_of(c)).collect()
    }
    fn for_caps(outs: &[(Capabilities, Outbound)], caps: Capabilities) -> Outbound {
        outs.iter().find(|(c, _)| *c == caps).map(|(_, o)| o.clone()).unwrap_or_else(|| outs[0].1.clone())
    }
    pub(super) fn post_public(&mut self, id: TaskId) {
        let Some(t) = self.st.tasks.get(&id) else { return };
        let Some(text) = self.render_public(t) else { return };
        self.st.public_text.insert(id, text.clone());
        let lang = self.room_lang();
        let out = Outbound {
            buttons: vec![Button { label: self.t(&lang, "button-me-too", &[]), data: format!("metoo:{}", id.0) }],
            post: Some(PostKind::Public),
            summary: Some(self.summary("📢", t, Viewer::Public)),
            ..self.plain_room("public", text, Some(id))
        };
        self.public_per_channel(id, out);
    }
    /// The public post to each channel hosting the public room, worded for what it can do.
    fn public_per_channel(&mut self, id: TaskId, out: Outbound) {
        let Some(t) = self.st.tasks.get(&id) else { return };
        let outs: Vec<(Capabilities, Outbound)> = self
            .caps_of_room("public")
            .into_iter()
            .map(|caps| {
                let text = self.render_public_for(t, caps).unwrap_or_else(|| out.text.clone());
                (caps, Outbound { text, ..out.clone() })
            })
            .collect();
        if outs.is_empty() {
            self.room("public", out);
        } else {
            self.room_per_channel("public", |caps| Self::for_caps(&outs, caps));
        }
    }
    /// One line for a task in a grouped message: "🆕 #12 · Alumbrado público · calle Real 1 · «…»".
    pub(super) fn summary(&self, icon: &str, t: &Task, v: Viewer) -> String {
        let lang = self.room_lang();
        let description = audience::description_for(t, v).unwrap_or_default();
        format!(
            "{icon} #{} · {} · {} · «{}»",
            t.id.0,
            self.category_name(t, &lang),
            self.place_text(t, v),
            ellipsize(&description.replace('\n', " "), 90)
        )
    }
    /// Whether the task's public post was delivered on some channel.
    pub(super) fn has_public_post(&self, id: TaskId) -> bool {
        self.e
            .room_channels
            .get("public")
            .is_some_and(|chans| chans.iter().any(|ch| self.st.post_of(id, ch, "public", PostKind::Public).is_some()))
    }
    /// Brings the public post up to date (nothing for a task the public may not see, and
    /// no edit that changes nothing).
    pub(super) fn edit_public(&mut self, id: TaskId) {
        let Some(t) = self.st.tasks.get(&id) else { return };
        let Some(text) = self.render_public(t) else { return };
        if self.st.public_text.get(&id) == Some(&text) {
            return;
        }
        self.st.public_text.insert(id, text.clone());
        let lang = self.room_lang();
        // The post keeps its 👍 button while there is something to support.
        let buttons = match t.status.is_active() {
            true => vec![Button { label: self.t(&lang, "button-me-too", &[]), data: format!("metoo:{}", id.0) }],
            false => vec![],
        };
        let summary = Some(self.summary(status_icon(t.status, "📢"), t, Viewer::Public));
        let out =
            Outbound { buttons, summary, edit: Some(PostKind::Public), ..self.plain_room("public", text, Some(id)) };
        self.public_per_channel(id, out);
    }
    /// Withdraws the public post: the adapter removes its text from the room's history
    /// where it can and leaves a neutral line. Harmless if it was never delivered (the
    /// post itself is then held back at delivery).
    pub(super) fn withdraw_public(&mut self, id: TaskId) {
        self.st.public_text.remove(&id);
        let rl = self.room_lang();
        let text = self.t(&rl, "public-withdrawn", &[("task", Arg::Str(&id.0.to_string()))]);
        let out =
            Outbound { edit: Some(PostKind::Public), withdraw: true, ..self.plain_room("public", text, Some(id)) };
        self.room("public", out);
    }
}

/// A task's icon in a one-line summary: `new` while open, then its state.
fn status_icon(s: Status, new: &'static str) -> &'static str {
    match s {
        Status::Open => new,
        Status::Acknowledged => "👀",
        Status::InProgress => "🔧",
        Status::Resolved => "✅",
        Status::Closed(_) => "✖",
    }
}
