//! The web chat (`/chat`): a resident reports and follows their reports from a phone
//! browser, with no messenger account. A third [`Channel`] beside Telegram and Matrix:
//! the same engine, dialogue, numbers and privacy.
//!
//! - Identity: a random id in a cookie signed with a key kept in the store (HMAC-SHA256),
//!   no login; the person is `web:<id>` to the engine. A cookie that does not verify is
//!   replaced by a new identity, never trusted.
//! - Without JavaScript: a form posts the message and the page shows the conversation.
//!   With it (`/chat.js`, no inline script: the page's Content-Security-Policy forbids
//!   any), the bot's answers arrive by server-sent events (`/chat/events`).
//! - The conversation shown is kept in memory (the last [`LOG_LINES`] lines of the last
//!   [`MAX_SESSIONS`] people). After a restart (or once a person's lines left memory) the
//!   bot's last messages to them are read back from the store's record of what was
//!   delivered — with their buttons, so an open question can still be answered; erased
//!   people's messages are blanked there and never come back. The page also lists the
//!   person's reports and their status from the store.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use maud::html;
use plaza_core::channel::{
    Button, Capabilities, Channel, ChannelError, Chat, Delivered, Destination, Inbound, InboundKind, Inbox, Limits,
    Outgoing,
};
use plaza_core::model::{GeoPoint, Identity};
use plaza_core::store::TaskQuery;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{Shared, lang_of};

/// The channel's name, and the prefix of its residents' identities.
pub const CHANNEL: &str = "web";
/// Lines of conversation kept per person.
pub const LOG_LINES: usize = 100;
/// People whose conversation is kept in memory; the least recently seen go first.
pub const MAX_SESSIONS: usize = 10_000;
/// Longest message accepted from the chat form. The engine answers a text over the
/// town's own limit kindly; this only bounds what a browser may post.
pub const MAX_TEXT: usize = 1_000_000;
/// How much of a person's own message the conversation keeps to show (memory is bounded).
const SHOWN_CHARS: usize = 2_000;
const COOKIE: &str = "plaza_chat";
/// The store key holding the cookie-signing key.
const KEY_CURSOR: &str = "web-chat-key";
/// How long a form post (no JavaScript) waits for the bot's first answer before showing
/// the page.
const ANSWER_WAIT: Duration = Duration::from_secs(3);

/// One line of a conversation, as the page and the event stream show it.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// Increasing per channel: the event id (a reconnecting browser asks for what followed).
    pub n: u64,
    /// `bot` or `me`.
    pub from: &'static str,
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<ChatButton>,
    /// The bot message's id: a button press names it.
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatButton {
    pub label: String,
    pub data: String,
}

impl From<&Button> for ChatButton {
    fn from(b: &Button) -> ChatButton {
        ChatButton { label: b.label.clone(), data: b.data.clone() }
    }
}

struct Session {
    log: VecDeque<Line>,
    live: tokio::sync::broadcast::Sender<Line>,
    seen: Instant,
}

impl Session {
    fn new() -> Session {
        Session { log: VecDeque::new(), live: tokio::sync::broadcast::channel(64).0, seen: Instant::now() }
    }
}

/// The web chat channel. Build it with [`WebChat::open`], give it to the dispatcher like
/// any channel, and to [`crate::router`] so `/chat` reaches it.
pub struct WebChat {
    inbox: OnceLock<Arc<dyn Inbox>>,
    sessions: Mutex<HashMap<String, Session>>,
    key: Vec<u8>,
    seq: AtomicU64,
    secure: bool,
    /// New conversations (identities) started per client address in the last hour: a
    /// script dropping its cookie must not get past the per-resident report limit.
    started: Mutex<HashMap<std::net::IpAddr, VecDeque<Instant>>>,
    new_per_hour: usize,
}

