//! A resident's data rights: a copy of everything Plaza keeps about them ("mis datos"),
//! its erasure ("borrar mis datos", confirmed), and the retention setting that
//! anonymises reporters of tasks closed long ago. Tasks stay, anonymous, for the town's
//! statistics; the reporter's identity, name and free text go.

use super::*;
use crate::channel::Outbound;
use crate::dialogue::Dialogue;

/// Longest message of a data export; longer exports are sent in parts.
const EXPORT_CHARS: usize = 3_500;

/// "2026-11-27 08:30 UTC" for a timestamp.
pub(super) fn utc(ts: Timestamp) -> String {
    let secs = ts.0.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, (rem % 3600) / 60)
}

/// Removes a reporter from a task: identity, name, free text, exact place, photos.
pub(super) fn anonymise(t: &mut Task) {
    t.reporter = Identity::erased();
    t.reporter_name = None;
    t.description.clear();
    t.place.street = None;
    if let Some(p) = &mut t.place.point {
        p.lat = (p.lat * 1000.0).round() / 1000.0;
        p.lon = (p.lon * 1000.0).round() / 1000.0;
    }
    t.attachments.clear();
}

impl Engine {
    /// A direct message asking for one's own data.
    pub(super) fn wants_own_data(&self, inb: &Inbound) -> bool {
        match (&inb.chat, &inb.kind) {
            (Chat::Direct, InboundKind::Text { text }) => self.cfg.is_phrase(text, |h| &h.my_data),
            _ => false,
        }
    }
}

impl<'e, 's> Cx<'e, 's> {
    /// Sends `inb.sender` everything kept about them (read from the store by the caller).
    pub(super) fn send_own_data(&mut self, inb: &Inbound, data: PersonData) {
        let who = &inb.sender;
        let lang = self.lang_of(who);
        let mut lines = vec![self.t(
            &lang,
            "data-export-header",
            &[("town", Arg::Str(&self.cfg().town.name)), ("identity", Arg::Str(&who.to_string()))],
        )];
        if let Some(l) = &data.language {
            lines.push(self.t(&lang, "data-export-language", &[("language", Arg::Str(l))]));
        }
        for t in &data.reported {
            // The working set may be newer than the disk by a message or two.
            let t = self.st.tasks.get(&t.id).filter(|m| m.reporter == *who).unwrap_or(t);
            lines.push(self.t(
                &lang,
                "data-export-task",
                &[
                    ("task", Arg::Str(&t.id.0.to_string())),
                    ("date", Arg::Str(&utc(t.created_at))),
                    ("category", Arg::Str(&self.category_name(t, &lang))),
                    ("status", Arg::Str(&self.status_label(t.status, &lang))),
                    ("description", Arg::Str(&t.description)),
                    ("place", Arg::Str(&self.place_text(t, audience::Viewer::Reporter))),
                ],
            ));
        }
        if !data.following.is_empty() {
            let ids: Vec<String> = data.following.iter().map(|t| format!("#{}", t.0)).collect();
            lines.push(self.t(&lang, "data-export-following", &[("tasks", Arg::Str(&ids.join(", ")))]));
        }
        // The notices they asked for (kept in memory, all of them).
        let mut notices: Vec<String> = self
            .st
            .subscriptions
            .iter()
            .filter(|(_, s)| s.contains(&inb.sender))
            .map(|(d, _)| match self.cfg().district(d) {
                Some(x) => self.cfg().name_in(&x.name, &lang).to_owned(),
                None => self.cfg().town.name.clone(),
            })
            .collect();
        notices.sort();
        if !notices.is_empty() {
            lines.push(self.t(&lang, "data-export-notices", &[("districts", Arg::Str(&notices.join(", ")))]));
        }
        for e in &data.events {
            let text = match &e.kind {
                EventKind::Comment { text } | EventKind::Detail { text } | EventKind::Note { text } => text.clone(),
                EventKind::Status { to, note, .. } => {
                    let s = self.status_label(*to, &lang);
                    match note {
                        Some(n) => format!("{s}: {n}"),
                        None => s,
                    }
                }
                _ => String::new(),
            };
            lines.push(self.t(
                &lang,
                "data-export-event",
                &[
                    ("task", Arg::Str(&e.task.0.to_string())),
                    ("date", Arg::Str(&utc(e.at))),
                    ("what", Arg::Str(e.kind.name())),
                    ("text", Arg::Str(&text)),
                ],
            ));
        }
        if let Some(d) = &data.dialogue {
            let what = match d {
                Dialogue::Category { draft, .. }
                | Dialogue::Location { draft, .. }
                | Dialogue::Problem { draft, .. } => draft.text.clone(),
                Dialogue::ConfirmErase { .. } | Dialogue::Rate { .. } => String::new(),
            };
            lines.push(self.t(&lang, "data-export-dialogue", &[("text", Arg::Str(&what))]));
        }
        if data.reported.is_empty() && data.events.is_empty() && data.following.is_empty() {
            lines.push(self.t(&lang, "data-export-nothing", &[]));
        }
        lines.push(self.t(&lang, "data-export-footer", &[]));
        // Parts within a platform's message size, split between lines.
        let mut part = String::new();
        for l in lines {
            if !part.is_empty() && part.chars().count() + l.chars().count() + 1 > EXPORT_CHARS {
                self.dm(who, std::mem::take(&mut part), None);
            }
            if !part.is_empty() {
                part.push('\n');
            }
            part.push_str(&crate::text::ellipsize(&l, EXPORT_CHARS));
        }
        if !part.is_empty() {
            self.dm(who, part, None);
        }
        info!(who = %who, "data export sent");
    }

