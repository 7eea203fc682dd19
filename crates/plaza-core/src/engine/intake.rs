//! Intake: an inbound message becomes a report (classification, dialogue, duplicates)
//! or is handed to the actions.

use tracing::{debug, info, warn};

use super::audience;
use super::*;
use crate::channel::Outbound;
use crate::classify::Classification;
use crate::command::{Command, Verb};
use crate::config::Unclear;
use crate::dialogue::{Dialogue, Draft};
use crate::plugin::Hook;
use crate::text::{clean, ellipsize, find_street, fold, words};

impl<'e, 's> Cx<'e, 's> {
    pub(super) fn process(&mut self, inb: &Inbound) {
        self.tx.chat = Some((inb.sender.clone(), inb.chat.clone()));
        if let Chat::Unknown(chat) = &inb.chat {
            debug!(chat, "message in a room the config does not name; ignored");
            return;
        }
        // Someone may be writing as a crew member or a dispatcher (a forged e-mail sender):
        // their powers need a sender the channel could check.
        if inb.unverified && self.cfg().is_staff(&inb.sender) {
            warn!(channel = %inb.channel, "a message in a staff member's name could not be verified; not acted on");
            let lang = self.lang_of(&inb.sender);
            let m = self.t(&lang, "unverified-staff", &[]);
            self.answer(inb, None, m);
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
            InboundKind::ServiceRequest { service_code, description, point, address, media_url } => self
                .on_service_request(inb, service_code, description, *point, address.as_deref(), media_url.as_deref()),
            InboundKind::Unreadable => {
                let lang = self.lang_of(&inb.sender);
                let m = self.t(&lang, "unreadable-message", &[]);
                self.answer(inb, thread.as_ref(), m);
            }
            InboundKind::Joined | InboundKind::Left => {}
        }
    }

