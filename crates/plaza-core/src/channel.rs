//! The one trait a messenger adapter implements, and the messages that cross it.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::model::{GeoPoint, Identity, TaskId, Timestamp};

/// Where a message was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Chat {
    /// A direct (private) chat between the sender and the bot.
    Direct,
    /// A room the config names: a crew's id, `public` or `triage`.
    Room(String),
    /// A group the bot is in that the config does not name; the engine ignores it.
    Unknown(String),
}

/// What happened, normalised from a platform event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundKind {
    Text {
        text: String,
    },
    Location {
        point: GeoPoint,
    },
    Attachment {
        kind: String,
        reference: String,
        caption: Option<String>,
    },
    /// A reaction (emoji) to one of the bot's messages.
    Reaction {
        key: String,
    },
    /// A button press; `data` is what the bot put on the button.
    Button {
        data: String,
    },
    /// A report with its kind already chosen, from an API client (Open311 GeoReport v2
    /// POST): routed like a chat report (the same limits, privacy and duplicates), with
    /// `service_code` (a category id) instead of the classifier's choice. Privacy still
    /// wins: a private word in the description makes it private whatever the code.
    ServiceRequest {
        service_code: String,
        description: String,
        #[serde(default)]
        point: Option<GeoPoint>,
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        media_url: Option<String>,
    },
    /// A message that reached the bot but cannot be read (end-to-end encrypted with keys
    /// the bot never got): the sender is asked to send it again, never left in silence.
    Unreadable,
    Joined,
    Left,
}

impl InboundKind {
    /// The kind's name (metrics label).
    pub fn name(&self) -> &'static str {
        match self {
            InboundKind::Text { .. } => "text",
            InboundKind::Location { .. } => "location",
            InboundKind::Attachment { .. } => "attachment",
            InboundKind::Reaction { .. } => "reaction",
            InboundKind::Button { .. } => "button",
            InboundKind::ServiceRequest { .. } => "service_request",
            InboundKind::Unreadable => "unreadable",
            InboundKind::Joined => "joined",
            InboundKind::Left => "left",
        }
    }
}

/// One incoming event from a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inbound {
    /// The channel's name: "console", "telegram", "matrix".
    pub channel: String,
    /// The platform's id for this event; with `channel`, the redelivery key.
    pub message_id: String,
    pub sender: Identity,
    /// How the sender is called on the platform (shown to crews, never in public).
    #[serde(default)]
    pub sender_name: Option<String>,
    pub chat: Chat,
    pub kind: InboundKind,
    /// The platform id of the bot message this answers, reacts to or is in the thread of.
    pub reply_to: Option<String>,
}

/// Where an outgoing message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    Direct(Identity),
    Room(String),
}

/// A button the channel may show (Telegram inline keyboard); channels without buttons
/// drop them: the text always says how to do the same by writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    /// Comes back as [`InboundKind::Button`]: `claim:12`, `done:12`, `metoo:12`.
    pub data: String,
}

/// Which of a task's messages: the post in the public room, the card in a crew room, the
/// card in triage. Replies and reactions to these come back to the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostKind {
    Public,
    Card,
    Triage,
}

/// A message as the engine writes it to the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    pub to: Destination,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    pub task: Option<TaskId>,
    /// This message IS the task's post of that kind in the room (later edited, answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<PostKind>,
    /// Replace the text of the task's post of this kind in the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit: Option<PostKind>,
    /// Put this message in the thread of the task's post of this kind in the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<PostKind>,
    /// One line standing for this message when several are grouped into one (a rush
    /// of new tasks in a room the platform limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// With `edit`: the post is withdrawn (its task became private). The adapter removes
    /// the original text from the room's history where the platform allows it (Matrix:
    /// redact the post and its edits; Telegram: delete it) and shows `text`, a neutral
    /// line, in its place.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withdraw: bool,
    /// The last message to a person who asked for their data to be erased: it survives
    /// the erasure to be delivered, and is blanked once it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub farewell: bool,
    /// A direct message the person did not ask for (a neighbour who only reacted 👍,
    /// a follower's update): sent only into a direct chat that already exists; an
    /// adapter never opens a chat (an invitation out of the blue) for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub only_if_open: bool,
}

impl Outbound {
    /// A plain message to `to`, about `task` if any.
    pub fn new(to: Destination, text: String, task: Option<TaskId>) -> Outbound {
        Outbound {
            to,
            text,
            buttons: vec![],
            task,
            post: None,
            edit: None,
            thread: None,
            summary: None,
            withdraw: false,
            farewell: false,
            only_if_open: false,
        }
    }
}