/// The address a request comes from: the connection's, or — when the connection is from
/// this machine (the town's reverse proxy) — the last address the proxy put in
/// X-Forwarded-For. A remote client cannot make its own header count.
fn client_addr(headers: &HeaderMap, peer: std::net::SocketAddr) -> std::net::IpAddr {
    if peer.ip().is_loopback()
        && let Some(fwd) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .next_back()
    {
        return fwd;
    }
    peer.ip()
}

impl std::fmt::Debug for WebChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebChat").finish_non_exhaustive()
    }
}

impl WebChat {
    /// The chat of `store`'s town: its cookie-signing key is read from the store, or made
    /// and kept there (so identities survive a restart and are shared by the processes
    /// of one store). `secure`: cookies only over HTTPS (the public address is https).
    pub async fn open(
        store: &dyn plaza_core::Store,
        secure: bool,
        new_per_hour: usize,
    ) -> Result<WebChat, plaza_core::StoreError> {
        let key = match store.cursor(KEY_CURSOR).await?.and_then(|k| B64.decode(k).ok()).filter(|k| k.len() == 32) {
            Some(k) => k,
            None => {
                let k = crate::random_bytes::<32>().to_vec();
                store.set_cursor(KEY_CURSOR, &B64.encode(&k)).await?;
                k
            }
        };
        Ok(WebChat {
            inbox: OnceLock::new(),
            sessions: Mutex::new(HashMap::new()),
            key,
            seq: AtomicU64::new(boot_seq()),
            secure,
            started: Mutex::new(HashMap::new()),
            new_per_hour,
        })
    }