    pub(super) fn on_text(&mut self, inb: &Inbound, thread: Option<&PostRecord>, raw: &str) {
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
            let staff = !self.cfg().crews_of(&inb.sender).is_empty();
            let meant = cmd.slash
                || cmd.task.is_some()
                || in_card_thread
                || (direct && matches!(cmd.verb, Verb::Help | Verb::Language) && words(&text).len() <= 2)
                || (staff && cmd.verb == Verb::Credit && words(&text).len() <= 3);
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
            Chat::Room(r) if r == "public" => match thread {
                Some(p) => self.on_public_reply(&inb.sender, p.task, &text),
                // No reply to a post (a channel without replies): "#12 …" or "yo también #12".
                None => {
                    if let Some((id, rest)) = command::public_ref(&text)
                        && !rest.is_empty()
                    {
                        self.on_public_reply(&inb.sender, id, &rest);
                    }
                }
            },
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

    /// The language to answer in: the one the text is written in, else the one the
    /// resident used before, else the town's. (A text clearly in a language — scoring
    /// [`CLEAR_LANGUAGE`] — decides alone, whatever the resident used before.)
    pub(super) fn classify_lang(&mut self, who: &Identity, text: &str) -> String {
        // A resident's language changes only on clear evidence: one Spanish word ("calle
        // Olivo 7") in an Arabic speaker's answer does not make them Spanish.
        let known = self.st.residents.get(who).cloned();
        match self.e.classifier.detect_language_read(&self.reading(text)) {
            Some((l, score))
                if self.e.locales.has_language(&l)
                    && (known.is_none() || known.as_ref() == Some(&l) || score >= CLEAR_LANGUAGE) =>
            {
                if self.st.residents.get(who) != Some(&l) {
                    self.st.residents.insert(who.clone(), l.clone());
                    self.tx.batch.residents.push((who.clone(), l.clone()));
                }
                l
            }
            _ => self.lang_of(who),
        }
    }

    pub(super) fn dialogue_of(&mut self, who: &Identity) -> Option<Dialogue> {
        let d = self.st.dialogues.get(who)?;
        let timeout = self.cfg().engine.dialogue_timeout_minutes;
        if d.since().plus_minutes(timeout) < self.now {
            self.end_dialogue(who);
            return None;
        }
        Some(d.clone())
    }
    pub(super) fn set_dialogue(&mut self, who: &Identity, d: Dialogue) {
        self.st.dialogues.insert(who.clone(), d.clone());
        self.tx.batch.dialogues.push((who.clone(), Some(d)));
    }
    pub(super) fn end_dialogue(&mut self, who: &Identity) {
        if self.st.dialogues.remove(who).is_some() {
            self.tx.batch.dialogues.push((who.clone(), None));
        }
    }

    pub(super) fn is_cancel(&self, text: &str) -> bool {
        self.cfg().is_phrase(text, |h| &h.cancel)
    }
    /// A "yes" to a confirmation: the whole answer, or its first word.
    pub(super) fn is_yes(&self, text: &str) -> bool {
        super::feedback::is_yes(self.cfg(), text)
    }
    pub(super) fn is_erase_request(&self, text: &str) -> bool {
        self.cfg().is_phrase(text, |h| &h.erase_data)
    }
    pub(super) fn is_greeting(&self, text: &str) -> bool {
        let ws = words(text);
        if ws.is_empty() || ws.len() > 4 {
            return false;
        }
        let greetings: Vec<std::rc::Rc<[String]>> =
            self.cfg().language.values().flat_map(|h| h.greetings.iter()).map(|g| crate::text::phrase(g)).collect();
        // Every word of the message belongs to some greeting.
        ws.iter().all(|w| greetings.iter().any(|g| g.contains(w)))
    }
    pub(super) fn is_me_too(&self, text: &str) -> bool {
        let f = fold(text.trim());
        let f = f.trim_matches(|c: char| !c.is_alphanumeric() && c != '+').trim();
        self.cfg().language.values().flat_map(|h| h.me_too.iter()).any(|m| fold(m) == f)
    }

    pub(super) fn on_direct_text(&mut self, sender: &Identity, lang: &str, text: &str) {
        let pending = self.dialogue_of(sender);
        if pending.is_some() && self.is_cancel(text) {
            self.end_dialogue(sender);
            let m = self.t(lang, "dialogue-cancelled", &[]);
            self.dm(sender, m, None);
            return;
        }
        // "Is it fixed?" is answered when no other question is pending (a number then
        // answers that one).
        if pending.is_none() && self.answer_fixed(sender, lang, text) {
            return;
        }
        // Thanks, greetings, "any news?": understood at any point, a pending question
        // stays pending.
        if self.small_talk(sender, lang, text) || self.not_a_report(sender, lang, text) {
            return;
        }
        if let Some(d) = pending {
            match d {
                Dialogue::Category { mut draft, choices, since, repeats } => {
                    draft.language = lang.to_owned();
                    let n: Option<usize> = text.trim().trim_end_matches('.').parse().ok();
                    match n {
                        Some(0) => {
                            self.end_dialogue(sender);
                            self.create_task(sender, draft, None, false);
                        }
                        Some(n) if n >= 1 && n <= choices.len() => {
                            self.end_dialogue(sender);
                            self.with_category(sender, draft, &choices[n - 1]);
                        }
                        _ => {
                            // "es una farola", "la de la luz": an answer in words that names
                            // one of the choices (or, clearly, another category).
                            if let Some(category) = self.category_in_words(text, &choices) {
                                self.end_dialogue(sender);
                                // The answer says more about the problem: keep both.
                                draft.text = format!("{} — {}", draft.text, text);
                                if draft.place.street.is_none()
                                    && let Some((s, k)) = self.street_in(text)
                                {
                                    draft.place.street = Some(s);
                                    draft.place.street_key = Some(k);
                                }
                                self.with_category(sender, draft, &category);
                            } else if repeats >= 1 {
                                // Asked twice already: the town hall sorts it out.
                                self.end_dialogue(sender);
                                draft.text = format!("{} — {}", draft.text, text);
                                self.create_task(sender, draft, None, false);
                            } else {
                                let mut m =
                                    self.t(lang, "ask-category-bad-choice", &[("max", Arg::Num(choices.len() as i64))]);
                                m.push('\n');
                                m.push_str(&self.choices_text(lang, &choices));
                                let d = Dialogue::Category { draft, choices, since, repeats: repeats + 1 };
                                self.set_dialogue(sender, d);
                                self.dm(sender, m, None);
                            }
                        }
                    }
                }
                Dialogue::Location { draft, category, since, repeats, offered } if self.is_new_report(text) => {
                    // Not a place: a report of its own. It is handled as one; the question
                    // about the first report is asked again once this one is done.
                    self.end_dialogue(sender);
                    let draft_new = self.draft_from(text, lang);
                    self.report(sender, draft_new);
                    if self.st.dialogues.contains_key(sender) {
                        let m = self.t(lang, "dialogue-dropped", &[]);
                        self.dm(sender, m, None);
                    } else {
                        let name = self.cfg().category(&category).map(|c| self.cfg().name_in(&c.name, lang).to_owned());
                        let m =
                            self.t(lang, "ask-location-again", &[("category", Arg::Str(&name.unwrap_or_default()))]);
                        self.set_dialogue(sender, Dialogue::Location { draft, category, since, repeats, offered });
                        self.dm(sender, m, None);
                    }
                }
                Dialogue::Location { mut draft, category, offered: Some(place), .. }
                    if text.trim() == "1" || self.is_yes(text) =>
                {
                    // "Yes, the same place as last time."
                    draft.place = place;
                    self.end_dialogue(sender);
                    self.create_task(sender, draft, Some(&category), false);
                }
                Dialogue::Location { draft, category, since, offered: Some(_), .. }
                    if self.street_in(text).is_none() =>
                {
                    // "No": then where?
                    let m = self.t(lang, "ask-location", &[]);
                    self.set_dialogue(sender, Dialogue::Location { draft, category, since, repeats: 0, offered: None });
                    self.dm(sender, m, None);
                }
                Dialogue::Location { draft, category, since, repeats, offered }
                    if repeats == 0
                        && self.street_in(text).is_none()
                        && self.cfg().mentions(text, |h| &h.vague_places) =>
                {
                    // "en mi calle", "aquí": not a place a crew can find. Asked once more.
                    let m = self.t(lang, "ask-location-vague", &[]);
                    self.set_dialogue(sender, Dialogue::Location { draft, category, since, repeats: 1, offered });
                    self.dm(sender, m, None);
                }
                Dialogue::Rate { task, .. } => {
                    if !self.answer_rating(sender, lang, task, text) {
                        // Not a rating: the question is dropped and the text read afresh.
                        self.on_direct_text(sender, lang, text);
                    }
                }
                Dialogue::ConfirmErase { .. } => {
                    self.end_dialogue(sender);
                    if self.is_yes(text) {
                        self.erase_person(sender, lang);
                    } else {
                        let m = self.t(lang, "erase-cancelled", &[]);
                        self.dm(sender, m, None);
                    }
                }
                Dialogue::Location { mut draft, category, .. } => {
                    match self.street_in(text) {
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
                    self.create_task(sender, draft, Some(&category), false);
                }
                Dialogue::Problem { mut draft, .. } => {
                    self.end_dialogue(sender);
                    draft.text = text.to_owned();
                    draft.language = lang.to_owned();
                    if draft.place.street.is_none()
                        && let Some((s, k)) = self.street_in(text)
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
        if self.is_erase_request(text) {
            self.set_dialogue(sender, Dialogue::ConfirmErase { since: self.now });
            let m = self.t(lang, "erase-confirm", &[]);
            self.dm(sender, m, None);
            return;
        }
        if self.follow_up(sender, lang, text) {
            return;
        }
        let draft = self.draft_from(text, lang);
        self.report(sender, draft);
    }

    /// The street `text` names, if any: (as shown, folded key). With the town's street
    /// list (`[places] streets`), one written another way ("c/ real 5", "C. Real nº5") is
    /// shown as the list writes it, with its number.
    pub(super) fn street_in(&self, text: &str) -> Option<(String, String)> {
        let (shown, key) = find_street(text)?;
        let b = words(&key);
        let known = self.e.streets.iter().find_map(|(s, k, a)| {
            (a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| crate::text::similar(x, y))).then(|| (s, k.clone()))
        });
        Some(match known {
            Some((name, k)) => match crate::text::house_number(&shown) {
                Some(n) => (format!("{name} {n}"), k),
                None => (name.clone(), k),
            },
            None => (shown, key),
        })
    }

    /// A report's first draft: its text and the street it names, if any.
    pub(super) fn draft_from(&self, text: &str, lang: &str) -> Draft {
        let mut place = Place::default();
        if let Some((s, k)) = self.street_in(text) {
            place.street = Some(s);
            place.street_key = Some(k);
        }
        Draft { text: text.to_owned(), language: lang.to_owned(), place, attachments: vec![] }
    }

    /// An answer to "where is it?" that is itself a report: it names no street and
    /// speaks of a problem (or of something private).
    pub(super) fn is_new_report(&self, text: &str) -> bool {
        let u = self.understand(text);
        u.private.is_some() || (u.street.is_none() && !matches!(u.class, Classification::Unknown))
    }

    pub(super) fn choices_text(&self, lang: &str, choices: &[String]) -> String {
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

    /// What every report goes through first, however it came: a repeat is collapsed,
    /// past the sender's limit it is answered politely, and privacy wins over everything
    /// (any match of a private category makes it private: to that category, or to
    /// triage if several match). `None`: the report was dealt with here.
    fn screen(&mut self, sender: &Identity, draft: Draft) -> Option<(Draft, std::rc::Rc<Understanding>)> {
        if let Some(first) = self.repeat_of(sender, &draft.text) {
            debug!("the same report again from the same resident; collapsed into the first");
            self.tx.became = Some(first);
            return None;
        }
        let (made, warned) = self.st.reports_of(sender, self.now);
        if made >= self.cfg().engine.reports_per_hour {
            self.too_many_reports(sender, &draft.language, warned);
            return None;
        }
        let u = self.understand(&draft.text);
        if let Some(m) = u.private.clone() {
            match m {
                crate::classify::PrivateMatch::One(c) => self.with_category_sealed(sender, draft, &c, true),
                crate::classify::PrivateMatch::Several => self.create_task(sender, draft, None, true),
            }
            return None;
        }
        Some((draft, u))
    }

    /// A report from an API client, its kind chosen by the client.
    fn on_service_request(
        &mut self,
        inb: &Inbound,
        code: &str,
        description: &str,
        point: Option<GeoPoint>,
        address: Option<&str>,
        media_url: Option<&str>,
    ) {
        let sender = &inb.sender;
        let text = clean(description);
        let lang = self.classify_lang(sender, &text);
        let mut draft = self.draft_from(&text, &lang);
        if let Some(a) = address.map(clean).filter(|a| !a.is_empty()) {
            match self.street_in(&a) {
                Some((street, key)) => {
                    draft.place.street = Some(street);
                    draft.place.street_key = Some(key);
                }
                None => draft.place.street = Some(a),
            }
        }
        draft.place.point = point.or(draft.place.point);
        if let Some(url) = media_url.filter(|u| !u.trim().is_empty()) {
            draft.attachments.push(Attachment {
                kind: "image".into(),
                reference: url.trim().to_owned(),
                channel: inb.channel.clone(),
            });
        }
        let Some((draft, _)) = self.screen(sender, draft) else { return };
        // The client's choice of kind stands where the town has it and it is public
        // (the API lists only those); anything else goes to triage.
        match self.cfg().open311_category(code) {
            Some(c) => {
                let c = c.id.clone();
                self.create_task(sender, draft, Some(&c), false)
            }
            None => self.create_task(sender, draft, None, false),
        }
    }

    /// A complete report text: plugins, then the classifier.
    pub(super) fn report(&mut self, sender: &Identity, draft: Draft) {
        let Some((draft, u)) = self.screen(sender, draft) else { return };
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
        match u.class.clone() {
            Classification::Confident { category, .. } => self.with_category(sender, draft, &category),
            // About a person, and not clearly a public problem: private (the town's only
            // private category, or triage), never a menu that could end in public.
            _ if u.person => {
                let private: Vec<&str> = self
                    .cfg()
                    .categories
                    .iter()
                    .filter(|c| c.visibility == Visibility::Private)
                    .map(|c| c.id.as_str())
                    .collect();
                match private.as_slice() {
                    [one] => {
                        let one = (*one).to_owned();
                        self.with_category_sealed(sender, draft, &one, true)
                    }
                    _ => self.create_task(sender, draft, None, true),
                }
            }
            other => {
                if self.cfg().engine.unclear == Unclear::Triage {
                    self.create_task(sender, draft, None, false);
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
                self.set_dialogue(sender, Dialogue::Category { draft, choices, since: self.now, repeats: 0 });
                self.dm(sender, m, None);
            }
        }
    }

    /// The same words as the resident's last report, still open and recent: a repeat of it.
    fn repeat_of(&self, sender: &Identity, text: &str) -> Option<TaskId> {
        let window = self.cfg().engine.duplicate_window_minutes;
        let id = *self.st.last_task_of.get(sender)?;
        self.st
            .tasks
            .get(&id)
            .filter(|t| {
                t.reporter == *sender
                    && t.status.is_active()
                    && t.created_at.plus_minutes(window) >= self.now
                    && words(&t.description) == words(text)
            })
            .map(|_| id)
    }

    /// Past `reports_per_hour`: a polite answer each time; the dispatchers are told once
    /// (by task numbers, not by who it is).
    fn too_many_reports(&mut self, sender: &Identity, lang: &str, warned: bool) {
        let limit = self.cfg().engine.reports_per_hour;
        let m = self.t(lang, "too-many-reports", &[("max", Arg::Num(i64::from(limit)))]);
        self.dm(sender, m, None);
        if warned {
            return;
        }
        if let Some(e) = self.st.reports_last_hour.get_mut(sender) {
            e.warned = true;
        }
        let since = self.now.plus_minutes(-60);
        let mut ids: Vec<i64> =
            self.st.tasks.values().filter(|t| t.reporter == *sender && t.created_at >= since).map(|t| t.id.0).collect();
        ids.sort_unstable();
        let list: Vec<String> = ids.iter().map(|i| format!("#{i}")).collect();
        let rl = self.room_lang();
        let m =
            self.t(&rl, "flood-warning", &[("max", Arg::Num(i64::from(limit))), ("tasks", Arg::Str(&list.join(", ")))]);
        self.room("triage", self.plain_room("triage", m, None));
        warn!(limit, "a resident went past the reports-per-hour limit");
    }

    pub(super) fn with_category(&mut self, sender: &Identity, draft: Draft, category: &str) {
        self.with_category_sealed(sender, draft, category, false)
    }

    fn with_category_sealed(&mut self, sender: &Identity, draft: Draft, category: &str, sealed: bool) {
        let Some(cat) = self.cfg().category(category) else {
            self.create_task(sender, draft, None, sealed);
            return;
        };
        if cat.needs_location && !draft.place.is_known() {
            let lang = draft.language.clone();
            // The street of the resident's last report is offered back.
            let offered = self
                .st
                .last_task_of
                .get(sender)
                .and_then(|id| self.st.tasks.get(id))
                .filter(|t| t.reporter == *sender && t.place.street.is_some())
                .map(|t| t.place.clone());
            let m = match &offered {
                Some(p) => {
                    self.t(&lang, "ask-location-offer", &[("place", Arg::Str(p.street.as_deref().unwrap_or("")))])
                }
                None => self.t(&lang, "ask-location", &[("category", Arg::Str(self.cfg().name_in(&cat.name, &lang)))]),
            };
            let d = Dialogue::Location { draft, category: category.to_owned(), since: self.now, repeats: 0, offered };
            self.set_dialogue(sender, d);
            self.dm(sender, m, None);
            return;
        }
        self.create_task(sender, draft, Some(category), sealed);
    }

    pub(super) fn find_duplicate(&self, category: &str, place: &Place) -> Option<TaskId> {
        let window = self.cfg().engine.duplicate_window_minutes;
        let radius = self.cfg().engine.duplicate_radius_m;
        let cutoff = self.now.plus_minutes(-window);
        let mut candidates: Vec<TaskId> = Vec::new();
        if let Some(k) = &place.street_key
            && let Some(ids) = self.st.by_street.get(&(category.to_owned(), k.clone()))
        {
            // The same street at another house number is another place ("Harbour Road
            // 12" is not "Harbour Road 14"), unless shared locations say otherwise below.
            let number = place.street.as_deref().and_then(crate::text::house_number);
            candidates.extend(ids.iter().rev().take(16).filter(|id| {
                let theirs =
                    self.st.tasks.get(id).and_then(|t| t.place.street.as_deref().and_then(crate::text::house_number));
                match (&number, theirs) {
                    (Some(a), Some(b)) => *a == b,
                    _ => true,
                }
            }));
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

    /// Creates the task for a complete report. `sealed`: private by a decision (a
    /// private word in it), whatever its category.
    pub(super) fn create_task(&mut self, sender: &Identity, mut draft: Draft, category: Option<&str>, sealed: bool) {
        let cat = category.and_then(|c| self.cfg().category(c));
        // Where it is decides who handles it: the district's own crew, triage room and
        // dispatchers, where it has them.
        if draft.place.is_known() {
            draft.place.district = self.cfg().district_of(&draft.place).map(|d| d.id.clone());
        }
        let crew = cat.and_then(|c| self.cfg().crew_for(&c.id, draft.place.district.as_deref())).map(str::to_owned);
        let visibility = match cat {
            Some(c) if !sealed => c.visibility,
            _ => Visibility::Private,
        };
        let sealed = sealed || visibility == Visibility::Private && cat.is_some();
        let candidate = cat.filter(|c| c.duplicates).and_then(|c| self.find_duplicate(&c.id, &draft.place));
        // Reports are pooled (one task, the second reporter following it) only when both
        // are public; a private one becomes its own task, linked for the crew.
        let dup = candidate
            .filter(|o| visibility == Visibility::Public && self.st.tasks.get(o).is_some_and(audience::is_public));
        let related = candidate.filter(|_| dup.is_none());
        self.st.last_id += 1;
        let id = TaskId(self.st.last_id);
        self.st.count_report(sender, self.now, self.cfg().engine.reports_per_hour);
        let lang = draft.language.clone();
        let mut task = Task {
            id,
            category: cat.map(|c| c.id.clone()),
            crew,
            status: Status::Open,
            visibility,
            description: draft.text,
            place: draft.place,
            attachments: draft.attachments,
            reporter: sender.clone(),
            reporter_public: false,
            reporter_name: self.sender_name.clone(),
            sealed,
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
            feedback: Default::default(),
        };
        if self.tx.announcing && task.crew.is_some() {
            // Announced by those who handle it (an incident): being dealt with already.
            task.status = Status::InProgress;
            task.acknowledged_at = Some(self.now);
            task.started_at = Some(self.now);
            task.assignee = Some(sender.clone());
            let who = self.sender_name.clone().unwrap_or_else(|| sender.id().to_owned());
            self.st.card_actor.insert(id, who);
        }
        self.event(id, Some(sender), EventKind::Created);
        self.tx.became = Some(id);
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
        if let Some(other) = related {
            self.link_related(id, other);
        }
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
            // An announcement from staff: no resident's acknowledgement.
            if !self.tx.announcing {
                self.dm(sender, m, Some(id));
            }
            self.post_card(id);
            self.post_public(id);
            if let Some(other) = related {
                let rl = self.room_lang();
                let m = self.t(
                    &rl,
                    "crew-possibly-related",
                    &[("task", Arg::Str(&idn)), ("other", Arg::Str(&other.0.to_string()))],
                );
                let out = Outbound {
                    thread: Some(PostKind::Card),
                    ..self.plain_room(t.crew.as_deref().unwrap_or_default(), m, Some(id))
                };
                if let Some(crew) = t.crew.clone() {
                    self.room(&crew, out);
                }
            }
        } else {
            let m = self.t(&lang, "ack-triage", &[("task", Arg::Str(&idn))]);
            self.dm(sender, m, Some(id));
            let room = self.cfg().triage_room(t.place.district.as_deref()).to_owned();
            let out =
                Outbound { post: Some(PostKind::Triage), ..self.plain_room(&room, self.render_triage(&t), Some(id)) };
            self.room(&room, out);
        }
        info!(task = id.0, category = ?t.category, "task created");
        for p in self.e.plugins.clone() {
            let mut pc = PluginCtx { cx: self.sub(), plugin: p.name() };
            p.on_task_created(&mut pc, id);
        }
    }

    pub(super) fn recent_own_task(&self, who: &Identity) -> Option<TaskId> {
        let id = *self.st.last_task_of.get(who)?;
        let t = self.st.tasks.get(&id)?;
        let window = self.cfg().engine.attach_window_minutes;
        (t.status.is_active() && t.created_at.plus_minutes(window) >= self.now).then_some(id)
    }

    pub(super) fn on_location(&mut self, inb: &Inbound, point: GeoPoint) {
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
                self.create_task(sender, draft, Some(&category), false);
            }
            Some(Dialogue::Problem { mut draft, since }) => {
                draft.place.point = Some(point);
                self.set_dialogue(sender, Dialogue::Problem { draft, since });
                let m = self.t(&lang, "ask-problem-for-location", &[]);
                self.dm(sender, m, None);
            }
            Some(Dialogue::Category { mut draft, choices, since, repeats }) => {
                draft.place.point = Some(point);
                let mut m = self.t(&lang, "ask-category", &[]);
                m.push('\n');
                m.push_str(&self.choices_text(&lang, &choices));
                self.set_dialogue(sender, Dialogue::Category { draft, choices, since, repeats });
                self.dm(sender, m, None);
            }
            Some(Dialogue::ConfirmErase { .. } | Dialogue::Rate { .. }) | None => match self
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
    pub(super) fn crew_thread_note(&mut self, id: TaskId, text: String) {
        let Some(crew) = self.st.tasks.get(&id).and_then(|t| t.crew.clone()) else { return };
        let out =
            Outbound { thread: Some(PostKind::Card), ..self.plain_room(&crew, format!("#{} {text}", id.0), Some(id)) };
        self.room(&crew, out);
    }

    pub(super) fn on_attachment(&mut self, inb: &Inbound, a: Attachment, caption: Option<&str>) {
        if inb.chat != Chat::Direct {
            return;
        }
        let sender = &inb.sender;
        if !matches!(a.kind.as_str(), "photo" | "image" | "file") {
            // A voice note, a sticker: kindly asked to write it (never silence).
            let lang = self.lang_of(sender);
            let m = self.t(&lang, "please-write", &[]);
            self.dm(sender, m, None);
            return;
        }
        let caption = caption.map(clean).filter(|c| !c.is_empty());
        if let Some(c) = caption {
            let lang = self.classify_lang(sender, &c);
            let mut place = Place::default();
            if let Some((s, k)) = self.street_in(&c) {
                place.street = Some(s);
                place.street_key = Some(k);
            }
            let draft = Draft { text: c, language: lang, place, attachments: vec![a] };
            self.report(sender, draft);
            return;
        }
        let lang = self.lang_of(sender);
        match self.dialogue_of(sender) {
            Some(Dialogue::Location { mut draft, category, since, repeats, offered }) => {
                draft.attachments.push(a);
                let m = self.t(&lang, "ask-location", &[("category", Arg::Str(&category))]);
                self.set_dialogue(sender, Dialogue::Location { draft, category, since, repeats, offered });
                self.dm(sender, m, None);
            }
            Some(Dialogue::Problem { mut draft, since }) | Some(Dialogue::Category { mut draft, since, .. }) => {
                draft.attachments.push(a);
                self.set_dialogue(sender, Dialogue::Problem { draft, since });
                let m = self.t(&lang, "ask-problem-for-attachment", &[]);
                self.dm(sender, m, None);
            }
            Some(Dialogue::ConfirmErase { .. } | Dialogue::Rate { .. }) | None => match self.recent_own_task(sender) {
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
}
