//! What the reporter says of a fix. When a crew marks a task done its reporter is asked
//! "is it fixed?" (numbered, buttons where the channel has them): yes confirms it and
//! asks an optional rating from 1 to 5; no reopens it, tells the crew in the resident's
//! words and puts it back on the board; no answer within `[engine] confirm_hours` closes
//! it as fixed. A "thank you" after a fix is relayed to the crew's room — never the other
//! way round: the crew learns nothing about who the resident is.
//!
//! Timers live here too: work at a time of the engine's clock, kept in the store, run by
//! [`Engine::tick`] (the core's own, and plugins' through [`PluginCtx`]).

use tracing::debug;

use super::*;
use crate::channel::{Button, Outbound};
use crate::dialogue::Dialogue;
use crate::text::words;

/// The core's timers' owner name (plugins use theirs).
pub(super) const CORE: &str = crate::store::CORE_TIMERS;
/// The core timer that closes a task whose reporter never answered "is it fixed?".
const CONFIRM_TIMER: &str = "confirm";
/// A thank-you within this many days of a fix is relayed to the crew.
const THANKS_DAYS: i64 = 7;

/// What a text says to "is it fixed?", whatever the task.
pub(super) enum FixAnswer {
    No,
    Yes { thanks: bool },
}

/// Whether `text` answers "is it fixed?" and how: "2" or a no-phrase ("no", "no, sigue
/// apagada", "still broken": the whole text, its first word, or a phrase of several
/// words somewhere in it), "1", a yes-phrase or thanks. Read without the task, so that
/// a fix out of memory is read back only for a text that may answer it.
pub(super) fn fix_answer(cfg: &crate::config::Config, text: &str) -> Option<FixAnswer> {
    let number = text.trim().trim_end_matches(['.', ')']);
    let ws = words(text);
    let first = ws.first().map(String::as_str).unwrap_or_default();
    let no = number == "2"
        || cfg.is_phrase(text, |h| &h.no)
        || cfg.is_phrase(first, |h| &h.no)
        || cfg.language.values().flat_map(|h| h.no.iter()).any(|p| {
            let p = crate::text::phrase(p);
            p.len() > 1 && crate::text::contains_phrase(&ws, &p)
        });
    if no {
        return Some(FixAnswer::No);
    }
    let thanks = cfg.is_phrase(text, |h| &h.thanks);
    (number == "1" || is_yes(cfg, text) || thanks).then_some(FixAnswer::Yes { thanks })
}

/// "sí", "yes, thank you": a yes-phrase, or one as the first word.
pub(super) fn is_yes(cfg: &crate::config::Config, text: &str) -> bool {
    let first = words(text).into_iter().next().unwrap_or_default();
    cfg.is_phrase(text, |h| &h.yes) || cfg.is_phrase(&first, |h| &h.yes)
}

pub(super) fn confirm_timer(id: TaskId) -> TimerKey {
    TimerKey { owner: CORE.into(), task: id, key: CONFIRM_TIMER.into() }
}

impl<'e, 's> Cx<'e, 's> {
    pub(super) fn set_timer(&mut self, key: TimerKey, due: Timestamp) {
        self.st.set_timer(key.clone(), due);
        self.tx.batch.timers.push((key, Some(due)));
    }
    /// Cancels a timer. A core timer may be in the store only (beyond the window in
    /// memory): the core cancels its own only when it knows they are set.
    pub(super) fn cancel_timer(&mut self, key: &TimerKey) {
        if self.st.cancel_timer(key) || key.owner == CORE {
            self.tx.batch.timers.push((key.clone(), None));
        }
    }

    /// Runs one due timer (already removed from the set ones).
    pub(super) fn run_timer(&mut self, key: &TimerKey) {
        if key.owner == CORE {
            if key.key == CONFIRM_TIMER {
                self.confirm_timed_out(key.task);
            }
            return;
        }
        let Some(p) = self.e.plugins.iter().find(|p| p.name() == key.owner).cloned() else {
            debug!(owner = %key.owner, "a timer of a plugin that is not enabled; dropped");
            return;
        };
        let mut pc = PluginCtx { cx: self.sub(), plugin: p.name() };
        let task = (key.task.0 > 0).then_some(key.task);
        p.on_timer(&mut pc, task, &key.key);
    }