    /// Whether `addr` may start one more conversation now (and counts it if so).
    fn may_start(&self, addr: std::net::IpAddr) -> bool {
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        let mut all = self.started.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() > 100_000 {
            all.retain(|_, v| v.back().is_some_and(|t| now.duration_since(*t) < hour));
        }
        let times = all.entry(addr).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= hour) {
            times.pop_front();
        }
        if times.len() >= self.new_per_hour {
            return false;
        }
        times.push_back(now);
        true
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes a key of any length")
    }

    /// The cookie value for `id`: `id.signature`.
    fn sign(&self, id: &str) -> String {
        let mut m = self.mac();
        m.update(id.as_bytes());
        format!("{id}.{}", B64.encode(m.finalize().into_bytes()))
    }

    /// The id a cookie value carries, if its signature is ours.
    fn verify(&self, value: &str) -> Option<String> {
        let (id, sig) = value.rsplit_once('.')?;
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return None;
        }
        let sig = B64.decode(sig).ok()?;
        let mut m = self.mac();
        m.update(id.as_bytes());
        m.verify_slice(&sig).ok()?;
        Some(id.to_owned())
    }

    /// The person behind a request: their verified id, or a new one (and the cookie to
    /// set); `None` when their address has started too many conversations this hour.
    fn person(&self, headers: &HeaderMap, peer: std::net::SocketAddr) -> Option<(String, Option<HeaderValue>)> {
        let from_cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .and_then(|(_, v)| self.verify(v));
        match from_cookie {
            Some(id) => Some((id, None)),
            None => {
                if !self.may_start(client_addr(headers, peer)) {
                    return None;
                }
                let id = crate::new_token();
                let cookie = format!(
                    "{COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{}",
                    self.sign(&id),
                    if self.secure { "; Secure" } else { "" }
                );
                Some((id, HeaderValue::from_str(&cookie).ok()))
            }
        }
    }

    fn push(
        &self,
        person: &str,
        from: &'static str,
        text: String,
        buttons: Vec<ChatButton>,
        create: bool,
    ) -> Option<Line> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let line = Line { n, from, text, buttons, id: format!("w{n}") };
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if !sessions.contains_key(person) {
            if !create {
                return None;
            }
            make_room(&mut sessions);
        }
        let s = sessions.entry(person.to_owned()).or_insert_with(Session::new);
        s.log.push_back(line.clone());
        while s.log.len() > LOG_LINES {
            s.log.pop_front();
        }
        let _ = s.live.send(line.clone());
        Some(line)
    }

    /// Reads back the bot's last messages to `person` if their conversation is not in
    /// memory (after a restart). The lines read back are numbered 1, 2…, below every
    /// number this run gives, so a browser that reconnects with the number it had is
    /// not sent them again.
    pub(crate) async fn restore(&self, person: &str, store: &dyn plaza_core::Store) {
        if self.sessions.lock().unwrap_or_else(|p| p.into_inner()).contains_key(person) {
            return;
        }
        let to = Destination::Direct(Identity::new(CHANNEL, person));
        let rows = match store.delivered_to(&to, LOG_LINES as u32).await {
            Ok(r) if !r.is_empty() => r,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "web chat: a conversation could not be read back");
                return;
            }
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.contains_key(person) {
            return;
        }
        make_room(&mut sessions);
        let s = sessions.entry(person.to_owned()).or_insert_with(Session::new);
        for (i, (id, out)) in rows.into_iter().enumerate() {
            let buttons = out.buttons.iter().map(ChatButton::from).collect();
            s.log.push_back(Line { n: i as u64 + 1, from: "bot", text: out.text, buttons, id });
        }
    }

    /// The person's conversation after line `after`, and a receiver for what follows.
    fn follow(&self, person: &str, after: u64) -> (Vec<Line>, tokio::sync::broadcast::Receiver<Line>) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let s = sessions.entry(person.to_owned()).or_insert_with(Session::new);
        s.seen = Instant::now();
        (s.log.iter().filter(|l| l.n > after).cloned().collect(), s.live.subscribe())
    }

    /// The label of the button with `data` on the bot's message `id`, as the person saw it.
    fn button_label(&self, person: &str, id: Option<&str>, data: &str) -> Option<String> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let line = sessions.get(person)?.log.iter().rev().find(|l| Some(l.id.as_str()) == id)?;
        line.buttons.iter().find(|b| b.data == data).map(|b| b.label.clone())
    }

    /// Forgets a person's conversation (they asked for their data to be erased).
    fn forget(&self, person: &str) {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(person);
    }

    /// Hands what the person said to the engine; false if it could not be taken (not
    /// started yet, or the store failing: the person is asked to send it again).
    async fn deliver(&self, person: &str, kind: InboundKind, nonce: &str, reply_to: Option<String>) -> bool {
        // The page is served as soon as the server listens; the channel is started a
        // moment later: a first post waits for it (up to 5 s) instead of being refused.
        let mut waited = 0;
        while self.inbox.get().is_none() && waited < 250 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            waited += 1;
        }
        let Some(inbox) = self.inbox.get() else { return false };
        let inbound = Inbound {
            channel: CHANNEL.to_owned(),
            message_id: format!("{person}/{nonce}"),
            sender: Identity::new(CHANNEL, person),
            sender_name: None,
            chat: Chat::Direct,
            kind,
            reply_to,
            unverified: false,
        };
        match inbox.deliver(inbound).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "web chat: a message could not be handled");
                false
            }
        }
    }
}

#[async_trait]
impl Channel for WebChat {
    fn name(&self) -> &str {
        CHANNEL
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: false,
            buttons: true,
            edits: false,
            reactions: false,
            location: true,
            one_way: false,
            authenticated_ids: false,
            idempotent_sends: false,
        }
    }
    fn limits(&self) -> Limits {
        // Sending is a write to memory: many people at once.
        Limits { concurrent_chats: 16, ..Limits::default() }
    }
    fn rooms(&self) -> Vec<String> {
        vec![]
    }
    async fn run(&self, inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        let _ = self.inbox.set(inbox);
        // Messages arrive through the web server's handlers; this loop only waits.
        std::future::pending::<()>().await;
        Ok(())
    }
    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError> {
        let Destination::Direct(who) = &out.to else {
            return Err(ChannelError::UnknownRoom(format!("{:?}", out.to)));
        };
        if who.channel() != CHANNEL {
            return Err(ChannelError::Rejected(format!("not a web chat identity: {who}")));
        }
        if out.farewell {
            self.forget(who.id());
        }
        let buttons = out.buttons.iter().map(ChatButton::from).collect();
        match self.push(who.id(), "bot", out.text.clone(), buttons, !out.only_if_open) {
            Some(line) => Ok(Delivered { message_id: line.id }),
            // Not asked for, and no conversation open: nothing to show it in.
            None => Ok(Delivered { message_id: String::new() }),
        }
    }
}

