use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::TimelineEventKind;
use matrix_sdk::room::{IncludeRelations, MessagesOptions, RelationsOptions};
use matrix_sdk::ruma::api::error::{ErrorKind, RetryAfter};
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::relation::RelationType;
use matrix_sdk::ruma::events::relation::Thread;
use matrix_sdk::ruma::events::room::MediaSource;
use matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent;
use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation, ReplacementMetadata, RoomMessageEventContent,
};
use matrix_sdk::ruma::events::{AnySyncMessageLikeEvent, AnySyncTimelineEvent, SyncMessageLikeEvent};
use matrix_sdk::ruma::serde::Raw;
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId, RoomAliasId, RoomId, UserId};
use matrix_sdk::{Client, Room, RoomState};
use plaza_core::channel::{
    Capabilities, Channel, ChannelError, Chat, Delivered, Destination, Inbound, InboundKind, Inbox, Limits, Outgoing,
};
use plaza_core::model::{GeoPoint, Identity};
use tracing::{debug, error, info, warn};

use crate::NAME;
use crate::settings::{MatrixSettings, Secret};

/// At most one sync request this often. A long poll returns at every event in the bot's
/// rooms, its own messages too: sending a backlog of 185 messages made ~100 syncs in 9 s
/// (29 with this), and each costs the homeserver (whose one core was the bottleneck,
/// `scripts/bench-matrix`) and the bot. A message that comes while the bot is quiet is
/// not delayed; during a burst by at most this.
const SYNC_EVERY: Duration = Duration::from_millis(200);
/// Where the sync token is kept in Plaza's store (after the events it covers are handled).
const SINCE_KEY: &str = "matrix.since";
/// How long a message that cannot be decrypted waits for its key (which usually comes
/// within seconds, in a later sync) before its sender is asked to send it again.
const UNDECRYPTED_PATIENCE: Duration = Duration::from_secs(20);
/// The longest pause between tries of what must get through before the bot goes on (its
/// own store on a full disk, a read of what a sync left out): soon after space or the
/// homeserver comes back, it goes on.
const RETRY_AT_MOST: Duration = Duration::from_secs(5);
/// The free space under the bot's store that ends a "disk full" (below it, a write that
/// succeeded fitted in space SQLite already had).
const ROOM_AGAIN: u64 = 1 << 20;

/// Makes the bot's device trusted by its own identity (cross-signing), so that Element
/// shows its messages without an "unverified device" warning. Creating the identity
/// needs the account's password (user-interactive auth); with an access token only, the
/// log says how to do it once by hand.
async fn cross_sign(client: &Client, user_id: &str, secret: &Secret) {
    use matrix_sdk::ruma::api::client::uiaa;
    let Err(e) = client.encryption().bootstrap_cross_signing_if_needed(None).await else {
        info!("matrix: the bot's device is cross-signed");
        return;
    };
    let (Some(response), Secret::Password(password)) = (e.as_uiaa_response(), secret) else {
        warn!(
            error = %e,
            "matrix: the bot's device is not cross-signed (Element may mark it unverified); \
             log in once with password_env to set it up, see README: Connecting Matrix"
        );
        return;
    };
    let user = user_id.trim_start_matches('@').split(':').next().unwrap_or(user_id).to_owned();
    let mut auth =
        uiaa::Password::new(uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(user)), password.clone());
    auth.session = response.session.clone();
    match client.encryption().bootstrap_cross_signing(Some(uiaa::AuthData::Password(auth))).await {
        Ok(()) => info!("matrix: cross-signing set up; the bot's device is signed by its identity"),
        Err(e) => warn!(error = %e, "matrix: could not set up cross-signing"),
    }
}

/// A message waiting for its decryption key.
struct Undecrypted {
    room: Room,
    raw: Raw<OriginalSyncRoomEncryptedEvent>,
    event_id: String,
    sender: OwnedUserId,
    since: std::time::Instant,
}

/// What the event handlers collect during one sync, in order; handled after it.
enum Event {
    Message(Room, Box<OriginalSyncRoomMessageEvent>),
    /// An encrypted message the bot could not decrypt when it came (its key not here yet).
    Undecrypted(Room, Raw<OriginalSyncRoomEncryptedEvent>),
    Reaction(Room, Box<OriginalSyncReactionEvent>),
    Invite(Room, bool),
}

pub struct MatrixChannel {
    client: Client,
    settings: MatrixSettings,
    /// Room name → room id, and back.
    room_ids: HashMap<String, OwnedRoomId>,
    room_names: HashMap<OwnedRoomId, String>,
    /// Each resident's direct chat with the bot.
    dms: Mutex<HashMap<OwnedUserId, OwnedRoomId>>,
    /// When the bot joined each room it joined (ms): older events there are history.
    joined_at: Mutex<HashMap<OwnedRoomId, u64>>,
    collected: Arc<Mutex<Vec<Event>>>,
    undecrypted: Mutex<Vec<Undecrypted>>,
    /// Since when the bot's store has been refusing writes for lack of space (said once).
    disk_full_since: Mutex<Option<std::time::Instant>>,
}

