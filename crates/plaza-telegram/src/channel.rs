use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use plaza_core::channel::{
    Button, Capabilities, Channel, ChannelError, Chat, Delivered, Destination, Inbound, InboundKind, Inbox, Limits,
    Outgoing,
};
use plaza_core::model::{GeoPoint, Identity};
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageTextSetters, GetUpdatesSetters, SendMessageSetters, SetWebhookSetters,
};
use teloxide::prelude::Requester;
use teloxide::types::{
    AllowedUpdate, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MaybeInaccessibleMessage, Message, MessageId,
    ReplyParameters, Update, UpdateKind,
};
use teloxide::{ApiError, Bot, RequestError};
use tracing::{debug, info, warn};

use crate::NAME;
use crate::settings::TelegramSettings;

#[derive(Clone)]
pub struct TelegramChannel {
    bot: Bot,
    /// Where the update offset is kept in the store: per bot, since a new bot's update
    /// ids start anew.
    offset_key: String,
    settings: TelegramSettings,
    room_of_chat: HashMap<i64, String>,
}

impl TelegramChannel {
    pub fn new(settings: TelegramSettings, token: &str) -> Result<Self, ChannelError> {
        // A long poll waits up to `poll_timeout` for an update: the HTTP client must wait
        // longer than that, or every quiet poll fails as a network error and the loop
        // backs off (teloxide's default client gives up after 17 s; the default poll is
        // 25 s).
        let client = teloxide::net::default_reqwest_settings()
            .timeout(http_timeout(settings.poll_timeout))
            .build()
            .map_err(|e| ChannelError::Other(format!("the HTTP client: {e}")))?;
        let mut bot = Bot::with_client(token, client);
        if let Some(url) = &settings.api_url {
            let url =
                format!("{url}/").parse().map_err(|e| ChannelError::Other(format!("telegram.api_url `{url}`: {e}")))?;
            bot = bot.set_api_url(url);
        }
        let room_of_chat = settings.rooms.iter().map(|(room, id)| (*id, room.clone())).collect();
        // The bot's id is the token's first part; the rest stays secret.
        let bot_id = token.split(':').next().filter(|s| s.chars().all(|c| c.is_ascii_digit())).unwrap_or("0");
        let offset_key = format!("telegram.offset.{bot_id}");
        Ok(TelegramChannel { bot, offset_key, settings, room_of_chat })
    }

