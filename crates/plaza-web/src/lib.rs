//! Plaza's public face: the public board (`/`, `/tasks/{id}`), the Open311 GeoReport v2
//! API (`/open311/v2/…`) and `/health`, on axum, served by `plaza serve` beside the
//! messenger channels. Everything shown goes through the engine's audience model as the
//! public audience: a private task, a reporter or their personal data never appear.

mod board;
mod cache;
pub mod chat;
mod open311;
mod stats;
pub mod time;

pub use open311::{CHANNEL as OPEN311_CHANNEL, Requesters};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use plaza_core::Engine;
use plaza_core::config::section::{self, Problem};
use plaza_core::model::Timestamp;

/// `[web]` in the town's config.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSettings {
    /// Where to listen (`listen = "127.0.0.1:8080"`; `plaza serve --listen` overrides).
    pub listen: SocketAddr,
    /// The address the public uses (for Open311 discovery), e.g. "https://plaza.jun.es".
    pub public_url: String,
    /// `[web.open311] jurisdiction_id`: if set, requests naming another are refused.
    pub jurisdiction_id: Option<String>,
    /// `[web] cache_seconds`: how long a public page or an Open311 read is reused
    /// (default 1; 0: every request renders).
    pub cache_seconds: u64,
    /// `[web] new_chats_per_hour`: how many new web chat conversations one address may
    /// start in an hour (default 30; behind a local reverse proxy, per visitor's address).
    pub new_chats_per_hour: usize,
    /// `[web.open311.clients]`: the API clients that may POST service requests, each
    /// with the environment variable that holds its key (`city-app = "PLAZA_OPEN311_CITY_APP"`).
    /// None: the API is read-only.
    pub clients: Vec<(String, String)>,
}

/// An environment variable's name (never a secret itself): capitals, digits, `_`.
fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

impl WebSettings {
    /// Reads `[web]`; every problem is (key, what is wrong).
    pub fn parse(t: &toml::Table) -> Result<WebSettings, Vec<Problem>> {
        let mut problems = Vec::new();
        section::unknown_keys(
            t,
            "web",
            &["listen", "public_url", "open311", "cache_seconds", "new_chats_per_hour"],
            &mut problems,
        );
        let new_chats_per_hour = match t.get("new_chats_per_hour") {
            None => 30,
            Some(toml::Value::Integer(n)) if (1..=100_000).contains(n) => *n as usize,
            Some(_) => {
                problems.push(("web.new_chats_per_hour".to_owned(), "must be a whole number, 1 or more".to_owned()));
                30
            }
        };
        let cache_seconds = match t.get("cache_seconds") {
            None => 1,
            Some(toml::Value::Integer(n)) if (0..=3600).contains(n) => *n as u64,
            Some(_) => {
                problems
                    .push(("web.cache_seconds".to_owned(), "must be a whole number of seconds, 0 to 3600".to_owned()));
                1
            }
        };
        let string = |key: &str, v: Option<&toml::Value>, problems: &mut Vec<Problem>| -> Option<String> {
            match v {
                None => None,
                Some(toml::Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    problems.push((key.to_owned(), "must be a string".to_owned()));
                    None
                }
            }
        };
        let listen =
            string("web.listen", t.get("listen"), &mut problems).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let public_url =
            string("web.public_url", t.get("public_url"), &mut problems).unwrap_or_else(|| format!("http://{listen}"));
        let mut jurisdiction_id = None;
        let mut clients = Vec::new();
        match t.get("open311") {
            None => {}
            Some(toml::Value::Table(o)) => {
                section::unknown_keys(o, "web.open311", &["jurisdiction_id", "clients"], &mut problems);
                jurisdiction_id = string("web.open311.jurisdiction_id", o.get("jurisdiction_id"), &mut problems)
                    .filter(|j| !j.trim().is_empty());
                match o.get("clients") {
                    None => {}
                    Some(toml::Value::Table(c)) => {
                        for (name, v) in c {
                            let key = format!("web.open311.clients.{name}");
                            match v.as_str() {
                                Some(env) if is_env_name(env) => clients.push((name.clone(), env.to_owned())),
                                Some(_) => problems.push((
                                    key,
                                    "must name the environment variable that holds this client's key (e.g. PLAZA_OPEN311_CITY_APP); never write the key itself here".to_owned(),
                                )),
                                None => problems.push((key, "must be a string: an environment variable's name".to_owned())),
                            }
                        }
                    }
                    Some(_) => problems.push((
                        "web.open311.clients".to_owned(),
                        "must be a table ([web.open311.clients] name = \"ENV_VAR\")".to_owned(),
                    )),
                }
            }
            Some(_) => problems.push(("web.open311".to_owned(), "must be a table ([web.open311])".to_owned())),
        }
        let addr = listen
            .parse::<SocketAddr>()
            .map_err(|_| ("web.listen".to_owned(), format!("not an address and port like 127.0.0.1:8080: {listen}")));
        match addr {
            Ok(listen) if problems.is_empty() => {
                Ok(WebSettings { listen, public_url, jurisdiction_id, cache_seconds, new_chats_per_hour, clients })
            }
            Ok(_) => Err(problems),
            Err(p) => {
                problems.push(p);
                Err(problems)
            }
        }
    }
}

