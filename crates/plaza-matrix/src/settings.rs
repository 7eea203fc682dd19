//! `[matrix]` in a town's config.
//!
//! ```toml
//! [matrix]
//! homeserver = "https://matrix.jun.es"
//! user_id = "@plaza:jun.es"
//! password_env = "PLAZA_MATRIX_PASSWORD"   # the password is read from this variable
//! store = "data/matrix"                    # session, encryption keys, sync state
//! [matrix.rooms]                           # room ids (!…) or aliases (#…:server)
//! electricians = "#electricistas:jun.es"
//! public = "!AbCdEf:jun.es"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use plaza_core::config::section::Problem;
use plaza_core::config::section::{self, is_env_name};

#[derive(Debug, Clone)]
pub struct MatrixSettings {
    pub homeserver: String,
    pub user_id: String,
    pub password_env: String,
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
            &["homeserver", "user_id", "password_env", "store", "device_name", "rooms"],
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
        let password_env = match s("password_env") {
            Some(e) if is_env_name(&e) => e,
            Some(e) => {
                p.push((
                    "matrix.password_env".into(),
                    format!("`{e}` is not an environment variable name; never write the password itself here"),
                ));
                String::new()
            }
            None => {
                p.push((
                    "matrix".into(),
                    "missing `password_env`: the environment variable holding the bot's password".into(),
                ));
                String::new()
            }
        };
        let store = PathBuf::from(s("store").unwrap_or_else(|| "data/matrix".into()));
        let device_name = s("device_name").unwrap_or_else(|| "Plaza".into());
        let room_refs = section::rooms(t, "matrix", rooms, &mut p, |v| match v.as_str() {
            Some(r) if is_room_ref(r) => Ok(r.to_owned()),
            _ => Err(format!("`{v}` is not a room id (!…) or alias (#name:server)")),
        });
        if p.is_empty() {
            Ok(MatrixSettings { homeserver, user_id, password_env, store, device_name, rooms: room_refs })
        } else {
            Err(p)
        }
    }

    pub fn password(&self) -> Result<String, Problem> {
        match std::env::var(&self.password_env) {
            Ok(t) if !t.is_empty() => Ok(t),
            _ => Err((
                "matrix.password_env".into(),
                format!(
                    "the environment variable {} is not set: put the bot account's password there",
                    self.password_env
                ),
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
        assert!(is_room_ref("#electricistas:jun.es") && is_room_ref("!AbC:jun.es") && is_room_ref("!AbC"));
    }
}
