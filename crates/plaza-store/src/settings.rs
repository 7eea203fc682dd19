//! The town's `[store]` section: where its data lives.
//!
//! ```toml
//! [store]
//! url_env = "PLAZA_DATABASE_URL"   # postgres://user:password@host/db, kept out of the file
//! # url = "postgres://plaza@127.0.0.1/plaza"   # or in the file, when it has no password
//! ```
//!
//! With no `[store]` section the data is one SQLite file (`--db`, default data/plaza.db).

use plaza_core::config::section::{Problem, unknown_keys};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSettings {
    url: Option<String>,
    url_env: Option<String>,
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Whether a URL carries a password (`scheme://user:password@host`).
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split('/').next().unwrap_or("");
    auth.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

impl StoreSettings {
    pub fn parse(t: &toml::Table) -> Result<StoreSettings, Vec<Problem>> {
        let mut p: Vec<Problem> = Vec::new();
        unknown_keys(t, "store", &["url", "url_env"], &mut p);
        let mut get = |k: &str| match t.get(k) {
            None => None,
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(_) => {
                p.push((format!("store.{k}"), "must be a text".into()));
                None
            }
        };
        let url = get("url");
        let url_env = get("url_env");
        if let Some(u) = &url {
            if !is_postgres(u) {
                p.push(("store.url".into(), format!("`{u}` is not a postgres:// URL (SQLite needs no [store]: --db)")));
            } else if has_password(u) {
                p.push((
                    "store.url".into(),
                    "has a password in the config file: put the URL in an environment variable and name it in \
                     store.url_env"
                        .into(),
                ));
            }
        }
        if url.is_some() && url_env.is_some() {
            p.push(("store.url_env".into(), "give either store.url or store.url_env, not both".into()));
        }
        if url.is_none() && url_env.is_none() && p.is_empty() {
            p.push(("store".into(), "names no database: add url_env = \"PLAZA_DATABASE_URL\" (or url)".into()));
        }
        if p.is_empty() { Ok(StoreSettings { url, url_env }) } else { Err(p) }
    }

    /// The PostgreSQL URL. Err: (key, what is wrong), e.g. the environment variable is
    /// not set.
    pub fn postgres_url(&self) -> Result<String, Problem> {
        if let Some(u) = &self.url {
            return Ok(u.clone());
        }
        let Some(var) = &self.url_env else {
            return Err(("store".into(), "names no database".into()));
        };
        match std::env::var(var) {
            Ok(u) if is_postgres(u.trim()) => Ok(u.trim().to_owned()),
            Ok(_) => Err(("store.url_env".into(), format!("the environment variable {var} is not a postgres:// URL"))),
            Err(_) => Err(("store.url_env".into(), format!("the environment variable {var} is not set"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<StoreSettings, Vec<Problem>> {
        StoreSettings::parse(&s.parse::<toml::Table>().expect("toml"))
    }

    #[test]
    fn settings() {
        assert_eq!(
            parse("url = \"postgres://plaza@127.0.0.1/plaza\"").expect("ok").postgres_url(),
            Ok("postgres://plaza@127.0.0.1/plaza".into())
        );
        let e = parse("url = \"postgres://plaza:secret@db/plaza\"").expect_err("a password in the file");
        assert_eq!(e[0].0, "store.url");
        assert!(!e[0].1.contains("secret"), "the error repeats the password: {e:?}");
        assert_eq!(parse("url = \"sqlite:data/x.db\"").expect_err("not postgres")[0].0, "store.url");
        assert_eq!(parse("urll = \"postgres://x/y\"").expect_err("typo")[0].0, "store.urll");
        assert_eq!(parse("").expect_err("empty")[0].0, "store");
        let s = parse("url_env = \"PLAZA_TEST_SURELY_UNSET_URL\"").expect("ok");
        assert_eq!(s.postgres_url().expect_err("unset").0, "store.url_env");
    }
}
