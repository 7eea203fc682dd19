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
    /// The channel could not verify that this message comes from `sender` (an e-mail
    /// whose SPF and DKIM checks failed): it is handled as a resident's, never with the
    /// crew or dispatcher powers the identity has.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unverified: bool,
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
    /// How many residents' chats may be sent to at the same time (each chat keeps its
    /// order); rooms go beside them, half as many (at least one): up to 1.5× this in all.
    /// 0 or 1: one message at a time, whatever the chat.
    pub concurrent_chats: usize,
    /// Longest message in characters; a longer one is split by the dispatcher into
    /// several (at line, then word ends), each within the rate limits above. An edit
    /// cannot be split: it is shortened, ending with "…".
    pub max_chars: Option<usize>,
    /// Most lines in one message (a line-based network such as IRC: one line each);
    /// split like `max_chars`.
    pub max_lines: Option<usize>,
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
    /// The platform vouches for its user ids: nobody can write as `telegram:42` but that
    /// account (Telegram, Matrix). Where anyone can take a name (an IRC nick), crew and
    /// dispatcher powers need the town's explicit `trust_ids = true` in the channel's
    /// section: `plaza check` refuses staff on it otherwise.
    pub authenticated_ids: bool,
    /// The platform drops a second send with the same [`Outgoing::key`] (Matrix
    /// transaction ids): a send whose outcome is [`ChannelError::Uncertain`] is simply
    /// tried again. Without it, an uncertain send is not repeated (a resident is never
    /// told the same thing twice) and is counted as delivered.
    pub idempotent_sends: bool,
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
    /// The message was written to the platform but its answer never came (the connection
    /// dropped): it may or may not have gone out. See [`Capabilities::idempotent_sends`].
    #[error("uncertain: {0}")]
    Uncertain(String),
    /// A setting of the channel's section is missing or wrong at start (a secret not in
    /// the environment): (key, message), located in the config file by the binary.
    #[error("{0}: {1}")]
    Setting(String, String),
    /// The destination room is not configured on this channel.
    #[error("no such room on this channel: {0}")]
    UnknownRoom(String),
    #[error("{0}")]
    Other(String),
}

impl ChannelError {
    /// The first of a section's problems, as an error at start (`plaza check` says all).
    pub fn first(problems: Vec<crate::config::section::Problem>) -> ChannelError {
        problems
            .into_iter()
            .next()
            .map_or_else(|| ChannelError::Other("the section has a problem".into()), Self::setting)
    }

    /// A setting's problem (key, message), e.g. a secret missing from the environment.
    pub fn setting((key, message): crate::config::section::Problem) -> ChannelError {
        ChannelError::Setting(key, message)
    }
}

/// The cursor key for what a channel keeps about one person (an e-mail thread): a
/// person's keys are deleted when their data is erased.
pub fn person_key(who: &Identity, what: &str) -> String {
    format!("person:{who}:{what}")
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
    /// store; or what a channel keeps about one person, under a key made with
    /// [`person_key`] — erased with the person.
    async fn cursor(&self, key: &str) -> Result<Option<String>, crate::StoreError>;
    async fn set_cursor(&self, key: &str, value: &str) -> Result<(), crate::StoreError>;
}