    /// Erases `who`: their identity and free text leave every task, event, dialogue and
    /// undelivered message (the store does the same on disk); they get one last message.
    pub(super) fn erase_person(&mut self, who: &Identity, lang: &str) {
        let mut changed = Vec::new();
        for t in self.st.tasks.values_mut() {
            let mut touched = false;
            if t.reporter == *who {
                anonymise(t);
                touched = true;
            }
            let before = (t.followers.len(), t.supporters.len());
            t.followers.retain(|f| f != who);
            t.supporters.retain(|f| f != who);
            touched |= before != (t.followers.len(), t.supporters.len());
            if t.assignee.as_ref() == Some(who) {
                t.assignee = Some(Identity::erased());
                touched = true;
            }
            if touched {
                changed.push(t.id);
            }
        }
        for id in &changed {
            self.touch(*id);
            self.event(*id, None, EventKind::Anonymised);
            self.edit_public(*id);
        }
        self.st.last_task_of.remove(who);
        self.st.awaiting.remove(who);
        for subs in self.st.subscriptions.values_mut() {
            subs.remove(who);
        }
        self.st.credits.remove(who);
        self.st.residents.remove(who);
        self.end_dialogue(who);
        self.tx.batch.erase.push(who.clone());
        let m = self.t(lang, "erase-done", &[]);
        let out = Outbound { farewell: true, ..Outbound::new(Destination::Direct(who.clone()), m, None) };
        self.tx.batch.outbox.push(crate::store::NewOutbox { channel: who.channel().to_owned(), message: out });
        info!(tasks = changed.len(), "a resident's data was erased at their request");
    }

    /// Applies `[privacy] retention_days` at most once an hour of the engine's clock.
    pub(super) fn apply_retention(&mut self) {
        let Some(days) = self.cfg().privacy.retention_days else { return };
        {
            let mut ran = self.e.retention_ran.lock().unwrap_or_else(|p| p.into_inner());
            if ran.is_some_and(|r| r.plus_minutes(RETENTION_EVERY_MINUTES) > self.now) {
                return;
            }
            *ran = Some(self.now);
        }
        let before = self.now.plus_minutes(-days.saturating_mul(24 * 60));
        let mut changed = Vec::new();
        for t in self.st.tasks.values_mut() {
            let ended = match t.status {
                Status::Resolved => t.resolved_at,
                Status::Closed(_) => t.closed_at,
                _ => None,
            };
            if ended.is_some_and(|e| e < before) && !t.reporter.is_erased() {
                anonymise(t);
                t.followers.clear();
                t.supporters.clear();
                changed.push(t.id);
            }
        }
        for id in changed {
            self.touch(id);
            self.event(id, None, EventKind::Anonymised);
        }
        self.tx.batch.retention_before = Some(before);
    }
}