/// Past [`MAX_SESSIONS`] conversations in memory, the one looked at longest ago goes.
fn make_room(sessions: &mut HashMap<String, Session>) {
    if sessions.len() >= MAX_SESSIONS
        && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| k.clone())
    {
        sessions.remove(&oldest);
    }
}

/// Where this run's line numbers start: the time in milliseconds, so that they are above
/// every number an earlier run gave (a browser reconnecting after a restart asks for what
/// followed its last one) and above the lines read back from the store.
fn boot_seq() -> u64 {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    ms.max(LOG_LINES as u64 + 1)
}

/// An error the page's script shows as it is: `{"error": "<the town's text for key>"}`.
fn error_json(s: &Shared, lang: &str, status: StatusCode, key: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": s.engine.text(lang, key)}))).into_response()
}

/// 429: this address has started too many conversations this hour.
fn too_many_new(s: &Shared, q: &HashMap<String, String>, headers: &HeaderMap) -> Response {
    let lang = lang_of(&s.engine, q, headers);
    let mut r = error_json(s, &lang, StatusCode::TOO_MANY_REQUESTS, "web-chat-too-many-new");
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("600"));
    with_security(r, None)
}

fn not_enabled() -> Response {
    (StatusCode::NOT_FOUND, "the web chat is not enabled").into_response()
}

/// Headers for every chat response: no inline script may run, nothing framed.
fn with_security(mut r: Response, cookie: Option<HeaderValue>) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(c) = cookie {
        h.append(header::SET_COOKIE, c);
    }
    r
}

const CHAT_STYLE: &str = "#log{display:flex;flex-direction:column;gap:.4rem;margin:.5rem 0}\
.l{max-width:85%;padding:.45rem .65rem;border-radius:.8rem;white-space:pre-wrap;overflow-wrap:anywhere}\
.bot{background:#eef1f5;align-self:flex-start}.me{background:#d7f0d9;align-self:flex-end}\
.l form{display:inline;margin:0}.l button{margin:.3rem .3rem 0 0}\
#say{display:flex;gap:.4rem;align-items:flex-end}#say textarea{flex:1;font:inherit;min-height:3rem;padding:.4rem}\
#say button,#where{font-size:16px;padding:.5rem .8rem}.mine{font-size:15px}";