    fn allowed() -> Vec<AllowedUpdate> {
        vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]
    }

    /// Turns an update into an `Inbound`; `None` for what Plaza does not handle (and
    /// for bots, including itself).
    fn inbound(&self, u: &Update) -> Option<Inbound> {
        match &u.kind {
            UpdateKind::Message(m) => {
                // The redelivery key: a message is unique in its chat, whatever the bot.
                let message_id = platform_id(m);
                let from = m.from.as_ref()?;
                if from.is_bot {
                    return None;
                }
                let kind = if let Some(t) = m.text() {
                    InboundKind::Text { text: t.to_owned() }
                } else if let Some(l) = m.location() {
                    InboundKind::Location { point: GeoPoint { lat: l.latitude, lon: l.longitude } }
                } else if let Some(p) = m.photo() {
                    let best = p.iter().max_by_key(|s| s.width * s.height)?;
                    InboundKind::Attachment {
                        kind: "photo".into(),
                        reference: best.file.id.to_string(),
                        caption: m.caption().map(str::to_owned),
                    }
                } else if let Some((kind, file)) = m
                    .voice()
                    .map(|v| ("voice", v.file.id.to_string()))
                    .or_else(|| m.audio().map(|a| ("voice", a.file.id.to_string())))
                    .or_else(|| m.video_note().map(|v| ("voice", v.file.id.to_string())))
                    .or_else(|| m.sticker().map(|s| ("sticker", s.file.id.to_string())))
                {
                    InboundKind::Attachment { kind: kind.into(), reference: file, caption: None }
                } else if m.new_chat_members().is_some() {
                    InboundKind::Joined
                } else if m.left_chat_member().is_some() {
                    InboundKind::Left
                } else {
                    // A sticker, a voice note…: in a private chat the resident is told
                    // that only text, places and photos are read.
                    InboundKind::Text { text: String::new() }
                };
                Some(Inbound {
                    channel: NAME.into(),
                    message_id,
                    sender: Identity::new(NAME, from.id.0.to_string()),
                    sender_name: Some(from.full_name()),
                    chat: self.chat_of(m),
                    kind,
                    reply_to: m.reply_to_message().map(platform_id),
                    unverified: false,
                })
            }
            UpdateKind::CallbackQuery(q) => {
                let data = q.data.clone()?;
                let msg = match &q.message {
                    Some(MaybeInaccessibleMessage::Regular(m)) => Some(m.as_ref()),
                    _ => None,
                };
                Some(Inbound {
                    channel: NAME.into(),
                    message_id: format!("cb:{}", q.id.0),
                    sender: Identity::new(NAME, q.from.id.0.to_string()),
                    sender_name: Some(q.from.full_name()),
                    chat: msg.map(|m| self.chat_of(m)).unwrap_or(Chat::Direct),
                    kind: InboundKind::Button { data },
                    reply_to: msg.map(platform_id),
                    unverified: false,
                })
            }
            _ => None,
        }
    }

    fn chat_of(&self, m: &Message) -> Chat {
        if m.chat.is_private() {
            Chat::Direct
        } else {
            match self.room_of_chat.get(&m.chat.id.0) {
                Some(r) => Chat::Room(r.clone()),
                None => Chat::Unknown(m.chat.id.0.to_string()),
            }
        }
    }

    /// Hands one update to the engine; answers a button press so the client stops
    /// waiting, with the engine's short answer as a toast (a refusal, "#3 → in progress").
    async fn handle(&self, inbox: &dyn Inbox, u: Update) -> Result<(), plaza_core::EngineError> {
        let result = match self.inbound(&u) {
            Some(inb) => inbox.deliver(inb).await,
            None => Ok(None),
        };
        if let UpdateKind::CallbackQuery(q) = &u.kind {
            let mut req = self.bot.answer_callback_query(q.id.clone());
            if let Ok(Some(text)) = &result {
                req = req.text(toast_text(text));
            }
            if let Err(e) = req.await {
                debug!(error = %e, "answerCallbackQuery failed");
            }
        }
        result.map(|_| ())
    }

    async fn poll(&self, inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        // Long polling and a webhook exclude each other; pending updates are kept.
        if let Err(e) = self.bot.delete_webhook().await {
            warn!(error = %e, "deleteWebhook failed; polling anyway");
        }
        let mut offset: i32 = match inbox.cursor(&self.offset_key).await {
            Ok(v) => v.and_then(|s| s.parse().ok()).unwrap_or(0),
            Err(e) => return Err(ChannelError::Other(format!("reading the update offset: {e}"))),
        };
        info!(offset, "telegram: polling for updates");
        let mut backoff = Duration::from_millis(500);
        // An outage is logged once when it starts and once when it ends.
        let mut failing_since: Option<std::time::Instant> = None;
        // Updates that cannot be handled yet: since when, and the pause before the next try.
        let mut handle_failing: Option<std::time::Instant> = None;
        let mut retry_pause = Duration::from_millis(200);
        loop {
            let req = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(self.settings.poll_timeout)
                .allowed_updates(Self::allowed());
            let updates = match req.await {
                Ok(u) => {
                    backoff = Duration::from_millis(500);
                    if let Some(since) = failing_since.take() {
                        info!(after_s = since.elapsed().as_secs(), "telegram: the Bot API is reachable again");
                    }
                    u
                }
                Err(RequestError::RetryAfter(s)) => {
                    tokio::time::sleep(s.duration()).await;
                    continue;
                }
                Err(e) => {
                    if failing_since.is_none() {
                        warn!(error = %e, "getUpdates failed; retrying every few seconds until the Bot API answers");
                        failing_since = Some(std::time::Instant::now());
                    } else {
                        debug!(error = %e, "getUpdates failed again");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            let mut next = offset;
            let mut failed = false;
            for u in updates {
                let id = u.id.0 as i32;
                if let Err(e) = self.handle(inbox.as_ref(), u).await {
                    // Not stored: keep the offset here so the update comes again.
                    if handle_failing.is_none() {
                        warn!(error = %e, update = id, "could not handle an update; it will be fetched again until it can");
                        handle_failing = Some(std::time::Instant::now());
                    } else {
                        debug!(error = %e, update = id, "could not handle an update yet");
                    }
                    failed = true;
                    break;
                }
                if let Some(since) = handle_failing.take() {
                    info!(after_s = since.elapsed().as_secs(), "updates are handled again");
                    retry_pause = Duration::from_millis(200);
                }
                next = id + 1;
            }
            if next != offset {
                offset = next;
                if let Err(e) = inbox.set_cursor(&self.offset_key, &offset.to_string()).await {
                    // Updates already handled are recognised when they come again.
                    debug!(error = %e, "could not store the update offset");
                }
            }
            if failed {
                // Don't spin on an update that cannot be stored yet (a full disk).
                tokio::time::sleep(retry_pause).await;
                retry_pause = (retry_pause * 2).min(Duration::from_secs(5));
            }
        }
    }

    async fn webhook(&self, inbox: Arc<dyn Inbox>, w: &crate::settings::Webhook) -> Result<(), ChannelError> {
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};

        let secret = std::env::var(&w.secret_env)
            .map_err(|_| ChannelError::Other(format!("the environment variable {} is not set", w.secret_env)))?;
        let path = url_path(&w.url);
        let url = w.url.parse().map_err(|e| ChannelError::Other(format!("telegram.webhook.url: {e}")))?;
        self.bot
            .set_webhook(url)
            .secret_token(secret.clone())
            .allowed_updates(Self::allowed())
            .await
            .map_err(|e| ChannelError::Network(format!("setWebhook: {e}")))?;

        let shared = Arc::new(WebhookShared { inbox, secret, ch: self.clone() });
        async fn receive(
            State(s): State<Arc<WebhookShared>>,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> StatusCode {
            let ok = headers
                .get("x-telegram-bot-api-secret-token")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| constant_time_eq(v.as_bytes(), s.secret.as_bytes()));
            if !ok {
                return StatusCode::UNAUTHORIZED;
            }
            let update: Update = match serde_json::from_slice(&body) {
                Ok(u) => u,
                Err(e) => {
                    warn!(error = %e, "webhook: not an update");
                    return StatusCode::BAD_REQUEST;
                }
            };
            match s.ch.handle(s.inbox.as_ref(), update).await {
                Ok(()) => StatusCode::OK,
                // Telegram sends it again later.
                Err(_) => StatusCode::SERVICE_UNAVAILABLE,
            }
        }
        let app = axum::Router::new().route(&path, axum::routing::post(receive)).with_state(shared);
        let listener = tokio::net::TcpListener::bind(w.listen)
            .await
            .map_err(|e| ChannelError::Other(format!("{}: {e}", w.listen)))?;
        info!(listen = %w.listen, path, "telegram: receiving updates by webhook");
        axum::serve(listener, app).await.map_err(|e| ChannelError::Other(e.to_string()))
    }

    fn chat_id(&self, to: &Destination) -> Result<i64, ChannelError> {
        match to {
            Destination::Direct(who) if who.channel() == NAME => {
                who.id().parse().map_err(|_| ChannelError::Rejected(format!("{who} is not a Telegram user id")))
            }
            Destination::Direct(who) => Err(ChannelError::Rejected(format!("{who} is not on Telegram"))),
            Destination::Room(r) => {
                self.settings.rooms.get(r).copied().ok_or_else(|| ChannelError::UnknownRoom(r.clone()))
            }
        }
    }
}

struct WebhookShared {
    inbox: Arc<dyn Inbox>,
    secret: String,
    ch: TelegramChannel,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn url_path(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match rest.find('/') {
        Some(i) => rest[i..].to_owned(),
        None => "/".to_owned(),
    }
}

/// Telegram message ids are per chat: Plaza's id for a message is `CHAT:MESSAGE`.
fn platform_id(m: &Message) -> String {
    format!("{}:{}", m.chat.id.0, m.id.0)
}

fn parse_platform_id(s: &str) -> Option<(i64, i32)> {
    let (c, m) = s.split_once(':')?;
    Some((c.parse().ok()?, m.parse().ok()?))
}

/// Buttons, one row per task (the number after `:` in their data).
/// The long poll's wait plus room for a slow answer.
fn http_timeout(poll_timeout: u32) -> Duration {
    Duration::from_secs(u64::from(poll_timeout) + 15)
}

/// Telegram shows at most 200 characters in a toast.
fn toast_text(text: &str) -> String {
    let text = text.replace('\n', " ");
    if text.chars().count() <= 200 {
        return text;
    }
    let mut t: String = text.chars().take(199).collect();
    t.push('…');
    t
}

fn keyboard(buttons: &[Button]) -> Option<InlineKeyboardMarkup> {
    if buttons.is_empty() {
        return None;
    }
    let mut rows: Vec<Vec<InlineKeyboardButton>> = Vec::new();
    let mut last_task: Option<&str> = None;
    for b in buttons {
        let task = b.data.split_once(':').map(|(_, t)| t);
        let button = InlineKeyboardButton::callback(b.label.clone(), b.data.clone());
        match rows.last_mut() {
            Some(row) if task == last_task && row.len() < 4 => row.push(button),
            _ => rows.push(vec![button]),
        }
        last_task = task;
    }
    Some(InlineKeyboardMarkup::new(rows))
}

fn channel_error(e: RequestError) -> ChannelError {
    match e {
        RequestError::RetryAfter(s) => ChannelError::RetryAfter(s.duration()),
        RequestError::Network(e) => ChannelError::Network(e.to_string()),
        RequestError::Io(e) => ChannelError::Network(e.to_string()),
        RequestError::MigrateToChatId(id) => {
            ChannelError::Rejected(format!("the group became a supergroup: put {} in [telegram.rooms]", id.0))
        }
        other => ChannelError::Rejected(other.to_string()),
    }
}

#[async_trait]
impl Channel for TelegramChannel {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: true,
            buttons: true,
            edits: true,
            location: true,
            authenticated_ids: true,
            ..Capabilities::default()
        }
    }

    /// Telegram's limits for bots, with a margin: ~30 messages a second overall, one a
    /// second to a chat, 20 a minute to a group; a message is at most 4096 characters.
    fn limits(&self) -> Limits {
        Limits {
            per_second: Some(25),
            per_chat_interval: Some(Duration::from_millis(1_100)),
            per_room_per_minute: Some(18),
            concurrent_chats: 4,
            max_chars: Some(4_096),
            max_lines: None,
        }
    }

    fn rooms(&self) -> Vec<String> {
        self.settings.rooms.keys().cloned().collect()
    }

    async fn run(&self, inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        match &self.settings.webhook {
            Some(w) => self.webhook(inbox, w).await,
            None => self.poll(inbox).await,
        }
    }

    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError> {
        let chat = self.chat_id(&out.to)?;
        if let Some((c, m)) = out.edit.as_deref().and_then(parse_platform_id)
            && c == chat
        {
            // A withdrawn post is deleted; Telegram keeps no visible history of a deleted
            // message. Where it cannot be deleted (older than 48 hours without admin
            // rights), it is edited like any post: the neutral line, without buttons.
            if out.withdraw {
                match self.bot.delete_message(ChatId(c), MessageId(m)).await {
                    Ok(_) => return Ok(Delivered { message_id: format!("{c}:{m}") }),
                    Err(e @ (RequestError::Network(_) | RequestError::RetryAfter(_))) => return Err(channel_error(e)),
                    Err(e) => debug!(error = %e, "deleteMessage refused; editing the post to the neutral line"),
                }
            }
            let mut req = self.bot.edit_message_text(ChatId(c), MessageId(m), out.text.clone());
            // An edit carries the buttons that fit the task now: none (a withdrawn post,
            // a resolved task) removes the keyboard.
            let markup = match out.withdraw {
                true => None,
                false => keyboard(&out.buttons),
            };
            req = req.reply_markup(
                markup.unwrap_or_else(|| InlineKeyboardMarkup::new(Vec::<Vec<InlineKeyboardButton>>::new())),
            );
            return match req.await {
                Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => {
                    Ok(Delivered { message_id: format!("{c}:{m}") })
                }
                Err(e) => Err(channel_error(e)),
            };
        }
        let mut req = self.bot.send_message(ChatId(chat), out.text.clone());
        if let Some(k) = keyboard(&out.buttons) {
            req = req.reply_markup(k);
        }
        if let Some((c, m)) = out.reply_to.as_deref().and_then(parse_platform_id)
            && c == chat
        {
            req = req.reply_parameters(ReplyParameters {
                allow_sending_without_reply: Some(true),
                ..ReplyParameters::new(MessageId(m))
            });
        }
        let sent = req.await.map_err(channel_error)?;
        Ok(Delivered { message_id: platform_id(&sent) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_keyboards() {
        assert_eq!(parse_platform_id("-1001:42"), Some((-1001, 42)));
        assert_eq!(parse_platform_id("x"), None);
        assert_eq!(url_path("https://bot.jun.es/telegram/hook"), "/telegram/hook");
        assert_eq!(url_path("http://127.0.0.1:9"), "/");
        let k = keyboard(&[
            Button { label: "a".into(), data: "claim:1".into() },
            Button { label: "b".into(), data: "done:1".into() },
            Button { label: "c".into(), data: "claim:2".into() },
        ])
        .unwrap();
        assert_eq!(k.inline_keyboard.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1]);
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}
