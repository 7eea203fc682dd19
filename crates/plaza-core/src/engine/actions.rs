//! Crew and dispatcher actions: commands, buttons, reactions, and who may do them.

use tracing::{debug, info};

use super::audience::{self, Viewer};
use super::*;
use crate::classify::Classification;
use crate::command::{Command, Verb};
use crate::text::{fold, words};

impl<'e, 's> Cx<'e, 's> {
    pub(super) fn on_button(&mut self, inb: &Inbound, thread: Option<&PostRecord>, data: &str) {
        let Some((action, n)) = data.split_once(':') else { return };
        let Ok(n) = n.parse::<i64>() else { return };
        let task = TaskId(n);
        if inb.chat == Chat::Direct && self.feedback_button(inb, action, task) {
            return;
        }
        let lang = self.lang_of(&inb.sender);
        let verb = match action {
            "claim" => Verb::Claim,
            "done" => Verb::Done,
            "ack" => Verb::Ack,
            "metoo" => {
                self.me_too(&inb.sender, task);
                return;
            }
            "note" if self.may_act(&inb.sender, task) => {
                // A note is text: say how to write it.
                let m = self.t(&self.room_lang(), "note-how", &[("task", Arg::Str(&n.to_string()))]);
                self.answer(inb, thread, m);
                return;
            }
            "note" => Verb::Note,
            _ => return,
        };
        self.on_command(inb, thread, &lang, Command { verb, task: Some(task), rest: String::new(), slash: true });
    }

    pub(super) fn on_reaction(&mut self, inb: &Inbound, thread: Option<&PostRecord>, key: &str) {
        let Some(p) = thread else { return };
        let key = key.trim_end_matches('\u{FE0F}');
        let verb = match key {
            "✅" | "✔" | "☑" => Verb::Done,
            "👀" => Verb::Claim,
            "👍" | "➕" if p.kind == PostKind::Public => {
                self.me_too(&inb.sender, p.task);
                return;
            }
            _ => return,
        };
        if p.kind == PostKind::Public {
            return;
        }
        // A ✅ or 👀 from someone without the right changes nothing; a short line in the
        // card's thread says so, so that nobody believes the task was taken or done.
        if !self.may_act(&inb.sender, p.task) {
            debug!(sender = %inb.sender, "reaction from someone who may not act; refused");
            let m = self.t(&self.room_lang(), "refuse-reaction", &[("task", Arg::Str(&p.task.0.to_string()))]);
            self.answer(inb, Some(p), m);
            return;
        }
        let lang = self.lang_of(&inb.sender);
        self.on_command(inb, Some(p), &lang, Command { verb, task: Some(p.task), rest: String::new(), slash: true });
    }

    /// A dispatcher, or a member of the crew of the task's category.
    pub(super) fn may_act(&self, who: &Identity, task: TaskId) -> bool {
        self.st.tasks.get(&task).is_some_and(|t| self.viewer(t, who) >= Viewer::Crew)
    }