/// A messenger adapter. A town that wants another messenger implements this, and
/// [`ChannelKind`] to be named in a config (see docs/ADAPTERS.md).
///
/// The contract:
/// - **Readiness.** The dispatcher sends nothing before [`Channel::ready`] returns (an
///   IRC client that has not joined its channels yet). Messages wait in the outbox.
/// - **Receiving.** [`Channel::run`] hands every event to the inbox and returns `Ok(())`
///   only when the channel is finished for good (end of the console's input): the town's
///   bot then runs without it. Returning an error (or panicking) means "start me again":
///   the runtime calls `run` again after 1 s, doubling to a minute while it keeps failing
///   (an error in the first two seconds of the first start stops `plaza serve` with it: a
///   wrong address or password is said at once). Keep a resume point with
///   [`Inbox::set_cursor`] after each event is delivered, so that a restart neither loses
///   nor repeats one: the engine also drops an event whose `(channel, message_id)` it has
///   seen.
/// - **Sending.** [`Channel::send`] sends one message and returns the platform's id for
///   it (used for edits and to recognise replies; a platform without ids returns any
///   unique string). Errors say what the dispatcher does: [`ChannelError::RetryAfter`]
///   and [`ChannelError::Network`] keep the message queued (never given up),
///   [`ChannelError::Uncertain`] see [`Capabilities::idempotent_sends`], anything else
///   fails that message for good. Sending within [`Limits`] and splitting long texts is
///   the dispatcher's job, not the adapter's.
/// - **Capabilities** drive the texts: without `threads` a public post says how to
///   answer in writing (`#12 …`), without `edits` a change is sent as a one-line update,
///   without `buttons` the text already says what to write.
/// - **Identity.** `Inbound::sender` is `NAME:ID` with the platform's stable user id,
///   never a display name. Say in [`Capabilities::authenticated_ids`] whether the platform
///   vouches for it; mark a message whose sender could not be checked `unverified`.
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
    /// Returns once the channel can send (connected, rooms joined). The default: at once.
    async fn ready(&self) {}
    /// The receive loop: normalise each platform event into an [`Inbound`] and hand it to
    /// `inbox`. `Ok(())`: finished for good; an error: start me again (see the trait).
    async fn run(&self, inbox: std::sync::Arc<dyn Inbox>) -> Result<(), ChannelError>;
    /// Sends (or edits) one message.
    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError>;
}

/// A messenger as a config names it: the adapter crate's entry in the binary's registry
/// (`plaza::Registry::standard().channel(MyKind)`). The core never reads the section: it
/// hands it here whole.
#[async_trait]
pub trait ChannelKind: Send + Sync + 'static {
    /// The section's name (`[irc]`), also the prefix of the channel's identities
    /// (`irc:luis`) and the [`Channel::name`] of what [`ChannelKind::build`] returns.
    fn name(&self) -> &'static str;
    /// Every problem with the section, as (key, message): `irc.rooms.water`, "not a
    /// channel name". The binary adds the file and line. Use [`crate::config::section`].
    fn check(&self, section: &toml::Table, town: &crate::Config) -> Vec<crate::config::section::Problem>;
    /// The town's rooms this section hosts: by default the keys of `[NAME.rooms]`.
    fn hosted_rooms(&self, section: &toml::Table) -> Vec<String> {
        section.get("rooms").and_then(|r| r.as_table()).map(|r| r.keys().cloned().collect()).unwrap_or_default()
    }
    /// What a room's address is called on this platform ("chat id", "room id"), for
    /// "no chat id for the room `water`".
    fn room_address(&self) -> &'static str {
        "address"
    }
    /// Whether `id` (after `NAME:`) has the platform's shape; else what is wrong.
    fn check_identity(&self, id: &str) -> Result<(), String> {
        let _ = id;
        Ok(())
    }
    /// Whether the platform vouches for its user ids (see
    /// [`Capabilities::authenticated_ids`]); if not, staff on it need `trust_ids = true`.
    fn authenticated_ids(&self) -> bool;
    /// What `plaza check` should say that is not an error here (a secret that is not in
    /// this shell's environment but will be in the server's).
    fn notes(&self, section: &toml::Table, town: &crate::Config) -> Vec<String> {
        let _ = (section, town);
        vec![]
    }
    /// Builds the channel for `plaza serve` from its checked section: reads its secrets,
    /// connects. A missing secret is [`ChannelError::Setting`].
    async fn build(
        &self,
        section: &toml::Table,
        town: &crate::Config,
    ) -> Result<std::sync::Arc<dyn Channel>, ChannelError>;
}