/// A message, a reaction or a message not yet decrypted, read from a room's history.
fn event_of(room: &Room, te: matrix_sdk::deserialized_responses::TimelineEvent) -> Option<Event> {
    if let TimelineEventKind::UnableToDecrypt { event, .. } = te.kind {
        return Some(Event::Undecrypted(room.clone(), event.cast_unchecked()));
    }
    match te.kind.raw().deserialize().ok()? {
        AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(SyncMessageLikeEvent::Original(ev))) => {
            Some(Event::Message(room.clone(), Box::new(ev)))
        }
        AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::Reaction(SyncMessageLikeEvent::Original(ev))) => {
            Some(Event::Reaction(room.clone(), Box::new(ev)))
        }
        _ => None,
    }
}

fn other(e: impl std::fmt::Display) -> ChannelError {
    ChannelError::Other(e.to_string())
}

fn channel_error(e: matrix_sdk::Error) -> ChannelError {
    if let Some(ErrorKind::LimitExceeded(limit)) = e.client_api_error_kind() {
        let wait = match &limit.retry_after {
            Some(RetryAfter::Delay(d)) => *d,
            _ => Duration::from_secs(2),
        };
        return ChannelError::RetryAfter(wait);
    }
    match &e {
        matrix_sdk::Error::Http(h) if h.as_client_api_error().is_none() => ChannelError::Network(e.to_string()),
        _ => ChannelError::Rejected(e.to_string()),
    }
}

impl MatrixChannel {
    /// Logs in (or restores the saved session, keeping the same device and its keys) and
    /// resolves the configured room aliases.
    pub async fn connect(settings: MatrixSettings, secret: &Secret) -> Result<MatrixChannel, ChannelError> {
        std::fs::create_dir_all(&settings.store)
            .map_err(|e| other(format!("cannot create {}: {e}", settings.store.display())))?;
        let client = Client::builder()
            .homeserver_url(&settings.homeserver)
            .sqlite_store(settings.store.join("sdk"), None)
            .build()
            .await
            .map_err(other)?;
        // Plaza keeps its own sync token, stored only once the events it covers are
        // handled. The SDK keeps one too, of the last response it processed, and ignores
        // a response with that same next token ("Got the same sync response twice"):
        // after a kill between the SDK's processing and Plaza's commit, the homeserver
        // answers Plaza's older token with that very response, and its messages were
        // lost. Forgetting the SDK's token before the session is restored leaves Plaza's
        // the only one.
        client.state_store().remove_kv_data(matrix_sdk::store::StateStoreDataKey::SyncToken).await.map_err(other)?;
        let session_file = settings.store.join("session.json");
        match read_session(&session_file)? {
            Some(session) => {
                client.restore_session(session).await.map_err(other)?;
                info!(user = %settings.user_id, device = ?client.device_id(), "matrix: session restored");
            }
            None => {
                match secret {
                    Secret::Password(password) => {
                        client
                            .matrix_auth()
                            .login_username(&settings.user_id, password)
                            .initial_device_display_name(&settings.device_name)
                            .await
                            .map_err(|e| other(format!("matrix login as {}: {e}", settings.user_id)))?;
                    }
                    Secret::AccessToken(token) => {
                        let device = device_of_token(&settings, token).await?;
                        let session = MatrixSession {
                            meta: matrix_sdk::SessionMeta {
                                user_id: <&UserId>::try_from(settings.user_id.as_str()).map_err(other)?.to_owned(),
                                device_id: device.into(),
                            },
                            tokens: matrix_sdk::SessionTokens { access_token: token.clone(), refresh_token: None },
                        };
                        client.restore_session(session).await.map_err(other)?;
                    }
                }
                let session = client.matrix_auth().session().ok_or_else(|| other("no session after login"))?;
                write_session(&session_file, &session)?;
                info!(user = %settings.user_id, device = ?client.device_id(), "matrix: logged in");
            }
        }
        cross_sign(&client, &settings.user_id, secret).await;
        let mut room_ids = HashMap::new();
        for (name, r) in &settings.rooms {
            let id: OwnedRoomId = if r.starts_with('#') {
                let alias =
                    <&RoomAliasId>::try_from(r.as_str()).map_err(|e| other(format!("matrix.rooms.{name}: {e}")))?;
                client.resolve_room_alias(alias).await.map_err(|e| other(format!("matrix.rooms.{name}: {e}")))?.room_id
            } else {
                <&RoomId>::try_from(r.as_str()).map_err(|e| other(format!("matrix.rooms.{name}: {e}")))?.to_owned()
            };
            room_ids.insert(name.clone(), id);
        }
        let room_names = room_ids.iter().map(|(n, id)| (id.clone(), n.clone())).collect();
        let ch = MatrixChannel {
            client,
            settings,
            room_ids,
            room_names,
            dms: Mutex::new(HashMap::new()),
            joined_at: Mutex::new(HashMap::new()),
            collected: Arc::new(Mutex::new(Vec::new())),
            undecrypted: Mutex::new(Vec::new()),
            disk_full_since: Mutex::new(None),
        };
        ch.add_handlers();
        Ok(ch)
    }