/// `GET /chat`: the conversation, the person's reports, and the form.
pub(crate) async fn page(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(chat) = s.chat.as_ref() else { return not_enabled() };
    let Some((person, cookie)) = chat.person(&headers, peer) else {
        return too_many_new(&s, &q, &headers);
    };
    let lang = lang_of(&s.engine, &q, &headers);
    let e = &s.engine;
    let t = |k: &str| e.text(&lang, k);
    chat.restore(&person, s.engine.store().as_ref()).await;
    let (lines, _) = chat.follow(&person, 0);
    let last = lines.last().map_or(0, |l| l.n);
    let who = Identity::new(CHANNEL, &person);
    let mine = e
        .store()
        .tasks(&TaskQuery { reporter: Some(who.clone()), newest_first: true, limit: Some(20), ..TaskQuery::default() })
        .await
        .unwrap_or_default();
    let mine: Vec<_> =
        mine.iter().filter_map(|task| e.reporter_view(task, &who, &lang).map(|v| (task.id, v))).collect();
    let nonce = B64.encode(crate::random_bytes::<12>());
    let body = html! {
        p { a href=(format!("/?lang={lang}")) { "← " (t("web-board-title")) } }
        h1 { (t("web-chat-title")) " · " (e.config().town.name) }
        @if !mine.is_empty() {
            details.mine open {
                summary { (t("web-chat-mine")) }
                ul {
                    @for (id, v) in &mine {
                        li {
                            @if v.public { a href=(format!("/tasks/{}?lang={lang}", id.0)) { "#" (id.0) } } @else { "#" (id.0) }
                            " · " (v.category) " · " (v.status_label)
                        }
                    }
                }
            }
        }
        div #log data-after=(last) aria-live="polite" {
            div.l.bot { (t("web-chat-hello")) }
            @for l in &lines {
                div class=(format!("l {}", l.from)) {
                    (l.text)
                    @if !l.buttons.is_empty() {
                        br;
                        @for b in &l.buttons {
                            form method="post" action=(format!("/chat?lang={lang}")) {
                                input type="hidden" name="button" value=(b.data);
                                input type="hidden" name="reply_to" value=(l.id);
                                input type="hidden" name="nonce" value=(format!("{nonce}-{}-{}", l.n, b.data));
                                button type="submit" { (b.label) }
                            }
                        }
                    }
                }
            }
        }
        form #say method="post" action=(format!("/chat?lang={lang}")) {
            input type="hidden" name="nonce" value=(nonce);
            textarea name="text" required aria-label=(t("web-chat-placeholder")) placeholder=(t("web-chat-placeholder")) {}
            button type="submit" { (t("web-chat-send")) }
        }
        p { button #where type="button" hidden data-label=(t("web-chat-where")) { (t("web-chat-where")) } }
        p.mine { (t("web-chat-privacy")) }
        script src="/chat.js" defer {}
    };
    let html = crate::board::page_with_style(&lang, &t("web-chat-title"), CHAT_STYLE, body);
    with_security(html.into_response(), cookie)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Said {
    text: Option<String>,
    button: Option<String>,
    reply_to: Option<String>,
    lat: Option<String>,
    lon: Option<String>,
    nonce: Option<String>,
}

/// `POST /chat`: a message, a button press or a location. A browser with JavaScript asks
/// for JSON (`Accept: application/json`) and gets the answers by `/chat/events`; a form
/// post without it is sent back to the page once the first answer is there.
pub(crate) async fn post(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    Form(said): Form<Said>,
) -> Response {
    let Some(chat) = s.chat.as_ref() else { return not_enabled() };
    let Some((person, cookie)) = chat.person(&headers, peer) else {
        return too_many_new(&s, &q, &headers);
    };
    let lang = lang_of(&s.engine, &q, &headers);
    let wants_json =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    let bad = |key: &str| with_security(error_json(&s, &lang, StatusCode::BAD_REQUEST, key), None);
    let nonce = said
        .nonce
        .filter(|n| !n.is_empty() && n.len() <= 200 && n.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| B64.encode(crate::random_bytes::<12>()));
    let reply_to = said.reply_to.filter(|r| !r.is_empty());
    let (kind, shown) = if let Some(data) = said.button.filter(|b| !b.is_empty()) {
        let label = chat.button_label(&person, reply_to.as_deref(), &data).unwrap_or_else(|| data.clone());
        (InboundKind::Button { data }, label)
    } else if let (Some(lat), Some(lon)) = (said.lat, said.lon) {
        let point = match (lat.trim().parse::<f64>(), lon.trim().parse::<f64>()) {
            (Ok(lat), Ok(lon)) if (GeoPoint { lat, lon }).is_valid() => GeoPoint { lat, lon },
            _ => return bad("web-chat-bad-location"),
        };
        (InboundKind::Location { point }, format!("📍 {:.5}, {:.5}", point.lat, point.lon))
    } else {
        match said.text.map(|t| t.replace("\r\n", "\n")) {
            Some(text) if !text.trim().is_empty() && text.len() <= MAX_TEXT => {
                (InboundKind::Text { text: text.clone() }, text)
            }
            Some(text) if text.len() > MAX_TEXT => return bad("web-chat-too-long"),
            _ => return bad("web-chat-empty"),
        }
    };
    // Subscribe before handing it over, so the first answer cannot slip past.
    let (_, mut answers) = chat.follow(&person, u64::MAX);
    // The page shows the start of a very long message (the engine has all of it).
    let shown = match shown.char_indices().nth(SHOWN_CHARS) {
        Some((i, _)) => format!("{}…", &shown[..i]),
        None => shown,
    };
    chat.push(&person, "me", shown, vec![], true);
    if !chat.deliver(&person, kind, &nonce, reply_to).await {
        return with_security(error_json(&s, &lang, StatusCode::SERVICE_UNAVAILABLE, "web-chat-busy"), cookie);
    }
    if wants_json {
        return with_security(axum::Json(serde_json::json!({"ok": true})).into_response(), cookie);
    }
    let _ = tokio::time::timeout(ANSWER_WAIT, async {
        while let Ok(l) = answers.recv().await {
            if l.from == "bot" {
                break;
            }
        }
    })
    .await;
    with_security(Redirect::to(&format!("/chat?lang={lang}#say")).into_response(), cookie)
}

