//! `[telegram]` in a town's config.
//!
//! ```toml
//! [telegram]
//! token_env = "PLAZA_TELEGRAM_TOKEN"   # the token is read from this environment variable
//! # api_url = "http://127.0.0.1:8081"  # a self-hosted Bot API server (or the test emulator)
//! [telegram.rooms]                     # the town's rooms: group chat ids
//! electricians = -1001234567890
//! public = -1001234567891
//! triage = -1001234567892
//! # [telegram.webhook]                 # optional: receive updates by webhook, not polling
//! # listen = "127.0.0.1:8443"
//! # url = "https://bot.jun.es/telegram"
//! # secret_env = "PLAZA_TELEGRAM_SECRET"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;

pub use plaza_core::config::section::Problem;
use plaza_core::config::section::{self, is_env_name};

#[derive(Debug, Clone)]
pub struct Webhook {
    pub listen: SocketAddr,
    /// The public HTTPS address Telegram posts to (the reverse proxy forwards it here).
    pub url: String,
    /// The environment variable holding the secret Telegram sends back in
    /// `X-Telegram-Bot-Api-Secret-Token`.
    pub secret_env: String,
}

#[derive(Debug, Clone)]
pub struct TelegramSettings {
    pub token_env: String,
    pub api_url: Option<String>,
    /// Room name → group chat id.
    pub rooms: BTreeMap<String, i64>,
    pub webhook: Option<Webhook>,
    /// Long-polling timeout, seconds.
    pub poll_timeout: u32,
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://")) && s.len() > "https://".len()
}

impl TelegramSettings {
    /// Reads and checks the `[telegram]` table; `rooms` are the town's room names.
    pub fn parse(t: &toml::Table, rooms: &[String]) -> Result<TelegramSettings, Vec<Problem>> {
        let mut p: Vec<Problem> = Vec::new();
        section::unknown_keys(t, "telegram", &["token_env", "api_url", "rooms", "webhook", "poll_timeout"], &mut p);
        let token_env = match t.get("token_env") {
            Some(toml::Value::String(s)) if is_env_name(s) => s.clone(),
            Some(toml::Value::String(s)) => {
                p.push(("telegram.token_env".into(), format!("`{s}` is not an environment variable name (e.g. PLAZA_TELEGRAM_TOKEN); never write the token itself here")));
                String::new()
            }
            Some(_) => {
                p.push(("telegram.token_env".into(), "must be a string".into()));
                String::new()
            }
            None => {
                p.push((
                    "telegram".into(),
                    "missing `token_env`: the environment variable that holds the bot token".into(),
                ));
                String::new()
            }
        };
        let api_url = match t.get("api_url") {
            None => None,
            Some(toml::Value::String(s)) if is_http_url(s) => Some(s.trim_end_matches('/').to_owned()),
            Some(v) => {
                p.push(("telegram.api_url".into(), format!("`{v}` is not an http(s) URL")));
                None
            }
        };
        if t.get("rooms").is_none() {
            p.push(("telegram".into(), "missing [telegram.rooms]: the chat id of each room".into()));
        }
        let room_ids = section::rooms(t, "telegram", rooms, &mut p, |v| {
            let id = match v {
                toml::Value::Integer(i) => Some(*i),
                toml::Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match id {
                Some(i) if i < 0 => Ok(i),
                Some(i) => Err(format!("{i} is not a group chat id (group ids are negative, e.g. -1001234567890)")),
                None => Err(format!("`{v}` is not a chat id (a negative number, e.g. -1001234567890)")),
            }
        });
        let webhook = match t.get("webhook") {
            None => None,
            Some(toml::Value::Table(w)) => {
                let listen = match w.get("listen").and_then(|v| v.as_str()).map(str::parse::<SocketAddr>) {
                    Some(Ok(a)) => Some(a),
                    _ => {
                        p.push((
                            "telegram.webhook.listen".into(),
                            "give the address to listen on, e.g. \"127.0.0.1:8443\"".into(),
                        ));
                        None
                    }
                };
                let url = match w.get("url").and_then(|v| v.as_str()) {
                    Some(u) if is_http_url(u) => Some(u.to_owned()),
                    _ => {
                        p.push(("telegram.webhook.url".into(), "give the public https URL Telegram posts to".into()));
                        None
                    }
                };
                let secret_env = match w.get("secret_env").and_then(|v| v.as_str()) {
                    Some(s) if is_env_name(s) => Some(s.to_owned()),
                    _ => {
                        p.push((
                            "telegram.webhook.secret_env".into(),
                            "give the environment variable that holds the webhook secret".into(),
                        ));
                        None
                    }
                };
                match (listen, url, secret_env) {
                    (Some(listen), Some(url), Some(secret_env)) => Some(Webhook { listen, url, secret_env }),
                    _ => None,
                }
            }
            Some(_) => {
                p.push(("telegram.webhook".into(), "must be a table".into()));
                None
            }
        };
        let poll_timeout = match t.get("poll_timeout") {
            None => 25,
            Some(toml::Value::Integer(i)) if (1..=50).contains(i) => *i as u32,
            Some(_) => {
                p.push(("telegram.poll_timeout".into(), "seconds, from 1 to 50".into()));
                25
            }
        };
        if p.is_empty() {
            Ok(TelegramSettings { token_env, api_url, rooms: room_ids, webhook, poll_timeout })
        } else {
            Err(p)
        }
    }

    /// The bot token, from the environment.
    pub fn token(&self) -> Result<String, Problem> {
        match std::env::var(&self.token_env) {
            Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
            _ => Err((
                "telegram.token_env".into(),
                format!(
                    "the environment variable {} is not set: put the bot token from @BotFather there",
                    self.token_env
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms() -> Vec<String> {
        vec!["electricians".into(), "public".into(), "triage".into()]
    }

    #[test]
    fn good_settings() {
        let t: toml::Table = toml::from_str(
            "token_env = \"TG\"\napi_url = \"http://127.0.0.1:9/\"\n[rooms]\nelectricians = -100\npublic = \"-200\"\n",
        )
        .unwrap();
        let s = TelegramSettings::parse(&t, &rooms()).unwrap();
        assert_eq!(s.rooms.get("public"), Some(&-200));
        assert_eq!(s.api_url.as_deref(), Some("http://127.0.0.1:9"));
    }

    #[test]
    fn each_problem_names_its_key() {
        let t: toml::Table =
            toml::from_str("token_env = \"123:ABC\"\n[rooms]\nelectricians = 100\npublic = \"abc\"\nparking = -5\n")
                .unwrap();
        let errs = TelegramSettings::parse(&t, &rooms()).unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "telegram.token_env",
                "telegram.rooms.electricians",
                "telegram.rooms.parking",
                "telegram.rooms.public"
            ]
        );
    }
}