    /// Whether `e` is the bot's own store out of space; if so, says it (once while it
    /// lasts): what residents write waits on the homeserver, what Plaza sends waits in
    /// its outbox.
    fn disk_full(&self, e: &matrix_sdk::Error) -> bool {
        // The SDK's store (SQLite under the bot's `store` folder) says "failed to read or
        // write to the crypto store database or disk is full".
        let text = e.to_string();
        if !plaza_core::store::says_disk_full(&text) {
            return false;
        }
        let mut since = self.disk_full_since.lock().unwrap_or_else(|p| p.into_inner());
        if since.is_none() {
            error!(
                store = %self.settings.store.display(),
                error = %text,
                "matrix: disk full: the bot's store cannot be written; messages wait (residents' on the homeserver, Plaza's in its outbox) until there is space"
            );
            *since = Some(std::time::Instant::now());
        }
        true
    }

    /// The bot's store took a write again: says so if it had been full and its disk has
    /// room again. A write that succeeds on a disk still full (one that fitted in space
    /// SQLite had already, or a send to a room without encryption, which writes nothing)
    /// is no recovery: saying so would say "disk full" again at the next failing write,
    /// once per message.
    fn disk_has_space(&self) {
        let mut since = self.disk_full_since.lock().unwrap_or_else(|p| p.into_inner());
        if since.is_none() {
            return;
        }
        if plaza_core::store::free_bytes_at(&self.settings.store).is_some_and(|free| free < ROOM_AGAIN) {
            return;
        }
        if let Some(since) = since.take() {
            info!(after_s = since.elapsed().as_secs(), "matrix: the bot's store accepts writes again");
        }
    }

    /// A send's error as the outbox should treat it: a full disk of the bot's own store
    /// (encrypting records the session's ratchet) is waited out, not a failure for good.
    fn send_error(&self, e: matrix_sdk::Error) -> ChannelError {
        if self.disk_full(&e) { ChannelError::RetryAfter(RETRY_AT_MOST) } else { channel_error(e) }
    }

    /// The device this bot uses (kept across restarts).
    pub fn device_id(&self) -> Option<String> {
        self.client.device_id().map(|d| d.to_string())
    }

