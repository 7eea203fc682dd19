//! What the public may see of a task, for the web board and the Open311 API: rendered
//! through the same audience model as the public room (the web is the public audience).
//! `None` for a task the public may not see: a private task is, to the web, a task that
//! does not exist.

use super::audience::{self, Viewer};
use super::*;
use crate::model::{EventKind, TaskEvent};

/// A task as the public sees it, in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicTask {
    pub id: TaskId,
    /// The Open311 service code of its category.
    pub category_code: String,
    pub category: String,
    /// The crew on it (the agency responsible).
    pub crew: String,
    /// The street with personal data masked; the point rounded to ~100 m.
    pub place: String,
    pub street: Option<String>,
    /// The district's name, if the town has districts and the place is in one.
    pub district: Option<String>,
    pub point: Option<(f64, f64)>,
    pub description: String,
    pub status: Status,
    pub status_label: String,
    pub me_too: usize,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
}

/// A task as its reporter sees it in their own list (the web chat's "your reports").
#[derive(Debug, Clone, PartialEq)]
pub struct OwnTask {
    pub category: String,
    pub status_label: String,
    /// It has a page on the public board.
    pub public: bool,
}

/// One step of a task's public history.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicEvent {
    pub at: Timestamp,
    pub text: String,
    /// A crew's note or a status note, meant for the public (masked).
    pub note: Option<String>,
}

impl Engine {
    /// Runs `f` with a read-only view of the engine's state (renders, no changes).
    fn reading<R>(&self, f: impl FnOnce(&Cx<'_, '_>) -> R) -> R {
        let mut st = self.lock();
        let mut tx = Tx::default();
        let now = self.clock.now();
        let cx = Cx::system(self, &mut st, &mut tx, now);
        f(&cx)
    }

    /// Whether the public may see the task at all (the web's audience).
    pub fn is_public(&self, t: &Task) -> bool {
        audience::is_public(t)
    }

    /// The task as the public may see it, or `None` if the public may not.
    pub fn public_task(&self, t: &Task, lang: &str) -> Option<PublicTask> {
        if !audience::is_public(t) {
            return None;
        }
        let lang = self.web_lang(lang);
        self.reading(|cx| {
            let street = t.place.street.as_ref().map(|s| audience::mask_for_public(t, s));
            Some(PublicTask {
                id: t.id,
                category_code: t
                    .category
                    .as_deref()
                    .map(|id| cx.cfg().service_code_of(id).to_owned())
                    .unwrap_or_default(),
                category: cx.category_name(t, &lang),
                crew: cx.crew_name(t.crew.as_deref(), &lang),
                place: cx.place_text(t, Viewer::Public),
                street,
                district: t
                    .place
                    .district
                    .as_deref()
                    .and_then(|id| self.cfg.districts.iter().find(|d| d.id == id))
                    .map(|d| self.cfg.name_in(&d.name, &lang).to_owned()),
                point: t.place.point.map(|p| ((p.lat * 1000.0).round() / 1000.0, (p.lon * 1000.0).round() / 1000.0)),
                description: audience::description_for(t, Viewer::Public).unwrap_or_default(),
                status: t.status,
                status_label: cx.status_label(t.status, &lang),
                me_too: t.me_too(),
                created_at: t.created_at,
                updated_at: t.updated_at,
                acknowledged_at: t.acknowledged_at,
                resolved_at: t.resolved_at,
                closed_at: t.closed_at,
            })
        })
    }

    /// The task as `who` sees it in the list of their own reports; `None` if they are not
    /// its reporter.
    pub fn reporter_view(&self, t: &Task, who: &Identity, lang: &str) -> Option<OwnTask> {
        if &t.reporter != who {
            return None;
        }
        let lang = self.web_lang(lang);
        self.reading(|cx| {
            Some(OwnTask {
                category: cx.category_name(t, &lang),
                status_label: cx.status_label(t.status, &lang),
                public: audience::is_public(t),
            })
        })
    }

    /// A public task's history: reported, assigned, status changes with their notes,
    /// crew notes and neighbours' answers (masked); nothing for a task the public may
    /// not see, and never who did what.
    pub fn public_history(&self, t: &Task, events: &[TaskEvent], lang: &str) -> Vec<PublicEvent> {
        if !audience::is_public(t) {
            return vec![];
        }
        let lang = self.web_lang(lang);
        self.reading(|cx| {
            let mut out = Vec::new();
            for e in events {
                let (key, args, note): (&str, Vec<String>, Option<&String>) = match &e.kind {
                    EventKind::Created => ("web-event-created", vec![], None),
                    EventKind::Assigned { crew, .. } => {
                        ("web-event-assigned", vec![cx.crew_name(crew.as_deref(), &lang)], None)
                    }
                    EventKind::Status { to, note, .. } => {
                        ("web-event-status", vec![cx.status_label(*to, &lang)], note.as_ref())
                    }
                    EventKind::Note { text } => ("web-event-note", vec![], Some(text)),
                    EventKind::Comment { text } => ("web-event-comment", vec![], Some(text)),
                    EventKind::MeToo => ("web-event-metoo", vec![], None),
                    _ => continue,
                };
                let args: Vec<(&str, crate::i18n::Arg)> =
                    args.iter().map(|a| ("value", crate::i18n::Arg::Str(a.as_str()))).collect();
                out.push(PublicEvent {
                    at: e.at,
                    text: cx.t(&lang, key, &args),
                    note: note.map(|n| audience::mask_for_public(t, n)).filter(|n| !n.trim().is_empty()),
                });
            }
            out
        })
    }

    /// A text of the town's locales in `lang` (one of the town's languages, else its first).
    pub fn text(&self, lang: &str, key: &str) -> String {
        let lang = self.web_lang(lang);
        self.reading(|cx| cx.t(&lang, key, &[]))
    }

    /// How many tasks the town has coordinated since it started (public and private:
    /// counted, never described).
    pub fn tasks_so_far(&self) -> i64 {
        self.lock().last_id
    }

    /// The town's language that best matches `want` (a tag like "en-GB"), else its first.
    pub fn web_lang(&self, want: &str) -> String {
        let langs = &self.cfg.town.languages;
        let want = want.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        langs.iter().find(|l| **l == want).cloned().unwrap_or_else(|| langs.first().cloned().unwrap_or_default())
    }

    /// The town's districts, in `lang`: (id, name).
    pub fn districts(&self, lang: &str) -> Vec<(String, String)> {
        let lang = self.web_lang(lang);
        self.cfg.districts.iter().map(|d| (d.id.clone(), self.cfg.name_in(&d.name, &lang).to_owned())).collect()
    }

    /// The public categories (service list), in `lang`: (code, name, crew name).
    pub fn public_categories(&self, lang: &str) -> Vec<(String, String, String)> {
        let lang = self.web_lang(lang);
        self.cfg
            .categories
            .iter()
            .filter(|c| c.visibility != Visibility::Private)
            .map(|c| {
                let crew =
                    self.cfg.crew(&c.crew).map(|w| self.cfg.name_in(&w.name, &lang).to_owned()).unwrap_or_default();
                (c.id.clone(), self.cfg.name_in(&c.name, &lang).to_owned(), crew)
            })
            .collect()
    }
}