    /// A task was marked done: its reporter is asked whether it is fixed (unless the
    /// town does not ask, or the reporter cannot answer: an API client, erased data).
    pub(super) fn ask_fixed(&mut self, id: TaskId) {
        let hours = self.cfg().engine.confirm_hours;
        let Some(t) = self.st.tasks.get(&id) else { return };
        let reporter = t.reporter.clone();
        // Nobody to ask: the town does not ask, the reporter cannot answer (an API client,
        // erased data), or the reporter is staff (an announcement, a dispatcher's report).
        let staff = self.viewer(t, &reporter) >= Viewer::Crew;
        if hours <= 0 || staff || reporter.is_erased() || self.e.capabilities_of(reporter.channel()).one_way {
            return;
        }
        if let Some(t) = self.st.tasks.get_mut(&id) {
            t.feedback.confirmation = Some(Confirmation::Asked);
        }
        self.touch(id);
        self.set_timer(confirm_timer(id), self.now.plus_minutes(hours.saturating_mul(60)));
        let lang = self.lang_of(&reporter);
        let n = id.0.to_string();
        let text = self.t(&lang, "confirm-ask", &[("task", Arg::Str(&n))]);
        let buttons = vec![
            Button { label: self.t(&lang, "button-fixed", &[]), data: format!("fixed:{n}") },
            Button { label: self.t(&lang, "button-not-fixed", &[]), data: format!("notfixed:{n}") },
        ];
        let out = Outbound { buttons, ..Outbound::new(Destination::Direct(reporter.clone()), text, Some(id)) };
        self.dm_out(&reporter, out);
    }

    /// The task of the sender's that waits for their "is it fixed?" (the latest done).
    pub(super) fn awaiting_answer(&self, who: &Identity) -> Option<TaskId> {
        let ids = self.st.awaiting.get(who)?;
        ids.iter()
            .filter_map(|id| self.st.tasks.get(id))
            .filter(|t| t.awaits_answer() && t.reporter == *who)
            .max_by_key(|t| (t.resolved_at, t.id))
            .map(|t| t.id)
    }

    /// A text from a reporter asked "is it fixed?": "1"/yes/thanks confirms, "2"/no
    /// reopens. False if the text is not an answer (it is handled as usual then).
    pub(super) fn answer_fixed(&mut self, sender: &Identity, lang: &str, text: &str) -> bool {
        let Some(id) = self.awaiting_answer(sender) else { return false };
        let Some(answer) = fix_answer(self.cfg(), text) else { return false };
        // A new problem is not an answer, however it starts ("no hay agua en la calle
        // Sol 4" after a streetlight was fixed): another kind, or another street.
        if words(text).len() > 3 && self.about_something_else(id, text) {
            return false;
        }
        match answer {
            FixAnswer::No => {
                // "no" alone says nothing the crew can use; more words are the resident's own.
                let said = (words(text).len() > 1).then(|| text.to_owned());
                self.not_fixed(sender, lang, id, said);
            }
            FixAnswer::Yes { thanks } => {
                self.fixed(sender, lang, id);
                if thanks {
                    self.relay_thanks(sender, id);
                }
            }
        }
        true
    }

    /// Whether a longer text is clearly about another problem than task `id`: the keywords
    /// are sure of another category, or it names another street.
    fn about_something_else(&self, id: TaskId, text: &str) -> bool {
        let Some(t) = self.st.tasks.get(&id) else { return false };
        let u = self.understand(text);
        let other_kind = matches!(&u.class, crate::classify::Classification::Confident { category, .. }
            if t.category.as_deref() != Some(category.as_str()));
        let other_street =
            u.street.as_ref().is_some_and(|(_, key)| t.place.street_key.as_deref().is_some_and(|k| k != key));
        other_kind || other_street
    }

    /// A button under "is it fixed?" or under the rating question.
    pub(super) fn feedback_button(&mut self, inb: &Inbound, action: &str, id: TaskId) -> bool {
        let sender = &inb.sender;
        let Some(t) = self.st.tasks.get(&id) else { return false };
        let lang = self.lang_of(sender);
        if t.reporter != *sender {
            return matches!(action, "fixed" | "notfixed") || action.starts_with("rate");
        }
        match action {
            "fixed" | "notfixed" if !t.awaits_answer() => {
                // Answered already (or the crew moved it since): say where it stands.
                let t = t.clone();
                if let Some(m) = self.status_text(&t, Viewer::Reporter, &lang) {
                    self.dm(sender, m, Some(id));
                }
            }
            "fixed" => self.fixed(sender, &lang, id),
            "notfixed" => self.not_fixed(sender, &lang, id, None),
            a => match a.strip_prefix("rate").and_then(|n| n.parse::<u8>().ok()) {
                Some(n @ 1..=5) => self.rate(sender, &lang, id, n),
                _ => return false,
            },
        }
        true
    }