    fn add_handlers(&self) {
        let c = self.collected.clone();
        self.client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
            let c = c.clone();
            async move { c.lock().unwrap_or_else(|p| p.into_inner()).push(Event::Message(room, Box::new(ev))) }
        });
        let c = self.collected.clone();
        self.client.add_event_handler(move |raw: Raw<OriginalSyncRoomEncryptedEvent>, room: Room| {
            let c = c.clone();
            async move { c.lock().unwrap_or_else(|p| p.into_inner()).push(Event::Undecrypted(room, raw)) }
        });
        let c = self.collected.clone();
        self.client.add_event_handler(move |ev: OriginalSyncReactionEvent, room: Room| {
            let c = c.clone();
            async move { c.lock().unwrap_or_else(|p| p.into_inner()).push(Event::Reaction(room, Box::new(ev))) }
        });
        let c = self.collected.clone();
        self.client.add_event_handler(move |ev: StrippedRoomMemberEvent, room: Room, client: Client| {
            let c = c.clone();
            async move {
                let me = client.user_id().map(|u| u.to_owned());
                if ev.content.membership == MembershipState::Invite && me.as_deref() == Some(ev.state_key.as_ref()) {
                    let direct = ev.content.is_direct.unwrap_or(false);
                    c.lock().unwrap_or_else(|p| p.into_inner()).push(Event::Invite(room, direct));
                }
            }
        });
    }

    fn me(&self) -> Option<OwnedUserId> {
        self.client.user_id().map(|u| u.to_owned())
    }

    /// Joins a configured room or a direct chat; refuses other invitations.
    async fn on_invite(&self, inbox: &dyn Inbox, room: Room, direct: bool) {
        let configured = self.room_names.contains_key(room.room_id());
        if !configured && !direct {
            info!(room = %room.room_id(), "matrix: refusing an invitation to a room the config does not name");
            if let Err(e) = room.leave().await {
                debug!(error = %e, "could not refuse the invitation");
            }
            return;
        }
        // Synapse may not be ready for the join right after the invite: try a few times.
        let mut pause = Duration::from_millis(200);
        for attempt in 1..=6 {
            match room.join().await {
                Ok(()) => {
                    info!(room = %room.room_id(), direct, "matrix: joined");
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0);
                    let key = format!("matrix.joined.{}", room.room_id());
                    if let Err(e) = inbox.set_cursor(&key, &now.to_string()).await {
                        warn!(error = %e, "could not store the join time");
                    }
                    return;
                }
                Err(e) => {
                    debug!(error = %e, attempt, "join failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        warn!(room = %room.room_id(), "matrix: could not join");
    }

    async fn inbound_message(&self, room: &Room, ev: &OriginalSyncRoomMessageEvent) -> Option<Inbound> {
        if Some(&ev.sender) == self.me().as_ref() {
            return None;
        }
        let (reply_to, edit) = match &ev.content.relates_to {
            Some(Relation::Thread(t)) => (Some(t.event_id.to_string()), false),
            Some(Relation::Reply(r)) => (Some(r.in_reply_to.event_id.to_string()), false),
            Some(Relation::Replacement(_)) => (None, true),
            _ => (None, false),
        };
        if edit {
            // A person correcting a message they sent: the first version was handled.
            return None;
        }
        let chat = self.chat_of(room, &ev.sender);
        let kind = match &ev.content.msgtype {
            MessageType::Text(t) => InboundKind::Text { text: strip_reply_fallback(&t.body) },
            MessageType::Emote(t) => InboundKind::Text { text: t.body.clone() },
            MessageType::Notice(_) => return None,
            MessageType::Location(l) => match parse_geo_uri(&l.geo_uri) {
                Some(point) => InboundKind::Location { point },
                None => InboundKind::Text { text: String::new() },
            },
            MessageType::Image(i) => InboundKind::Attachment {
                kind: "image".into(),
                reference: match &i.source {
                    MediaSource::Plain(uri) => uri.to_string(),
                    MediaSource::Encrypted(f) => f.url.to_string(),
                },
                caption: i.caption().map(str::to_owned),
            },
            _ => InboundKind::Text { text: String::new() },
        };
        let sender_name = match room.get_member_no_sync(&ev.sender).await {
            Ok(Some(m)) => m.display_name().map(str::to_owned),
            _ => None,
        };
        Some(Inbound {
            channel: NAME.into(),
            message_id: ev.event_id.to_string(),
            sender: Identity::new(NAME, ev.sender.to_string()),
            sender_name: sender_name.or_else(|| Some(ev.sender.localpart().to_owned())),
            chat,
            kind,
            reply_to,
            unverified: false,
        })
    }

    fn chat_of(&self, room: &Room, sender: &UserId) -> Chat {
        match self.room_names.get(room.room_id()) {
            Some(name) => Chat::Room(name.clone()),
            None => {
                // Any other room the bot is in is a direct chat with whoever writes.
                self.dms.lock().unwrap_or_else(|p| p.into_inner()).insert(sender.to_owned(), room.room_id().to_owned());
                Chat::Direct
            }
        }
    }

    /// A sync carries only the newest events of a room (Synapse: 10); when there were
    /// more since `since` ("limited"), the rest is read page by page back to `since` and
    /// put before what the sync collected, oldest first, so that nothing a resident wrote
    /// while Plaza was away is lost.
    async fn fill_gaps(
        &self,
        joined: &std::collections::BTreeMap<OwnedRoomId, matrix_sdk::sync::JoinedRoomUpdate>,
        since: &str,
    ) -> Result<(), ChannelError> {
        let mut missed: Vec<Event> = Vec::new();
        for (id, update) in joined {
            let (true, Some(prev)) = (update.timeline.limited, update.timeline.prev_batch.as_deref()) else {
                continue;
            };
            let Some(room) = self.client.get_room(id) else { continue };
            let mut from = prev.to_owned();
            let mut older: Vec<Event> = Vec::new();
            loop {
                let mut opts = MessagesOptions::backward().from(from.as_str());
                opts.to = Some(since.to_owned());
                opts.limit = matrix_sdk::ruma::UInt::from(100u32);
                let page = room.messages(opts).await.map_err(channel_error)?;
                let empty = page.chunk.is_empty();
                older.extend(page.chunk.into_iter().filter_map(|te| event_of(&room, te)));
                match page.end {
                    Some(end) if !empty && end != from => from = end,
                    _ => break,
                }
            }
            info!(room = %id, messages = older.len(), "matrix: read what a sync left out");
            older.reverse();
            missed.extend(older);
        }
        if !missed.is_empty() {
            let mut c = self.collected.lock().unwrap_or_else(|p| p.into_inner());
            missed.append(&mut c);
            *c = missed;
        }
        Ok(())
    }

    /// Handles what one sync collected, in order. Err: the engine could not store it.
    async fn handle_collected(&self, inbox: &dyn Inbox, live: bool) -> Result<(), plaza_core::EngineError> {
        let mut events: Vec<Event> = std::mem::take(&mut *self.collected.lock().unwrap_or_else(|p| p.into_inner()));
        for i in 0..events.len() {
            if let Err(e) = self.handle_event(inbox, live, &events[i]).await {
                // Not stored (a full disk): kept, in order, before what comes meanwhile,
                // and handled at the next try. A sync from the same token would not bring
                // them again: the SDK drops a response whose next token it has processed.
                let mut collected = self.collected.lock().unwrap_or_else(|p| p.into_inner());
                let newer = std::mem::take(&mut *collected);
                *collected = events.drain(i..).chain(newer).collect();
                return Err(e);
            }
        }
        self.retry_undecrypted(inbox).await
    }

    /// One collected event, handed to the engine.
    async fn handle_event(&self, inbox: &dyn Inbox, live: bool, e: &Event) -> Result<(), plaza_core::EngineError> {
        match e {
            Event::Invite(room, direct) => self.on_invite(inbox, room.clone(), *direct).await,
            Event::Message(room, ev) => {
                if !live || room.state() != RoomState::Joined {
                    return Ok(());
                }
                // In a crew or public room, what was said before the bot came is history;
                // in a direct chat, what the resident wrote while inviting it is meant for it.
                if self.room_names.contains_key(room.room_id())
                    && self.before_join(inbox, room, u64::from(ev.origin_server_ts.0)).await
                {
                    debug!(event = %ev.event_id, "matrix: from before the bot joined; ignored");
                    return Ok(());
                }
                if let Some(inb) = self.inbound_message(room, ev).await {
                    inbox.deliver(inb).await?;
                }
            }
            Event::Undecrypted(room, raw) => {
                if !live || room.state() != RoomState::Joined {
                    return Ok(());
                }
                let (Ok(Some(event_id)), Ok(Some(sender))) =
                    (raw.get_field::<String>("event_id"), raw.get_field::<OwnedUserId>("sender"))
                else {
                    return Ok(());
                };
                if Some(&sender) == self.me().as_ref() {
                    return Ok(());
                }
                debug!(event = %event_id, "matrix: a message cannot be decrypted yet; waiting for its key");
                let mut pending = self.undecrypted.lock().unwrap_or_else(|p| p.into_inner());
                if !pending.iter().any(|u| u.event_id == event_id) {
                    pending.push(Undecrypted {
                        room: room.clone(),
                        raw: raw.clone(),
                        event_id,
                        sender,
                        since: std::time::Instant::now(),
                    });
                }
            }
            Event::Reaction(room, ev) => {
                if !live || Some(&ev.sender) == self.me().as_ref() {
                    return Ok(());
                }
                let inb = Inbound {
                    channel: NAME.into(),
                    message_id: ev.event_id.to_string(),
                    sender: Identity::new(NAME, ev.sender.to_string()),
                    sender_name: Some(ev.sender.localpart().to_owned()),
                    chat: self.chat_of(room, &ev.sender),
                    kind: InboundKind::Reaction { key: ev.content.relates_to.key.clone() },
                    reply_to: Some(ev.content.relates_to.event_id.to_string()),
                    unverified: false,
                };
                inbox.deliver(inb).await?;
            }
        }
        Ok(())
    }

    /// Tries again the messages that could not be decrypted: keys that came since make
    /// them readable, and they are handled as if they had just come; one still unreadable
    /// after [`UNDECRYPTED_PATIENCE`] gets its sender asked to send it again (the event id
    /// stays its key, so a late decryption is not handled a second time).
    async fn retry_undecrypted(&self, inbox: &dyn Inbox) -> Result<(), plaza_core::EngineError> {
        let pending: Vec<(Room, Raw<OriginalSyncRoomEncryptedEvent>, String, OwnedUserId, Duration)> = self
            .undecrypted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|u| (u.room.clone(), u.raw.clone(), u.event_id.clone(), u.sender.clone(), u.since.elapsed()))
            .collect();
        for (room, raw, event_id, sender, waited) in pending {
            let decrypted = match room.decrypt_event(&raw, None).await {
                Ok(te) if !matches!(te.kind, TimelineEventKind::UnableToDecrypt { .. }) => {
                    match te.kind.raw().deserialize() {
                        Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
                            SyncMessageLikeEvent::Original(ev),
                        ))) => Some(Some(ev)),
                        _ => Some(None),
                    }
                }
                _ => None,
            };
            let inb = match decrypted {
                Some(ev) => {
                    info!(event = %event_id, "matrix: a message became readable; handling it");
                    match ev {
                        Some(ev) => self.inbound_message(&room, &ev).await,
                        None => None,
                    }
                }
                None if waited >= UNDECRYPTED_PATIENCE => {
                    warn!(event = %event_id, "matrix: a message stayed unreadable; asking its sender to send it again");
                    Some(Inbound {
                        channel: NAME.into(),
                        message_id: event_id.clone(),
                        sender: Identity::new(NAME, sender.to_string()),
                        sender_name: None,
                        chat: self.chat_of(&room, &sender),
                        kind: InboundKind::Unreadable,
                        reply_to: None,
                        unverified: false,
                    })
                }
                None => continue,
            };
            if let Some(inb) = inb {
                inbox.deliver(inb).await?;
            }
            self.undecrypted.lock().unwrap_or_else(|p| p.into_inner()).retain(|u| u.event_id != event_id);
        }
        Ok(())
    }

    /// Whether an event at `ts` (ms, server clock) in `room` predates the bot joining it.
    /// The reference is the server's timestamp on the bot's own join event; Plaza's own
    /// record of the join (its clock) stands in when that event is not known.
    async fn before_join(&self, inbox: &dyn Inbox, room: &Room, ts: u64) -> bool {
        let known = self.joined_at.lock().unwrap_or_else(|p| p.into_inner()).get(room.room_id()).copied();
        let joined = match known {
            Some(t) => Some(t),
            None => {
                let from_server = match self.me() {
                    Some(me) => match room.get_member_no_sync(&me).await {
                        Ok(Some(m)) if *m.membership() == MembershipState::Join => {
                            m.event().origin_server_ts().map(|t| u64::from(t.0))
                        }
                        _ => None,
                    },
                    None => None,
                };
                let t = match from_server {
                    Some(t) => Some(t),
                    None => inbox
                        .cursor(&format!("matrix.joined.{}", room.room_id()))
                        .await
                        .ok()
                        .flatten()
                        .and_then(|v| v.parse().ok()),
                };
                if let Some(t) = t {
                    self.joined_at.lock().unwrap_or_else(|p| p.into_inner()).insert(room.room_id().to_owned(), t);
                }
                t
            }
        };
        joined.is_some_and(|j| ts < j)
    }

    /// The direct chat with a resident: the one they wrote in, one the SDK knows, or a new
    /// (encrypted) one.
    /// The direct chat with `user` the bot is already in, if any.
    async fn existing_dm(&self, user: &UserId) -> Option<Room> {
        let known = self.dms.lock().unwrap_or_else(|p| p.into_inner()).get(user).cloned();
        if let Some(room) = known.and_then(|id| self.client.get_room(&id)) {
            return Some(room);
        }
        for room in self.client.joined_rooms() {
            if self.room_names.contains_key(room.room_id()) {
                continue;
            }
            if room.joined_members_count() <= 2 && matches!(room.get_member_no_sync(user).await, Ok(Some(_))) {
                self.dms.lock().unwrap_or_else(|p| p.into_inner()).insert(user.to_owned(), room.room_id().to_owned());
                return Some(room);
            }
        }
        None
    }

    async fn dm_room(&self, user: &UserId) -> Result<Room, ChannelError> {
        if let Some(room) = self.existing_dm(user).await {
            return Ok(room);
        }
        let room = self.client.create_dm(user).await.map_err(|e| self.send_error(e))?;
        self.dms.lock().unwrap_or_else(|p| p.into_inner()).insert(user.to_owned(), room.room_id().to_owned());
        Ok(room)
    }
}