    pub(super) fn on_command(&mut self, inb: &Inbound, thread: Option<&PostRecord>, lang: &str, cmd: Command) {
        let sender = &inb.sender;
        // Crews and dispatchers get room-language answers in rooms.
        let lang = if matches!(inb.chat, Chat::Room(_)) { self.room_lang() } else { lang.to_owned() };
        let lang = lang.as_str();
        match cmd.verb {
            Verb::Help => {
                let m = self.t(lang, "help", &[("town", Arg::Str(&self.cfg().town.name))]);
                self.answer(inb, thread, m);
                return;
            }
            Verb::Credit if cmd.task.is_none() => {
                self.set_credit(inb, thread, lang, &cmd.rest);
                return;
            }
            // "credit 600 123 456": a number is no first name.
            Verb::Credit if !self.cfg().crews_of(&inb.sender).is_empty() => {
                let m = self.t(lang, "credit-how", &[]);
                self.answer(inb, thread, m);
                return;
            }
            Verb::Language => {
                let want = fold(cmd.rest.trim());
                if self.cfg().town.languages.contains(&want) {
                    self.st.residents.insert(sender.clone(), want.clone());
                    self.tx.batch.residents.push((sender.clone(), want.clone()));
                    let m = self.t(&want, "language-set", &[]);
                    self.answer(inb, thread, m);
                } else {
                    let m = self.t(lang, "unknown-command", &[]);
                    self.answer(inb, thread, m);
                }
                return;
            }
            _ => {}
        }
        let Some(id) = cmd.task.or(thread.map(|p| p.task)) else {
            let m = self.t(lang, "unknown-command", &[]);
            self.answer(inb, thread, m);
            return;
        };
        let ids = id.0.to_string();
        let unknown = self.t(lang, "unknown-task", &[("task", Arg::Str(&ids))]);
        let Some(task) = self.st.tasks.get(&id).cloned() else {
            self.answer(inb, thread, unknown);
            return;
        };
        // A private task is, to anyone outside its audience, exactly a task that does not
        // exist: same answer, whatever the command.
        let sender_view = self.viewer(&task, sender);
        if sender_view == Viewer::Nobody {
            info!(sender = %sender, task = id.0, "a private task asked about from outside its audience");
            self.answer(inb, thread, unknown);
            return;
        }
        let dispatcher = self.cfg().is_dispatcher_in(sender, task.place.district.as_deref());
        if cmd.verb == Verb::Status {
            // Written where others read it: answer for the room; if the room may not
            // know the task, answer the sender privately.
            let v = self.answer_viewer(inb, &task);
            if v == Viewer::Nobody {
                let l = self.lang_of(sender);
                if let Some(m) = self.status_text(&task, sender_view, &l) {
                    self.dm(sender, m, None);
                }
            } else if let Some(m) = self.status_text(&task, v, lang) {
                self.answer(inb, thread, m);
            }
            return;
        }
        if cmd.verb.is_dispatcher_action() {
            if !dispatcher && !self.cfg().districts_of(sender).is_empty() {
                // A district's dispatcher, on a task of another district (or of none).
                let name = match task.place.district.as_deref().and_then(|d| self.cfg().district(d)) {
                    Some(d) => self.cfg().name_in(&d.name, lang).to_owned(),
                    None => self.t(lang, "district-none", &[]),
                };
                let m =
                    self.t(lang, "refuse-other-district", &[("task", Arg::Str(&ids)), ("district", Arg::Str(&name))]);
                self.answer(inb, thread, m);
                return;
            }
            if !dispatcher {
                let m = self.t(lang, "refuse-not-dispatcher", &[]);
                self.answer(inb, thread, m);
                return;
            }
            self.dispatcher_command(inb, thread, lang, cmd.verb, &task, &cmd.rest);
            return;
        }
        // Crew actions.
        if !self.may_act(sender, id) {
            let my_crews = self.cfg().crews_of(sender);
            let m = if my_crews.is_empty() {
                self.t(lang, "refuse-not-crew", &[])
            } else {
                let crew = self.crew_name(task.crew.as_deref(), lang);
                self.t(lang, "refuse-other-crew", &[("task", Arg::Str(&ids)), ("crew", Arg::Str(&crew))])
            };
            info!(sender = %sender, task = id.0, verb = ?cmd.verb, "refused");
            self.answer(inb, thread, m);
            return;
        }
        let note = (!cmd.rest.is_empty()).then(|| cmd.rest.clone());
        let target = match cmd.verb {
            Verb::Ack => Status::Acknowledged,
            Verb::Claim => Status::InProgress,
            Verb::Done => Status::Resolved,
            Verb::Reopen => Status::Open,
            Verb::Close => {
                let first = words(&cmd.rest).into_iter().next().unwrap_or_default();
                let reason = match first.as_str() {
                    "spam" => CloseReason::Spam,
                    "unable" | "imposible" | "no" => CloseReason::Unable,
                    "duplicate" | "duplicado" | "dup" => CloseReason::Duplicate,
                    _ => CloseReason::Other,
                };
                Status::Closed(reason)
            }
            Verb::Note => {
                let Some(text) = note else {
                    let m = self.t(lang, "unknown-command", &[]);
                    self.answer(inb, thread, m);
                    return;
                };
                self.event(id, Some(sender), EventKind::Note { text: text.clone() });
                if let Some(t) = self.st.tasks.get_mut(&id) {
                    t.updated_at = self.now;
                }
                self.touch(id);
                let crew = self.crew_name(task.crew.as_deref(), lang);
                // The reporter reads the note as written; followers of a public task
                // read it with personal data masked.
                self.tell_audience(id, |cx, l, v| {
                    let crew = cx.crew_name(task.crew.as_deref(), l);
                    let note = if v.sees_whole() { text.clone() } else { audience::mask_for_public(&task, &text) };
                    cx.t(
                        l,
                        "notify-note",
                        &[("task", Arg::Str(&ids)), ("crew", Arg::Str(&crew)), ("note", Arg::Str(&note))],
                    )
                });
                let m = self.t(lang, "crew-note-saved", &[("task", Arg::Str(&ids)), ("crew", Arg::Str(&crew))]);
                self.answer(inb, thread, m);
                return;
            }
            _ => return,
        };
        let allowed = match target {
            Status::Acknowledged => task.status == Status::Open,
            Status::InProgress => matches!(task.status, Status::Open | Status::Acknowledged),
            Status::Resolved | Status::Closed(_) => task.status.is_active(),
            Status::Open => !task.status.is_active(),
        };
        if !allowed {
            self.refuse_transition(inb, thread, lang, &task);
            return;
        }
        if target == Status::InProgress
            && let Some(t) = self.st.tasks.get_mut(&id)
        {
            t.assignee = Some(sender.clone());
        }
        self.set_status(id, target, Some(sender), note);
        // The crew card now shows the new state and who moved it (set_status edits it).
        // A typed command is also answered where it was typed, a button press with a
        // toast; a reaction on the card needs nothing more than the card itself.
        if !matches!(inb.kind, InboundKind::Reaction { .. }) {
            let m = self.confirm_text(id, lang, display_name(inb));
            self.answer(inb, thread, m);
        }
    }

