//! Who may see what of a task: the one place that decides it.
//!
//! Every outbound text about a task is addressed to a [`Viewer`] computed from the task's
//! state at that moment — never stored and reused — and rendered from the [`TaskView`]
//! that viewer may have: chat cards and posts, `estado`, notifications, plugins' messages
//! (through `PluginCtx`). The delivery step asks [`may_receive`] again, so that a message
//! queued before a task became private is not sent after.
//!
//! - the public (the public room, strangers, later the web board and Open311) sees a
//!   public task only, its text and place with personal data masked, never who reported;
//! - followers (neighbours who said "me too", reporters of merged duplicates) hear of a
//!   task only while it is public, and see what the public sees;
//! - the reporter sees their own report whole;
//! - the crew of the task's category and the dispatchers see everything (a district's
//!   dispatchers and triage room, the tasks in that district);
//! - anyone else sees nothing of a private task, not even that it exists.

use super::*;
use crate::channel::Destination;
use crate::personal;

/// Who someone (or a room) is to one task, right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Viewer {
    /// A private task, seen by someone outside its audience: nothing at all.
    Nobody,
    /// The public: the public room, a stranger asking about a public task.
    Public,
    /// Follows a public task (me too, a merged duplicate).
    Follower,
    /// Reported it.
    Reporter,
    /// A member (or the room) of the crew of the task's category.
    Crew,
    /// The mayor's office: dispatchers, admins, the triage room.
    Dispatcher,
}

impl Viewer {
    /// Sees the task's text and place whole (not masked).
    pub fn sees_whole(self) -> bool {
        self >= Viewer::Reporter
    }
}

/// What one viewer may see of a task, ready to render.
#[derive(Debug, Clone)]
pub(super) struct TaskView {
    pub number: String,
    pub category: String,
    pub status: String,
    pub description: String,
    pub place: String,
}

pub(super) fn is_public(t: &Task) -> bool {
    t.visibility == Visibility::Public && t.crew.is_some()
}

/// Who `who` is to `t`.
pub(super) fn viewer(cfg: &Config, t: &Task, who: &Identity) -> Viewer {
    if cfg.is_dispatcher_in(who, t.place.district.as_deref()) {
        Viewer::Dispatcher
    } else if t.crew.as_deref().is_some_and(|c| cfg.crews_of(who).contains(&c)) {
        Viewer::Crew
    } else if t.reporter == *who {
        Viewer::Reporter
    } else if is_public(t) && t.followers.contains(who) {
        Viewer::Follower
    } else if is_public(t) {
        Viewer::Public
    } else {
        Viewer::Nobody
    }
}

/// Who a room is to `t`: everyone in it reads what is posted there. The town's triage
/// room is the mayor's office for every task; a district's, for the tasks in it.
pub(super) fn room_viewer(cfg: &Config, t: &Task, room: &str) -> Viewer {
    if room == "triage" || (cfg.is_triage_room(room) && cfg.triage_room(t.place.district.as_deref()) == room) {
        Viewer::Dispatcher
    } else if t.crew.as_deref() == Some(room) {
        Viewer::Crew
    } else if is_public(t) {
        Viewer::Public
    } else {
        Viewer::Nobody
    }
}

/// Whether a message about `t` may go to `to` now.
pub(super) fn may_receive(cfg: &Config, t: &Task, to: &Destination) -> bool {
    match to {
        Destination::Direct(who) => viewer(cfg, t, who) != Viewer::Nobody,
        Destination::Room(r) => room_viewer(cfg, t, r) != Viewer::Nobody,
    }
}

/// The task's text as `v` may read it.
pub(super) fn description_for(t: &Task, v: Viewer) -> Option<String> {
    if t.description.is_empty() {
        // Erased at the reporter's request, or by the retention setting.
        return (v != Viewer::Nobody).then(|| personal::MASK.to_owned());
    }
    match v {
        Viewer::Nobody => None,
        v if v.sees_whole() => Some(t.description.clone()),
        _ => Some(mask_for_public(t, &t.description)),
    }
}

/// Masks personal data (phones, e-mails, the reporter's name) in a task's text.
pub(super) fn mask_for_public(t: &Task, text: &str) -> String {
    let names: Vec<&str> = t.reporter_name.as_deref().into_iter().collect();
    personal::mask(text, &names)
}

impl<'e, 's> Cx<'e, 's> {
    pub(super) fn viewer(&self, t: &Task, who: &Identity) -> Viewer {
        viewer(self.cfg(), t, who)
    }

    /// What `v` may see of `t`, in `lang`; `None`: nothing, not even that it exists.
    pub(super) fn view(&self, t: &Task, v: Viewer, lang: &str) -> Option<TaskView> {
        let description = description_for(t, v)?;
        Some(TaskView {
            number: t.id.0.to_string(),
            category: self.category_name(t, lang),
            status: self.status_label(t.status, lang),
            place: self.place_text(t, v),
            description,
        })
    }

    /// The people to tell about a change of `t` now, each with what they may see: the
    /// reporter (unless they are the one working on it: a crew's announcement, their own
    /// report they took), and the followers while the task is public.
    pub(super) fn recipients(&self, t: &Task) -> Vec<(Identity, Viewer)> {
        let mut out = vec![(t.reporter.clone(), self.viewer(t, &t.reporter))];
        if t.assignee.as_ref() == Some(&t.reporter) {
            out.clear();
        }
        if is_public(t) {
            for f in &t.followers {
                if !out.iter().any(|(w, _)| w == f) {
                    out.push((f.clone(), self.viewer(t, f)));
                }
            }
        }
        out.retain(|(who, v)| *v != Viewer::Nobody && !who.is_erased());
        out
    }
}