    fn fixed(&mut self, sender: &Identity, lang: &str, id: TaskId) {
        self.cancel_timer(&confirm_timer(id));
        let Some(t) = self.st.tasks.get_mut(&id) else { return };
        t.feedback.confirmation = Some(Confirmation::Fixed);
        t.updated_at = self.now;
        self.touch(id);
        self.event(id, Some(sender), EventKind::Confirmed { fixed: true });
        let n = id.0.to_string();
        let text = self.t(lang, "confirm-thanks-rate", &[("task", Arg::Str(&n))]);
        let buttons =
            (1..=5).map(|r| Button { label: "⭐".repeat(r), data: format!("rate{r}:{n}") }).collect::<Vec<_>>();
        let out = Outbound { buttons, ..Outbound::new(Destination::Direct(sender.clone()), text, Some(id)) };
        self.dm_out(sender, out);
        if !self.st.dialogues.contains_key(sender) {
            self.set_dialogue(sender, Dialogue::Rate { task: id, since: self.now });
        }
    }

    fn not_fixed(&mut self, sender: &Identity, lang: &str, id: TaskId, said: Option<String>) {
        self.cancel_timer(&confirm_timer(id));
        let Some(t) = self.st.tasks.get_mut(&id) else { return };
        t.feedback.confirmation = None;
        t.feedback.reopens = t.feedback.reopens.saturating_add(1);
        let crew = t.crew.clone();
        self.event(id, Some(sender), EventKind::Confirmed { fixed: false });
        if let Some(s) = &said {
            self.event(id, Some(sender), EventKind::Detail { text: s.clone() });
        }
        // Back to open: the crew card gets its buttons again, the public post its status
        // (the reporter hears it from the answer below).
        self.tx.answered_in_person = Some(sender.clone());
        self.set_status(id, Status::Open, None, None);
        self.tx.answered_in_person = None;
        let rl = self.room_lang();
        let n = id.0.to_string();
        let m = match &said {
            Some(s) => self.t(&rl, "crew-not-fixed", &[("task", Arg::Str(&n)), ("text", Arg::Str(s))]),
            None => self.t(&rl, "crew-not-fixed-plain", &[("task", Arg::Str(&n))]),
        };
        if let Some(crew) = crew {
            self.room(&crew, Outbound { thread: Some(PostKind::Card), ..self.plain_room(&crew, m, Some(id)) });
        }
        let crew_name = self.st.tasks.get(&id).map(|t| self.crew_name(t.crew.as_deref(), lang)).unwrap_or_default();
        let m = self.t(lang, "confirm-reopened", &[("task", Arg::Str(&n)), ("crew", Arg::Str(&crew_name))]);
        self.dm(sender, m, Some(id));
    }

    fn rate(&mut self, sender: &Identity, lang: &str, id: TaskId, rating: u8) {
        if matches!(self.st.dialogues.get(sender), Some(Dialogue::Rate { .. })) {
            self.end_dialogue(sender);
        }
        let Some(t) = self.st.tasks.get_mut(&id) else { return };
        if t.status != Status::Resolved {
            return;
        }
        t.feedback.rating = Some(rating);
        self.touch(id);
        self.event(id, Some(sender), EventKind::Rated { rating });
        let m = self.t(lang, "rate-thanks", &[("task", Arg::Str(&id.0.to_string()))]);
        self.dm(sender, m, Some(id));
    }

    /// An answer to the rating question: a number from 1 to 5 ("4", "4/5", "⭐⭐⭐⭐").
    /// False if it is not one (the question is dropped and the text handled as usual).
    pub(super) fn answer_rating(&mut self, sender: &Identity, lang: &str, task: TaskId, text: &str) -> bool {
        let t = text.trim();
        let stars = t.chars().filter(|c| *c == '⭐').count();
        let n: Option<u8> = if stars > 0 && t.chars().all(|c| c == '⭐' || c.is_whitespace()) {
            u8::try_from(stars).ok()
        } else {
            let head = t.split(['/', ' ']).next().unwrap_or("");
            head.trim_end_matches('.').parse().ok()
        };
        match n {
            Some(n @ 1..=5) => {
                self.rate(sender, lang, task, n);
                true
            }
            _ => {
                self.end_dialogue(sender);
                false
            }
        }
    }