    /// "#N is already resolved; that cannot be done now."
    fn refuse_transition(&mut self, inb: &Inbound, thread: Option<&PostRecord>, lang: &str, task: &Task) {
        let m = self.t(
            lang,
            "bad-transition",
            &[("task", Arg::Str(&task.id.0.to_string())), ("status", Arg::Str(&self.status_label(task.status, lang)))],
        );
        self.answer(inb, thread, m);
    }

    /// "#N → status (who)": what a crew or dispatcher is told after acting.
    pub(super) fn confirm_text(&self, id: TaskId, lang: &str, who: &str) -> String {
        let st = self.st.tasks.get(&id).map(|t| t.status).unwrap_or(Status::Open);
        let ids = id.0.to_string();
        self.t(
            lang,
            "crew-confirm",
            &[("task", Arg::Str(&ids)), ("status", Arg::Str(&self.status_label(st, lang))), ("who", Arg::Str(who))],
        )
    }

    pub(super) fn dispatcher_command(
        &mut self,
        inb: &Inbound,
        thread: Option<&PostRecord>,
        lang: &str,
        verb: Verb,
        task: &Task,
        rest: &str,
    ) {
        let id = task.id;
        let ids = id.0.to_string();
        match verb {
            Verb::Assign => {
                let want = fold(rest.trim());
                // The id or a name, or the start of exactly one name (three letters at
                // least: "asignar #1 a" names nothing).
                let exact =
                    self.cfg().categories.iter().find(|c| c.id == want || c.name.values().any(|n| fold(n) == want));
                let by_prefix: Vec<_> = self
                    .cfg()
                    .categories
                    .iter()
                    .filter(|c| want.chars().count() >= 3 && c.name.values().any(|n| fold(n).starts_with(&want)))
                    .collect();
                let by_name = exact.or(match by_prefix.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                });
                // Else a keyword: "asignar #3 limpieza", "assign #3 pothole".
                let cat = by_name.or_else(|| match self.classify(rest) {
                    Classification::Confident { category, .. } => self.cfg().category(&category),
                    _ => None,
                });
                let Some(cat) = cat else {
                    let cats: Vec<&str> = self.cfg().categories.iter().map(|c| c.id.as_str()).collect();
                    let m = self.t(lang, "unknown-category", &[("categories", Arg::Str(&cats.join(", ")))]);
                    self.answer(inb, thread, m);
                    return;
                };
                let sealed = task.sealed;
                // Assigned the category it already has: the crew does not get the card twice.
                let unchanged = task.category.as_deref() == Some(cat.id.as_str());
                // The district's own crew for the category, where it has one.
                let crew = self.cfg().crew_for(&cat.id, task.place.district.as_deref()).map(str::to_owned);
                if let Some(t) = self.st.tasks.get_mut(&id) {
                    t.category = Some(cat.id.clone());
                    t.crew = crew.clone();
                    t.updated_at = self.now;
                }
                self.touch(id);
                self.event(id, Some(&inb.sender), EventKind::Assigned { category: Some(cat.id.clone()), crew });
                // A dispatcher's assignment is a labelled example: the classifier learns it.
                self.st.learned.learn(&task.description, &cat.id);
                // A private category makes the task private; a public one makes it public
                // only if nothing decided it private before (`privado`, a private word).
                if cat.visibility == Visibility::Private {
                    self.make_private(id, Some(&inb.sender));
                    if !unchanged {
                        self.post_card(id);
                    }
                } else if sealed {
                    if !unchanged {
                        self.post_card(id);
                    }
                } else {
                    if let Some(t) = self.st.tasks.get_mut(&id)
                        && t.visibility != Visibility::Public
                    {
                        t.visibility = Visibility::Public;
                        self.event(id, Some(&inb.sender), EventKind::Visibility { to: Visibility::Public });
                    }
                    if !unchanged {
                        self.post_card(id);
                    }
                    self.make_public(id, Some(&inb.sender));
                }
                self.tell_audience(id, |cx, l, _| {
                    let t = cx.st.tasks.get(&id);
                    let (c, crew) = match t {
                        Some(t) => (cx.category_name(t, l), cx.crew_name(t.crew.as_deref(), l)),
                        None => (String::new(), String::new()),
                    };
                    cx.t(
                        l,
                        "notify-assigned",
                        &[("task", Arg::Str(&ids)), ("category", Arg::Str(&c)), ("crew", Arg::Str(&crew))],
                    )
                });
                let m = self.confirm_text(id, lang, display_name(inb));
                let m = format!("{m} → {}", self.crew_name(Some(&cat.crew), lang));
                self.answer(inb, thread, m);
            }
            Verb::Duplicate => {
                let Some((orig, _)) = command::task_ref(rest) else {
                    let m = self.t(lang, "unknown-command", &[]);
                    self.answer(inb, thread, m);
                    return;
                };
                if orig == id || !self.st.tasks.contains_key(&orig) {
                    let m = self.t(lang, "unknown-task", &[("task", Arg::Str(&orig.0.to_string()))]);
                    self.answer(inb, thread, m);
                    return;
                }
                if !task.status.is_active() {
                    self.refuse_transition(inb, thread, lang, task);
                    return;
                }
                if let Some(t) = self.st.tasks.get_mut(&id) {
                    t.duplicate_of = Some(orig);
                }
                self.event(id, Some(&inb.sender), EventKind::LinkedDuplicate { of: orig });
                let pooled = self.st.tasks.get(&orig).is_some_and(audience::is_public) && audience::is_public(task);
                if pooled {
                    // Both public: the people of the duplicate follow the original.
                    let people: Vec<Identity> = std::iter::once(task.reporter.clone())
                        .chain(task.followers.iter().cloned())
                        .filter(|p| !p.is_erased())
                        .collect();
                    if let Some(o) = self.st.tasks.get_mut(&orig) {
                        for p in people {
                            if p != o.reporter && !o.followers.contains(&p) {
                                o.followers.push(p.clone());
                            }
                            if p != o.reporter && !o.supporters.contains(&p) {
                                o.supporters.push(p);
                            }
                        }
                        o.updated_at = self.now;
                    }
                    self.touch(orig);
                } else {
                    // Private reports are never pooled across residents: linked for the
                    // crew, each reporter hears of their own report only.
                    self.link_related(id, orig);
                }
                let note = pooled.then(|| format!("#{}", orig.0));
                self.set_status(id, Status::Closed(CloseReason::Duplicate), Some(&inb.sender), note);
                self.edit_public(orig);
                let m = self.confirm_text(id, lang, display_name(inb));
                self.answer(inb, thread, m);
            }
            Verb::Private => {
                self.make_private(id, Some(&inb.sender));
                let m = self.confirm_text(id, lang, display_name(inb));
                self.answer(inb, thread, m);
            }
            Verb::Public => {
                // A category configured private is published only when the dispatcher
                // says so twice: `publico #N` asks, `publico #N sí` does it.
                let private_cat = task
                    .category
                    .as_deref()
                    .and_then(|c| self.cfg().category(c))
                    .is_some_and(|c| c.visibility == Visibility::Private);
                if private_cat && !self.is_yes(rest) {
                    let m = self.t(
                        lang,
                        "confirm-public",
                        &[("task", Arg::Str(&ids)), ("category", Arg::Str(&self.category_name(task, lang)))],
                    );
                    self.answer(inb, thread, m);
                    return;
                }
                self.make_public(id, Some(&inb.sender));
                let m = self.confirm_text(id, lang, display_name(inb));
                self.answer(inb, thread, m);
            }
            _ => {}
        }
    }
}