/// Which device an access token belongs to (asked of the homeserver by a throwaway
/// client with no store, so nothing is set up for a wrong device).
async fn device_of_token(settings: &MatrixSettings, token: &str) -> Result<String, ChannelError> {
    let probe = Client::builder().homeserver_url(&settings.homeserver).build().await.map_err(other)?;
    let session = MatrixSession {
        meta: matrix_sdk::SessionMeta {
            user_id: <&UserId>::try_from(settings.user_id.as_str()).map_err(other)?.to_owned(),
            device_id: "PLAZAPROBE".into(),
        },
        tokens: matrix_sdk::SessionTokens { access_token: token.to_owned(), refresh_token: None },
    };
    probe.restore_session(session).await.map_err(other)?;
    let who = probe.whoami().await.map_err(|e| other(format!("matrix: the access token was refused: {e}")))?;
    if who.user_id.as_str() != settings.user_id {
        return Err(other(format!("matrix: the access token is {}'s, not {}'s", who.user_id, settings.user_id)));
    }
    who.device_id
        .map(|d| d.to_string())
        .ok_or_else(|| other("matrix: the access token has no device; create it by logging in"))
}

fn read_session(path: &Path) -> Result<Option<MatrixSession>, ChannelError> {
    match std::fs::read_to_string(path) {
        Ok(s) => serde_json::from_str(&s).map(Some).map_err(|e| other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(other(format!("{}: {e}", path.display()))),
    }
}

fn write_session(path: &Path, session: &MatrixSession) -> Result<(), ChannelError> {
    let text = serde_json::to_string(session).map_err(other)?;
    std::fs::write(path, text).map_err(|e| other(format!("{}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The access token is a secret.
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// "geo:37.14,-3.49;u=10" → the point.
fn parse_geo_uri(s: &str) -> Option<GeoPoint> {
    let rest = s.strip_prefix("geo:")?;
    let coords = rest.split(';').next()?;
    let mut it = coords.split(',');
    let p = GeoPoint { lat: it.next()?.trim().parse().ok()?, lon: it.next()?.trim().parse().ok()? };
    p.is_valid().then_some(p)
}

/// Older clients put the quoted message ("> <@bea:jun.es> …") before a reply.
fn strip_reply_fallback(body: &str) -> String {
    if !body.starts_with("> ") {
        return body.to_owned();
    }
    let lines: Vec<&str> = body.lines().collect();
    let start = lines.iter().position(|l| !l.starts_with('>')).unwrap_or(lines.len());
    lines[start..].join("\n").trim().to_owned()
}

#[async_trait]
impl Channel for MatrixChannel {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: true,
            buttons: false,
            edits: true,
            reactions: true,
            location: true,
            one_way: false,
            authenticated_ids: true,
            idempotent_sends: true,
        }
    }

    fn rooms(&self) -> Vec<String> {
        self.room_ids.keys().cloned().collect()
    }

    /// A homeserver takes many requests at once: several chats are sent to together
    /// (each in order), so a resident's answer does not wait behind room posts.
    fn limits(&self) -> Limits {
        Limits { concurrent_chats: 8, ..Limits::default() }
    }

    async fn run(&self, inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        let mut since = inbox.cursor(SINCE_KEY).await.map_err(other)?;
        // A first start catches up without handling old messages; a restart handles what
        // came while Plaza was away.
        let mut live = since.is_some();
        info!(resumed = live, "matrix: syncing");
        let mut pause = Duration::from_millis(500);
        // Events that cannot be stored yet: since when, and the pause before trying again.
        let mut failing_since: Option<std::time::Instant> = None;
        let mut retry = Duration::from_secs(1);
        let mut last_sync: Option<std::time::Instant> = None;
        // Since when syncing has failed, and why (said once while it lasts).
        let mut sync_failing: Option<(std::time::Instant, String)> = None;
        loop {
            // While the bot sends, every message it sends ends its own long poll; at most
            // one sync per SYNC_EVERY keeps that from being a sync per message sent.
            if let Some(wait) = last_sync.and_then(|at| SYNC_EVERY.checked_sub(at.elapsed())) {
                tokio::time::sleep(wait).await;
            }
            last_sync = Some(std::time::Instant::now());
            // A bot has no presence to show: "online" at every sync is work for the
            // homeserver (a presence update per request) that nobody reads.
            let mut settings = SyncSettings::default()
                .timeout(Duration::from_secs(10))
                .set_presence(matrix_sdk::ruma::presence::PresenceState::Offline);
            if let Some(t) = &since {
                settings = settings.token(t.clone());
            }
            match self.client.sync_once(settings).await {
                Ok(resp) => {
                    pause = Duration::from_millis(500);
                    self.disk_has_space();
                    if let Some((since, _)) = sync_failing.take() {
                        info!(after_s = since.elapsed().as_secs(), "matrix: syncing again");
                    }
                    // More came in a room than one sync carries (Plaza was away, or a
                    // burst): what is missing is read before what the sync brought.
                    // Read again from this response until it works, not by syncing again:
                    // the SDK drops a response whose next token it has already processed.
                    if let (true, Some(from)) = (live, since.as_deref()) {
                        let mut wait = pause;
                        while let Err(e) = self.fill_gaps(&resp.rooms.joined, from).await {
                            // Said once; the homeserver may be away for a while.
                            if wait == pause {
                                warn!(error = %e, "matrix: could not read the messages a sync left out; trying again");
                            } else {
                                debug!(error = %e, "matrix: could not read the messages a sync left out yet");
                            }
                            tokio::time::sleep(wait).await;
                            wait = (wait * 2).min(RETRY_AT_MOST);
                        }
                    }
                    if let Err(e) = self.handle_collected(inbox.as_ref(), live).await {
                        // Not stored (a full disk): what was not handled stays collected
                        // (handle_collected); sync again from the same token, the engine
                        // drops what it already has. Said once while it lasts.
                        match failing_since {
                            None => {
                                warn!(error = %e, "matrix: could not handle events; they will come again until they can");
                                failing_since = Some(std::time::Instant::now());
                            }
                            Some(_) => debug!(error = %e, "matrix: could not handle events yet"),
                        }
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(Duration::from_secs(5));
                        continue;
                    }
                    if let Some(since) = failing_since.take() {
                        info!(after_s = since.elapsed().as_secs(), "matrix: events are handled again");
                        retry = Duration::from_secs(1);
                    }
                    if let Err(e) = inbox.set_cursor(SINCE_KEY, &resp.next_batch).await {
                        warn!(error = %e, "matrix: could not store the sync token");
                    }
                    since = Some(resp.next_batch);
                    live = true;
                }
                Err(e) => {
                    if matches!(e.client_api_error_kind(), Some(ErrorKind::UnknownToken(_))) {
                        return Err(ChannelError::Rejected(format!(
                            "the bot's session was logged out: delete {} and start again",
                            self.settings.store.join("session.json").display()
                        )));
                    }
                    // What the failed sync collected stays: the SDK may count its response
                    // as processed and drop it when it comes again; the engine ignores
                    // what it has already handled.
                    let wait = if self.disk_full(&e) {
                        pause.min(RETRY_AT_MOST)
                    } else {
                        let what = e.to_string();
                        match &sync_failing {
                            Some((_, before)) if *before == what => debug!(error = %e, "matrix: sync failed again"),
                            _ => warn!(error = %e, "matrix: sync failed; retrying (said once while it lasts)"),
                        }
                        sync_failing.get_or_insert_with(|| (std::time::Instant::now(), String::new())).1 = what;
                        pause
                    };
                    tokio::time::sleep(wait).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError> {
        let room = match &out.to {
            Destination::Room(name) => {
                let id = self.room_ids.get(name).ok_or_else(|| ChannelError::UnknownRoom(name.clone()))?;
                match self.client.get_room(id) {
                    Some(r) if r.state() == RoomState::Joined => r,
                    _ => self.client.join_room_by_id(id).await.map_err(|e| self.send_error(e))?,
                }
            }
            Destination::Direct(who) if who.channel() == NAME => {
                let user = <&UserId>::try_from(who.id())
                    .map_err(|_| ChannelError::Rejected(format!("{who} is not a Matrix user id")))?;
                if out.only_if_open {
                    match self.existing_dm(user).await {
                        Some(room) => room,
                        None => {
                            // Not asked for: no invitation out of the blue for it.
                            debug!(%user, "no direct chat with this person; an unasked message is not sent");
                            return Ok(Delivered { message_id: String::new() });
                        }
                    }
                } else {
                    self.dm_room(user).await?
                }
            }
            Destination::Direct(who) => return Err(ChannelError::Rejected(format!("{who} is not on Matrix"))),
        };
        if out.withdraw
            && let Some(original) = out.edit.as_deref().and_then(|e| OwnedEventId::try_from(e).ok())
        {
            return self.withdraw(&room, original, &out.text, &out.key).await;
        }
        // Plain text: Plaza's texts have no markup, and a copy of each as HTML doubled what
        // the homeserver (whose core bounds a burst) stores, signs and sends to clients.
        // Intentional mentions, empty: "@room" or a name in a relayed text pings nobody.
        let mut content = RoomMessageEventContent::text_plain(out.text.clone()).add_mentions(Mentions::new());
        if let Some(id) = out.edit.as_deref().and_then(|e| OwnedEventId::try_from(e).ok()) {
            content = content.make_replacement(ReplacementMetadata::new(id, None));
        } else if let Some(root) = out.reply_to.as_deref().and_then(|e| OwnedEventId::try_from(e).ok()) {
            content.relates_to = Some(Relation::Thread(Thread::plain(root.clone(), root)));
        }
        // No retries inside the SDK: a rate-limited message goes back to the outbox, which
        // waits as the server says while other chats go on.
        // The outbox row is the transaction id: a re-send after a crash is deduplicated by
        // the homeserver instead of posted twice.
        let txn = OwnedTransactionId::from(out.key.as_str());
        let resp = room
            .send(content)
            .with_transaction_id(txn)
            .with_request_config(matrix_sdk::config::RequestConfig::new().disable_retry())
            .await
            .map_err(|e| self.send_error(e))?;
        self.disk_has_space();
        let id = match (&out.edit, resp.response.event_id) {
            // An edit keeps standing for the message it edits.
            (Some(e), _) => e.clone(),
            (None, id) => id.to_string(),
        };
        Ok(Delivered { message_id: id })
    }
}

impl MatrixChannel {
    /// Withdraws a post: redacts it and every edit of it (an edit carries the whole text
    /// too), so that its text leaves the room's history, then says so in a neutral line.
    async fn withdraw(
        &self,
        room: &Room,
        original: OwnedEventId,
        neutral: &str,
        key: &str,
    ) -> Result<Delivered, ChannelError> {
        let no_retry = || matrix_sdk::config::RequestConfig::new().disable_retry();
        let mut from = None;
        let mut edits = Vec::new();
        loop {
            let opts = RelationsOptions {
                from,
                include_relations: IncludeRelations::RelationsOfType(RelationType::Replacement),
                limit: Some(matrix_sdk::ruma::UInt::from(100u32)),
                ..RelationsOptions::default()
            };
            let rel = room.relations(original.clone(), opts).await.map_err(|e| self.send_error(e))?;
            edits.extend(rel.chunk.iter().filter_map(|e| e.event_id()));
            from = rel.next_batch_token;
            if from.is_none() {
                break;
            }
        }
        for id in edits.iter().chain(std::iter::once(&original)) {
            let txn = OwnedTransactionId::from(format!("{key}-redact-{id}"));
            room.redact(id, None, Some(txn)).await.map_err(|e| channel_error(e.into()))?;
        }
        info!(redacted = edits.len() + 1, "public post withdrawn");
        let content = RoomMessageEventContent::text_plain(neutral.to_owned()).add_mentions(Mentions::new());
        let txn = OwnedTransactionId::from(format!("{key}-notice"));
        room.send(content)
            .with_transaction_id(txn)
            .with_request_config(no_retry())
            .await
            .map_err(|e| self.send_error(e))?;
        Ok(Delivered { message_id: original.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(parse_geo_uri("geo:37.1421,-3.4987;u=20"), Some(GeoPoint { lat: 37.1421, lon: -3.4987 }));
        assert_eq!(parse_geo_uri("geo:200,1"), None);
        assert_eq!(strip_reply_fallback("> <@bea:x> hola\n> más\n\ntomo"), "tomo");
    }

    /// A send that fails because the bot's own store is full must wait in the outbox:
    /// as any other SDK error it would be Rejected, a failure for good (the message lost).
    #[test]
    fn a_full_store_is_not_a_refusal() {
        use matrix_sdk::encryption::CryptoStoreError;
        let full =
            matrix_sdk::Error::from(CryptoStoreError::backend(std::io::Error::other("database or disk is full")));
        assert!(plaza_core::store::says_disk_full(&full.to_string()), "{full}");
        assert!(matches!(channel_error(full), ChannelError::Rejected(_)));
        let other = matrix_sdk::Error::from(CryptoStoreError::backend(std::io::Error::other("no such table: olm")));
        assert!(!plaza_core::store::says_disk_full(&other.to_string()), "{other}");
    }
}