/// `GET /chat/events?after=N`: the bot's answers (and the person's lines from other
/// tabs) as server-sent events, from line N on.
pub(crate) async fn events(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(chat) = s.chat.as_ref() else { return not_enabled() };
    let Some((person, cookie)) = chat.person(&headers, peer) else {
        return too_many_new(&s, &q, &headers);
    };
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(q.get("after").map(String::as_str))
        .and_then(|a| a.parse::<u64>().ok())
        .unwrap_or(0);
    chat.restore(&person, s.engine.store().as_ref()).await;
    let (backlog, live) = chat.follow(&person, after);
    let chat = chat.clone();
    let stream = futures_util::stream::unfold(
        (VecDeque::from(backlog), live, after, chat, person),
        |(mut backlog, mut live, mut last, chat, person)| async move {
            loop {
                let line = match backlog.pop_front() {
                    Some(l) => l,
                    None => match live.recv().await {
                        Ok(l) => l,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            // Too far behind: take what followed from the log.
                            let (missed, rx) = chat.follow(&person, last);
                            backlog.extend(missed);
                            live = rx;
                            continue;
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    },
                };
                if line.n <= last {
                    continue;
                }
                last = line.n;
                let ev = Event::default()
                    .id(line.n.to_string())
                    .json_data(&line)
                    .unwrap_or_else(|_| Event::default().comment("unserialisable line"));
                return Some((Ok::<_, Infallible>(ev), (backlog, live, last, chat, person)));
            }
        },
    );
    with_security(
        Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response(),
        cookie,
    )
}

/// `GET /chat.js`: the page's script, served from here (no inline script runs).
pub(crate) async fn script() -> Response {
    let mut r = SCRIPT.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
    r
}