    /// No answer in time: closed as fixed, and the reporter told so.
    fn confirm_timed_out(&mut self, id: TaskId) {
        let Some(t) = self.st.tasks.get_mut(&id) else { return };
        if !t.awaits_answer() {
            return;
        }
        t.feedback.confirmation = Some(Confirmation::Silent);
        let reporter = t.reporter.clone();
        self.touch(id);
        self.event(id, None, EventKind::ConfirmTimedOut);
        let lang = self.lang_of(&reporter);
        let m = self.t(&lang, "confirm-closed-silent", &[("task", Arg::Str(&id.0.to_string()))]);
        self.dm_unasked(&reporter, m, Some(id));
    }

    /// A resident's thanks after a fix of theirs (within [`THANKS_DAYS`]): relayed to
    /// the crew's room, without the resident's name. True if relayed.
    pub(super) fn relay_thanks(&mut self, sender: &Identity, id: TaskId) -> bool {
        let Some(t) = self.st.tasks.get(&id) else { return false };
        let recent = t.resolved_at.is_some_and(|r| r.plus_minutes(THANKS_DAYS * 24 * 60) >= self.now);
        if t.reporter != *sender || t.status != Status::Resolved || !recent {
            return false;
        }
        let Some(crew) = t.crew.clone() else { return false };
        let rl = self.room_lang();
        let cat = self.category_name(t, &rl);
        let m = self.t(&rl, "crew-thanks", &[("task", Arg::Str(&id.0.to_string())), ("category", Arg::Str(&cat))]);
        self.event(id, Some(sender), EventKind::Thanked);
        self.room(&crew, Outbound { thread: Some(PostKind::Card), ..self.plain_room(&crew, m, Some(id)) });
        true
    }

    /// The task a thank-you from `sender` is about: one waiting for their answer, the
    /// one they are rating, or their latest if it was fixed lately.
    pub(super) fn thanked_task(&self, sender: &Identity) -> Option<TaskId> {
        if let Some(Dialogue::Rate { task, .. }) = self.st.dialogues.get(sender) {
            return Some(*task);
        }
        self.awaiting_answer(sender).or_else(|| {
            let id = *self.st.last_task_of.get(sender)?;
            let t = self.st.tasks.get(&id)?;
            (t.status == Status::Resolved).then_some(id)
        })
    }

    /// The name a crew member agreed to show in public when they fix something: their own
    /// choice ("credit Luis", "credit off") over the config's `credit`.
    pub(super) fn credit_name(&self, crew: Option<&str>, who: &Identity) -> Option<String> {
        let c = self.cfg().crew(crew?)?;
        if !c.members.contains(who) {
            return None;
        }
        match self.st.credits.get(who) {
            Some(choice) => choice.clone(),
            None => c.credit.get(who).cloned(),
        }
    }

    /// "credit Luis" / "crédito Luis": a crew member agrees to be named in public by that
    /// first name when they fix something; "credit off" / "crédito no" takes it back.
    pub(super) fn set_credit(&mut self, inb: &Inbound, thread: Option<&PostRecord>, lang: &str, rest: &str) {
        let who = &inb.sender;
        if self.cfg().crews_of(who).is_empty() {
            let m = self.t(lang, "unknown-command", &[]);
            self.answer(inb, thread, m);
            return;
        }
        let name = rest.trim().trim_matches(|c: char| c == '"' || c == '«' || c == '»').trim();
        let off = ["off", "no", "stop", "quitar"].contains(&crate::text::fold(name).as_str());
        let choice = if name.is_empty() || off {
            None
        } else {
            // A first name: one word, short, letters only (no phone number or e-mail).
            let first: String = name.split_whitespace().next().unwrap_or("").chars().take(40).collect();
            if !first.chars().all(|c| c.is_alphabetic() || c == '-' || c == '\'') {
                let m = self.t(lang, "credit-how", &[]);
                self.answer(inb, thread, m);
                return;
            }
            Some(first)
        };
        self.st.credits.insert(who.clone(), choice.clone());
        self.tx.batch.credits.push((who.clone(), choice.clone()));
        let m = match &choice {
            Some(n) => self.t(lang, "credit-on", &[("name", Arg::Str(n))]),
            None => self.t(lang, "credit-off", &[]),
        };
        self.answer(inb, thread, m);
    }
}