/// What an adapter is asked to send: the outbox message with the platform ids it refers
/// to already looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The same on every attempt to send this message (`plaza-<outbox row>`): where the
    /// platform deduplicates by a client key (Matrix transaction ids), a re-send after a
    /// crash between sending and recording is not shown twice.
    pub key: String,
    pub to: Destination,
    pub text: String,
    pub buttons: Vec<Button>,
    pub task: Option<TaskId>,
    pub post: Option<PostKind>,
    /// Platform id of the message to edit (the adapter edits it in place, or, if it
    /// cannot, sends the text as a new message).
    pub edit: Option<String>,
    /// Platform id of the message whose thread this belongs to.
    pub reply_to: Option<String>,
    /// The post `edit` names is withdrawn: remove its text from the room's history where
    /// the platform can (redaction, deletion) and show `text` instead.
    pub withdraw: bool,
    /// Send only into a direct chat that exists already (see [`Outbound::only_if_open`]);
    /// if there is none, report it delivered without sending.
    pub only_if_open: bool,
    /// The last message to a person whose data was erased: an adapter that keeps
    /// anything of the conversation itself (the web chat's page) forgets it, and keeps
    /// only this message.
    pub farewell: bool,
}

impl Outgoing {
    /// A new plain text message to `to` (no task, post, edit, thread or buttons); fill in
    /// `key` and `text`.
    pub fn plain(to: Destination) -> Outgoing {
        Outgoing {
            key: String::new(),
            to,
            text: String::new(),
            buttons: vec![],
            task: None,
            post: None,
            edit: None,
            reply_to: None,
            withdraw: false,
            only_if_open: false,
            farewell: false,
        }
    }
}

/// What the platform gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The platform id of the message (for an edit, the id of the edited message).
    pub message_id: String,
}

/// What a platform allows a bot to send; the dispatcher keeps within it. `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Messages per second over the whole channel.
    pub per_second: Option<u32>,
    /// Least time between two messages to one chat (direct or room).
    pub per_chat_interval: Option<Duration>,
    /// Messages per minute to one room (a group).
    pub per_room_per_minute: Option<u32>,
    /// How many chats may be sent to at the same time (each chat keeps its order);
    /// 0 or 1: one message at a time.
    pub concurrent_chats: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub threads: bool,
    pub buttons: bool,
    pub edits: bool,
    pub reactions: bool,
    pub location: bool,
    /// Its senders cannot answer a question (an API client): nothing is asked of them.
    pub one_way: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelError {
    /// The platform asked us to wait (HTTP 429, M_LIMIT_EXCEEDED); the message stays queued.
    #[error("rate limited: retry after {0:?}")]
    RetryAfter(Duration),
    /// Could not reach the platform; retried with backoff.
    #[error("network: {0}")]
    Network(String),
    /// The platform refused this message for good (chat gone, bot blocked, bad request).
    #[error("rejected: {0}")]
    Rejected(String),
    /// The destination room is not configured on this channel.
    #[error("no such room on this channel: {0}")]
    UnknownRoom(String),
    #[error("{0}")]
    Other(String),
}

/// The engine's side of a channel: where an adapter hands what it received.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Handles one event. Returns once its effects are stored (and so will be delivered),
    /// with, for a button pressed in a room, the short answer to show the person at once
    /// where they pressed it (Telegram's answerCallbackQuery toast). The engine sends
    /// that answer nowhere else, so a channel with buttons must show it.
    async fn deliver(&self, inbound: Inbound) -> Result<Option<String>, crate::EngineError>;
    /// Waits until everything due in the outbox has been delivered (console, tests).
    async fn settle(&self);
    /// The current time of the engine's clock.
    fn now(&self) -> Timestamp;
    /// A channel's resume point (Telegram update offset, Matrix sync token), kept in the
    /// store.
    async fn cursor(&self, key: &str) -> Result<Option<String>, crate::StoreError>;
    async fn set_cursor(&self, key: &str, value: &str) -> Result<(), crate::StoreError>;
}

/// A messenger adapter. A town that wants another messenger implements this and
/// nothing else.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The channel's name, also the prefix of its identities: "telegram" → `telegram:42`.
    fn name(&self) -> &str;
    fn capabilities(&self) -> Capabilities;
    /// The platform's sending limits; the dispatcher keeps within them.
    fn limits(&self) -> Limits {
        Limits::default()
    }
    /// The logical rooms (crew ids, `public`, `triage`) this channel hosts.
    fn rooms(&self) -> Vec<String>;
    /// The receive loop: normalise each platform event into an [`Inbound`] and hand it to
    /// `inbox`. Returns when the channel is done (end of input, shutdown).
    async fn run(&self, inbox: std::sync::Arc<dyn Inbox>) -> Result<(), ChannelError>;
    /// Sends (or edits) one message.
    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError>;
}