/// Every text is put into the page with `textContent`, never as markup.
const SCRIPT: &str = r#""use strict";
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("say");
  if (!log || !form) return;
  const action = form.getAttribute("action");
  const box = form.querySelector("textarea");
  const nonce = () => Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  let last = Number(log.dataset.after || 0);
  const send = async (fields) => {
    const body = new URLSearchParams(fields);
    body.set("nonce", nonce());
    const r = await fetch(action, { method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!r.ok) {
      let msg = "Error " + r.status;
      try { msg = (await r.json()).error || msg; } catch (e) {}
      show({ n: 0, from: "bot", text: msg, id: "" });
      return false;
    }
    return true;
  };
  const show = (m) => {
    if (m.n && m.n <= last) return;
    if (m.n) last = m.n;
    const div = document.createElement("div");
    div.className = "l " + (m.from === "me" ? "me" : "bot");
    div.textContent = m.text;
    if (m.buttons && m.buttons.length) {
      div.appendChild(document.createElement("br"));
      for (const b of m.buttons) {
        const btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.label;
        btn.addEventListener("click", () => send({ button: b.data, reply_to: m.id }));
        div.appendChild(btn);
      }
    }
    log.appendChild(div);
    div.scrollIntoView({ block: "end" });
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = box.value;
    if (!text.trim()) return;
    box.disabled = true;
    if (await send({ text })) box.value = "";
    box.disabled = false;
    box.focus();
  });
  box.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });
  const where = document.getElementById("where");
  if (where && navigator.geolocation) {
    where.hidden = false;
    where.addEventListener("click", () => {
      navigator.geolocation.getCurrentPosition(
        (p) => send({ lat: String(p.coords.latitude), lon: String(p.coords.longitude) }),
        () => {}
      );
    });
  }
  const es = new EventSource("/chat/events?after=" + last);
  es.onmessage = (e) => { try { show(JSON.parse(e.data)); } catch (err) {} };
  log.dataset.ready = "1";
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> WebChat {
        WebChat {
            inbox: OnceLock::new(),
            sessions: Mutex::new(HashMap::new()),
            key: vec![7; 32],
            seq: AtomicU64::new(0),
            secure: false,
            started: Mutex::new(HashMap::new()),
            new_per_hour: 3,
        }
    }

    #[test]
    fn a_cookie_is_trusted_only_with_our_signature() {
        let c = chat();
        let v = c.sign("abc_DEF-1");
        assert_eq!(c.verify(&v).as_deref(), Some("abc_DEF-1"));
        assert_eq!(c.verify("abc_DEF-2.".to_owned().as_str()), None);
        let (id, sig) = v.rsplit_once('.').expect("signed");
        assert_eq!(c.verify(&format!("{id}x.{sig}")), None, "another id with the same signature");
        assert_eq!(c.verify(&format!("a;b.{sig}")), None);
        let other = WebChat { key: vec![8; 32], ..chat() };
        assert_eq!(other.verify(&v), None, "another town's key");
    }

    #[test]
    fn an_address_starts_a_few_conversations_an_hour_and_only_a_local_proxy_may_say_who() {
        let c = chat();
        let local: std::net::SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let remote: std::net::SocketAddr = "198.51.100.9:5000".parse().expect("addr");
        let mut fwd = HeaderMap::new();
        fwd.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.1, 203.0.113.7"));
        assert_eq!(client_addr(&fwd, local).to_string(), "203.0.113.7", "the proxy's last hop");
        assert_eq!(client_addr(&fwd, remote).to_string(), "198.51.100.9", "a remote client's own header");
        let none = HeaderMap::new();
        for _ in 0..3 {
            assert!(c.person(&none, remote).is_some());
        }
        assert!(c.person(&none, remote).is_none(), "a fourth new conversation in the hour");
        assert!(c.person(&fwd, local).is_some(), "another address behind the proxy has its own count");
        let (id, _) = c.person(&fwd, local).expect("a person");
        let mut with_cookie = HeaderMap::new();
        with_cookie.insert(header::COOKIE, HeaderValue::from_str(&format!("{COOKIE}={}", c.sign(&id))).expect("v"));
        assert!(c.person(&with_cookie, remote).is_some(), "a known person is never refused");
    }

    #[test]
    fn a_conversation_keeps_its_last_lines_and_unasked_messages_open_nothing() {
        let c = chat();
        assert!(c.push("p", "bot", "news".into(), vec![], false).is_none());
        for i in 0..(LOG_LINES + 5) {
            c.push("p", "me", format!("{i}"), vec![], true);
        }
        let (lines, _) = c.follow("p", 0);
        assert_eq!(lines.len(), LOG_LINES);
        assert_eq!(lines.last().map(|l| l.text.as_str()), Some(&*format!("{}", LOG_LINES + 4)));
        let (after, _) = c.follow("p", lines[LOG_LINES - 2].n);
        assert_eq!(after.len(), 1);
        c.forget("p");
        assert!(c.follow("p", 0).0.is_empty());
    }
}