impl Default for WebSettings {
    /// `[web]` with nothing set: 127.0.0.1:8080, a 1-second page cache, no API clients.
    fn default() -> WebSettings {
        WebSettings::parse(&toml::Table::new()).expect("the defaults of [web] are valid")
    }
}

impl WebSettings {
    /// Each API client's key, from the environment: (client, key). An unset or empty
    /// variable is a problem at start, not a client locked out later.
    pub fn api_keys(&self) -> Result<Vec<(String, String)>, Problem> {
        let mut keys = Vec::new();
        for (name, env) in &self.clients {
            match std::env::var(env) {
                Ok(k) if k.trim().len() >= 16 => keys.push((name.clone(), k.trim().to_owned())),
                Ok(_) => {
                    return Err((
                        format!("web.open311.clients.{name}"),
                        format!("the key in {env} is shorter than 16 characters: use a long random one"),
                    ));
                }
                Err(_) => {
                    return Err((
                        format!("web.open311.clients.{name}"),
                        format!("the environment variable {env} is not set: put the client's API key there"),
                    ));
                }
            }
        }
        Ok(keys)
    }
}

pub(crate) struct Shared {
    pub engine: Arc<Engine>,
    pub settings: WebSettings,
    pub started: Timestamp,
    pub chat: Option<Arc<chat::WebChat>>,
    /// Open311 API keys: (client, key).
    pub keys: Vec<(String, String)>,
    pub(crate) cache: cache::Cache,
}

/// The web application for `engine`; with `chat`, also the web chat (`/chat`).
pub fn router(engine: Arc<Engine>, settings: WebSettings, chat: Option<Arc<chat::WebChat>>) -> Router {
    let started = engine.now();
    let keys = settings.api_keys().unwrap_or_default();
    let cache = cache::Cache::new(std::time::Duration::from_secs(settings.cache_seconds));
    let shared = Arc::new(Shared { engine, settings, started, chat, keys, cache });
    // The public pages and the Open311 reads, behind the page cache.
    let public = Router::new()
        .route("/", get(board::board))
        .route("/tasks/{id}", get(board::task))
        .route("/stats", get(stats::stats))
        .route("/open311/v2/{file}", get(open311::services).post(open311::post_request))
        .route("/open311/v2/tokens/{file}", get(open311::token))
        .route("/open311/v2/services/{file}", get(open311::service_definition))
        .route("/open311/v2/requests/{file}", get(open311::request_by_id))
        .route("/open311/discovery/{file}", get(open311::discovery))
        .route("/open311/{file}", get(open311::discovery))
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), cache::layer));
    // The web chat, /health and /metrics: never cached.
    Router::new()
        .route("/chat", get(chat::page).post(chat::post))
        .route("/chat/events", get(chat::events))
        .route("/chat.js", get(chat::script))
        .route("/health", get(board::health))
        .route("/metrics", get(board::metrics))
        .merge(public)
        .with_state(shared)
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The connection's address: the web chat limits new conversations per address.
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    b
}

/// A new random token: 16 bytes, URL-safe base64 (a web chat identity, an Open311 token).
pub(crate) fn new_token() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// A short one-way digest of `v` (hex), to recognise a value without keeping it.
pub(crate) fn digest(v: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("plaza:{v}").as_bytes());
    d.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// The page's language: `?lang=`, else the browser's Accept-Language, else the town's first.
pub(crate) fn lang_of(engine: &Engine, q: &HashMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(l) = q.get("lang").filter(|l| !l.is_empty()) {
        return engine.web_lang(l);
    }
    let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let langs = &engine.config().town.languages;
    for part in accept.split(',') {
        let tag = part.split(';').next().unwrap_or("").trim();
        let l = engine.web_lang(tag);
        if tag.to_ascii_lowercase().starts_with(&l) && langs.contains(&l) {
            return l;
        }
    }
    engine.web_lang("")
}
