//! What residents say besides reports, as they say it: thanks, greetings, "any news?",
//! questions for the town hall, a detail added a minute later, a corrected place.
//! The phrases come from each language's hints in the config, never from code.

use super::audience::Viewer;
use super::*;
use crate::classify::Classification;
use crate::text::{contains_phrase, words};

impl<'e, 's> Cx<'e, 's> {
    /// Thanks, a greeting, or a question about one's own reports. True if answered.
    pub(super) fn small_talk(&mut self, sender: &Identity, lang: &str, text: &str) -> bool {
        let cfg = self.cfg();
        if cfg.is_phrase(text, |h| &h.thanks) || (self.is_greeting(text) && cfg.mentions(text, |h| &h.thanks)) {
            // After a fix, the crew hears of it (not who said it).
            if let Some(id) = self.thanked_task(sender) {
                self.relay_thanks(sender, id);
            }
            let m = self.t(lang, "thanks-reply", &[]);
            self.dm(sender, m, None);
            return true;
        }
        if self.is_greeting(text) {
            let m = self.t(lang, "help", &[("town", Arg::Str(&cfg.town.name))]);
            self.dm(sender, m, None);
            return true;
        }
        let u = self.understand(text);
        let no_new_problem = u.street.is_none() && u.private.is_none();
        if no_new_problem && cfg.mentions(text, |h| &h.status_questions) {
            let lines = self.own_status_lines(sender, lang);
            let m = if lines.is_empty() { self.t(lang, "status-none-open", &[]) } else { lines.join("\n") };
            self.dm(sender, m, None);
            return true;
        }
        false
    }

    /// The status of each of the sender's reports under way (newest first, at most five),
    /// and a fix waiting for their word asked again; empty if they have none.
    fn own_status_lines(&self, sender: &Identity, lang: &str) -> Vec<String> {
        let mut mine: Vec<&Task> = self
            .st
            .tasks
            .values()
            .filter(|t| t.reporter == *sender && (t.status.is_active() || t.awaits_answer()))
            .collect();
        mine.sort_by_key(|t| std::cmp::Reverse(t.id));
        let mut lines: Vec<String> =
            mine.iter().take(5).filter_map(|t| self.status_text(t, Viewer::Reporter, lang)).collect();
        if let Some(id) = self.awaiting_answer(sender) {
            lines.push(self.t(lang, "confirm-ask", &[("task", Arg::Str(&id.0.to_string()))]));
        }
        lines
    }

    /// A category named in words in an answer to a numbered question: one of the
    /// choices if the words point to exactly one of them, else a category the classifier
    /// is confident about.
    pub(super) fn category_in_words(&self, text: &str, choices: &[String]) -> Option<String> {
        match &self.understand(text).class {
            Classification::Confident { category, .. } => Some(category.clone()),
            Classification::Ambiguous { candidates } => {
                let among: Vec<&String> = candidates.iter().filter(|c| choices.contains(c)).collect();
                (among.len() == 1).then(|| among[0].clone())
            }
            Classification::Unknown => None,
        }
    }

    /// A question that is not a report ("¿a qué hora abre el ayuntamiento?"): the
    /// town's answer if it has one, else a kind word on what the bot can do. Never a
    /// task, never a menu; a pending question stays pending. True if answered.
    pub(super) fn not_a_report(&mut self, sender: &Identity, lang: &str, text: &str) -> bool {
        let u = self.understand(text);
        if u.private.is_some() || u.person {
            return false;
        }
        let ws = words(text);
        let cfg = self.cfg();
        let question = text.trim_end().ends_with('?')
            || text.trim_start().starts_with('¿')
            || cfg.language.values().flat_map(|h| h.question_words.iter()).any(|q| {
                let q = words(q);
                !q.is_empty() && ws.starts_with(&q)
            });
        let answer = cfg
            .answers
            .iter()
            .find(|a| a.keywords.values().flatten().any(|k| contains_phrase(&ws, &crate::text::phrase(k))));
        // A question the town has an answer for is answered even if it names a
        // category ("which day are the bins collected?"); otherwise only a text that
        // names no problem at all is taken for a question.
        // A street in a statement is a place for a report; in a question ("¿se puede
        // aparcar en la plaza?") it is not.
        let no_problem = matches!(u.class, Classification::Unknown) && (question || u.street.is_none());
        let m = match answer {
            Some(a) if question || no_problem => cfg.name_in(&a.text, lang).to_owned(),
            // A question from someone whose report is under way is most likely about it,
            // in words no town lists ("when will you fix it?", "what happened to #3?"):
            // their reports' status, then where other questions go.
            None if question && no_problem => {
                let mut lines = self.own_status_lines(sender, lang);
                if lines.is_empty() {
                    self.t(lang, "not-a-report", &[("town", Arg::Str(&cfg.town.name))])
                } else {
                    lines.push(self.t(lang, "status-anything-else", &[("town", Arg::Str(&cfg.town.name))]));
                    lines.join("\n")
                }
            }
            _ => return false,
        };
        self.dm(sender, m, None);
        true
    }

    /// Minutes after a report, a message about the same thing: a corrected place ("no
    /// perdona, es en la calle Real 5") updates it; a detail ("the bins haven't been
    /// emptied for days") is added to it for the crew. True if handled so.
    pub(super) fn follow_up(&mut self, sender: &Identity, lang: &str, text: &str) -> bool {
        let Some(id) = self.recent_own_task(sender) else { return false };
        let Some(t) = self.st.tasks.get(&id) else { return false };
        let u = self.understand(text);
        if u.private.is_some() {
            return false;
        }
        let street = u.street.clone();
        let ids = id.0.to_string();
        if let Some((s, k)) = street.clone()
            && self.cfg().mentions(text, |h| &h.corrections)
        {
            if let Some(t) = self.st.tasks.get_mut(&id) {
                t.place.street = Some(s.clone());
                t.place.street_key = Some(k);
                t.updated_at = self.now;
            }
            self.touch(id);
            self.event(id, Some(sender), EventKind::Located);
            let m = self.t(lang, "location-updated", &[("task", Arg::Str(&ids)), ("place", Arg::Str(&s))]);
            self.dm(sender, m, Some(id));
            let rl = self.room_lang();
            let note = self.t(&rl, "crew-location-updated", &[("place", Arg::Str(&s))]);
            self.crew_thread_note(id, note);
            self.edit_public(id);
            return true;
        }
        // A detail: no place named (a message with a place is a report of its own, or the
        // same report again, linked as usual), about the same kind of problem or none.
        let same_place = street.is_none();
        let same_kind = match &u.class {
            Classification::Confident { category, .. } => t.category.as_deref() == Some(category.as_str()),
            Classification::Ambiguous { candidates } => t.category.as_ref().is_some_and(|c| candidates.contains(c)),
            Classification::Unknown => true,
        };
        if !(same_place && same_kind) {
            return false;
        }
        if words(text).len() < 3 && matches!(u.class, Classification::Unknown) {
            // "ok", "vale": nothing to add, nothing to ask.
            let m = self.t(lang, "ok-reply", &[]);
            self.dm(sender, m, None);
            return true;
        }
        self.event(id, Some(sender), EventKind::Detail { text: text.to_owned() });
        self.touch(id);
        let m = self.t(lang, "detail-added", &[("task", Arg::Str(&ids))]);
        self.dm(sender, m, Some(id));
        let rl = self.room_lang();
        let note = self.t(&rl, "crew-detail", &[("text", Arg::Str(&crate::text::ellipsize(text, 600)))]);
        self.crew_thread_note(id, note);
        true
    }
}
