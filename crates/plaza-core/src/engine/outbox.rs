//! Messages out: every outbound is written to the outbox of each channel that hosts
//! its destination, in the same transaction as the change that caused it.

use tracing::debug;

use super::audience::Viewer;
use super::*;
use crate::channel::{Capabilities, Outbound};
use crate::store::NewOutbox;

impl<'e, 's> Cx<'e, 's> {
    fn push(&mut self, channel: String, message: Outbound) {
        self.tx.batch.outbox.push(NewOutbox { channel, message });
    }
    pub(super) fn plain_room(&self, room: &str, text: String, task: Option<TaskId>) -> Outbound {
        Outbound::new(Destination::Room(room.to_owned()), text, task)
    }
    /// A message to a room, on every channel that hosts it.
    pub(super) fn room(&mut self, room: &str, out: Outbound) {
        self.room_per_channel(room, |_| out.clone());
    }
    /// A message to a room made for each channel that hosts it (by what it can do).
    pub(super) fn room_per_channel(&mut self, room: &str, build: impl Fn(Capabilities) -> Outbound) {
        let chans = self.e.room_channels.get(room).cloned().unwrap_or_default();
        if chans.is_empty() {
            // Said once at start (`Engine::start`); a town on the web alone has no rooms.
            debug!(room, "no channel hosts this room; message dropped");
        }
        for ch in chans {
            let out = build(self.e.capabilities_of(&ch));
            self.push(ch, out);
        }
    }
    /// A direct message, on the person's own channel.
    pub(super) fn dm(&mut self, who: &Identity, text: String, task: Option<TaskId>) {
        self.dm_out(who, Outbound::new(Destination::Direct(who.clone()), text, task));
    }
    /// A direct message the person did not ask for: only into a chat they already have
    /// with the bot (see [`Outbound::only_if_open`]).
    pub(super) fn dm_unasked(&mut self, who: &Identity, text: String, task: Option<TaskId>) {
        let out = Outbound { only_if_open: true, ..Outbound::new(Destination::Direct(who.clone()), text, task) };
        self.dm_out(who, out);
    }
    pub(super) fn dm_out(&mut self, who: &Identity, out: Outbound) {
        if who.is_erased() {
            return;
        }
        let ch = who.channel().to_owned();
        self.push(ch, out);
    }
    /// Answers the sender where they wrote: their direct chat, or the room (in the
    /// thread they wrote in, if any). An answer to something written in the public room
    /// goes to the sender privately: the public room is not a place for replies that
    /// may concern one person.
    pub(super) fn answer(&mut self, inb: &Inbound, thread: Option<&PostRecord>, text: String) {
        // A button pressed in a room is answered where it was pressed, at once, to that
        // person alone (see `Inbox::deliver`), not with a message in the room.
        if matches!(inb.kind, InboundKind::Button { .. }) && matches!(inb.chat, Chat::Room(_)) {
            self.tx.toast = Some(text);
            return;
        }
        match &inb.chat {
            Chat::Direct => self.dm(&inb.sender, text, None),
            Chat::Room(r) if r == "public" => self.dm(&inb.sender, text, None),
            Chat::Room(r) => {
                let r = r.clone();
                let mut out = self.plain_room(&r, text, None);
                if let Some(p) = thread.filter(|p| p.room == r) {
                    out.task = Some(p.task);
                    out.thread = Some(p.kind);
                }
                self.room(&r, out);
            }
            Chat::Unknown(_) => {}
        }
    }
    /// Who reads an answer given where `inb` was written, about task `t`: the room (for
    /// a crew or triage room), else the sender.
    pub(super) fn answer_viewer(&self, inb: &Inbound, t: &Task) -> Viewer {
        match &inb.chat {
            Chat::Room(r) if r != "public" => audience::room_viewer(self.cfg(), t, r),
            _ => self.viewer(t, &inb.sender),
        }
    }
    /// Tells everyone who hears of `task` now (see [`Cx::recipients`]), each in their
    /// language and with what they may see.
    pub(super) fn tell_audience(&mut self, task: TaskId, build: impl Fn(&Cx<'e, 's>, &str, Viewer) -> String) {
        let Some(t) = self.st.tasks.get(&task) else { return };
        if self.tx.quiet {
            return;
        }
        for (who, v) in self.recipients(t) {
            if self.tx.answered_in_person.as_ref() == Some(&who) {
                continue;
            }
            let lang = self.lang_of(&who);
            let text = build(self, &lang, v);
            // The reporter wrote to the bot; a follower may only have reacted to a post.
            match v {
                Viewer::Follower => self.dm_unasked(&who, text, Some(task)),
                _ => self.dm(&who, text, Some(task)),
            }
        }
    }
}
