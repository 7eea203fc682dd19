//! `[matrix]` in a town's config.
//!
//! ```toml
//! [matrix]
//! homeserver = "https://matrix.jun.es"
//! user_id = "@plaza:jun.es"
//! password_env = "PLAZA_MATRIX_PASSWORD"   # the password is read from this variable
//! # access_token_env = "PLAZA_MATRIX_TOKEN" # or: log in with an access token instead
//! store = "data/matrix"                    # session, encryption keys, sync state
//! [matrix.rooms]                           # room ids (!…) or aliases (#…:server)
//! electricians = "#electricistas:jun.es"
//! public = "!AbCdEf:jun.es"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use plaza_core::config::section::Problem;
use plaza_core::config::section::{self, is_env_name};

/// The environment variable that holds the bot's password or access token.
#[derive(Debug, Clone)]
pub enum Login {
    Password(String),
    AccessToken(String),
}

/// The secret itself, read from the environment.
#[derive(Clone)]
pub enum Secret {
    Password(String),
    AccessToken(String),
}

#[derive(Debug, Clone)]
pub struct MatrixSettings {
    pub homeserver: String,
    pub user_id: String,
    /// How the bot logs in the first time (later starts restore the saved session).
    pub login: Login,
    pub store: PathBuf,
    pub device_name: String,
    /// Room name → room id or alias.
    pub rooms: BTreeMap<String, String>,
}

fn is_user_id(s: &str) -> bool {
    s.strip_prefix('@').and_then(|r| r.split_once(':')).is_some_and(|(l, sv)| !l.is_empty() && !sv.is_empty())
}

fn is_room_ref(s: &str) -> bool {
    match s.chars().next() {
        // Room ids of room version 12 have no ":server" part.
        Some('!') => s.len() > 1 && !s.contains(char::is_whitespace),
        Some('#') => {
            s.strip_prefix('#').and_then(|r| r.split_once(':')).is_some_and(|(l, sv)| !l.is_empty() && !sv.is_empty())
        }
        _ => false,
    }
}

impl MatrixSettings {
    pub fn parse(t: &toml::Table, rooms: &[String]) -> Result<MatrixSettings, Vec<Problem>> {
        let mut p: Vec<Problem> = Vec::new();
        section::unknown_keys(
            t,
            "matrix",
            &["homeserver", "user_id", "password_env", "access_token_env", "store", "device_name", "rooms"],
            &mut p,
        );
        let s = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let homeserver = match s("homeserver") {
            Some(h) if h.starts_with("http://") || h.starts_with("https://") => h.trim_end_matches('/').to_owned(),
            Some(h) => {
                p.push(("matrix.homeserver".into(), format!("`{h}` is not an http(s) URL")));
                String::new()
            }
            None => {
                p.push((
                    "matrix".into(),
                    "missing `homeserver`: the homeserver's URL, e.g. https://matrix.jun.es".into(),
                ));
                String::new()
            }
        };
        let user_id = match s("user_id") {
            Some(u) if is_user_id(&u) => u,
            Some(u) => {
                p.push(("matrix.user_id".into(), format!("`{u}` is not a Matrix user id (@name:server)")));
                String::new()
            }
            None => {
                p.push(("matrix".into(), "missing `user_id`: the bot's account, e.g. @plaza:jun.es".into()));
                String::new()
            }
        };
        let env = |key: &str, p: &mut Vec<Problem>| match s(key) {
            Some(e) if is_env_name(&e) => Some(e),
            Some(e) => {
                p.push((
                    format!("matrix.{key}"),
                    format!("`{e}` is not an environment variable name; never write the secret itself here"),
                ));
                None
            }
            None => None,
        };
        let login = match (env("password_env", &mut p), env("access_token_env", &mut p)) {
            (Some(pw), None) => Some(Login::Password(pw)),
            (None, Some(tok)) => Some(Login::AccessToken(tok)),
            (Some(_), Some(_)) => {
                p.push(("matrix".into(), "give `password_env` or `access_token_env`, not both".into()));
                None
            }
            (None, None) => {
                if !t.contains_key("password_env") && !t.contains_key("access_token_env") {
                    p.push((
                        "matrix".into(),
                        "missing `password_env` (or `access_token_env`): the environment variable that holds the bot's password".into(),
                    ));
                }
                None
            }
        };
        let store = PathBuf::from(s("store").unwrap_or_else(|| "data/matrix".into()));
        let device_name = s("device_name").unwrap_or_else(|| "Plaza".into());
        let room_refs = section::rooms(t, "matrix", rooms, &mut p, |v| match v.as_str() {
            Some(r) if is_room_ref(r) => Ok(r.to_owned()),
            _ => Err(format!("`{v}` is not a room id (!…) or alias (#name:server)")),
        });
        match login {
            Some(login) if p.is_empty() => {
                Ok(MatrixSettings { homeserver, user_id, login, store, device_name, rooms: room_refs })
            }
            _ => Err(p),
        }
    }

    /// The password or access token, from the environment.
    pub fn secret(&self) -> Result<Secret, Problem> {
        let (key, var) = match &self.login {
            Login::Password(v) => ("matrix.password_env", v),
            Login::AccessToken(v) => ("matrix.access_token_env", v),
        };
        match std::env::var(var) {
            Ok(t) if !t.is_empty() => Ok(match self.login {
                Login::Password(_) => Secret::Password(t),
                Login::AccessToken(_) => Secret::AccessToken(t),
            }),
            _ => Err((
                key.into(),
                format!("the environment variable {var} is not set: put the bot account's secret there"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_their_keys() {
        let t: toml::Table = toml::from_str(
            "homeserver = \"matrix.jun.es\"\nuser_id = \"plaza\"\npassword_env = \"PW\"\n[rooms]\npublic = \"general\"\nwater = \"!abc\"\n",
        )
        .unwrap();
        let errs = MatrixSettings::parse(&t, &["public".into(), "water".into()]).unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["matrix.homeserver", "matrix.user_id", "matrix.rooms.public"]);
        let both: toml::Table = toml::from_str(
            "homeserver = \"http://x\"\nuser_id = \"@p:x\"\npassword_env = \"PW\"\naccess_token_env = \"TOK\"\n",
        )
        .unwrap();
        let errs = MatrixSettings::parse(&both, &[]).unwrap_err();
        assert!(errs[0].1.contains("not both"), "{errs:?}");
        assert!(is_room_ref("#electricistas:jun.es") && is_room_ref("!AbC:jun.es") && is_room_ref("!AbC"));
    }
}
