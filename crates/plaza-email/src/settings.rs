//! `[email]` in a town's config.
//!
//! ```toml
//! [email]
//! address = "ayuntamiento@jun.es"       # the town's address: residents write here
//! name = "Ayuntamiento de Jun"          # shown as the sender (optional)
//! imap = "imap.jun.es:993"              # incoming: the mailbox, watched with IMAP IDLE
//! smtp = "smtp.jun.es:465"              # outgoing
//! security = "tls"                      # "tls" (default), "starttls" (SMTP only) or "none" (a relay on this machine)
//! login = "ayuntamiento@jun.es"         # the mailbox's login (default: the address)
//! password_env = "PLAZA_EMAIL_PASSWORD" # the password is read from this environment variable
//! # password_file = "/run/secrets/mail" # …or from this file (one of the two)
//! authserv_id = "mx.jun.es"             # whose Authentication-Results headers to believe (SPF/DKIM)
//! # ca_file = "/etc/ssl/jun-ca.pem"     # a town's own certificate authority (else the system's)
//! ```

pub use plaza_core::config::section::Problem;
use plaza_core::config::section::{self, is_env_name};

/// How the connections to the servers are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    Tls,
    /// SMTP upgraded with STARTTLS (587); IMAP then uses TLS.
    StartTls,
    /// No encryption: only for a server on this machine (tests, a local relay).
    None,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub address: String,
    pub name: Option<String>,
    pub imap: (String, u16),
    pub smtp: (String, u16),
    pub security: Security,
    pub login: String,
    /// Where the password is: an environment variable's name, or a file.
    pub password_env: String,
    pub password_file: Option<String>,
    /// The receiving server's id in `Authentication-Results`; without it no message is
    /// taken as verified (crew and dispatcher powers stay on the other channels).
    pub authserv_id: Option<String>,
    /// A PEM file with the certificate authority that signed the servers' certificates
    /// (a town's own); without it, the machine's trusted authorities.
    pub ca_file: Option<String>,
    /// How long one IMAP IDLE waits before it is renewed (RFC 2177: under 29 minutes).
    pub idle_minutes: u64,
}

fn host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    let port = p.parse().ok()?;
    (!h.is_empty() && !h.contains(char::is_whitespace)).then(|| (h.to_owned(), port))
}

/// `name@domain`, lowercased; None if it is not an address.
pub fn address(s: &str) -> Option<String> {
    let s = s.trim();
    let (l, d) = s.split_once('@')?;
    let ok = !l.is_empty()
        && d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && !s.contains(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == ',');
    ok.then(|| s.to_lowercase())
}

impl EmailSettings {
    /// Reads and checks the `[email]` table: every problem with its key.
    pub fn parse(t: &toml::Table) -> Result<EmailSettings, Vec<Problem>> {
        let mut p: Vec<Problem> = Vec::new();
        section::unknown_keys(
            t,
            "email",
            &[
                "address",
                "name",
                "imap",
                "smtp",
                "security",
                "login",
                "password_env",
                "password_file",
                "authserv_id",
                "ca_file",
                "idle_minutes",
            ],
            &mut p,
        );
        let string = |key: &str, required: bool, p: &mut Vec<Problem>| match t.get(key) {
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(_) => {
                p.push((format!("email.{key}"), "must be a string".into()));
                None
            }
            None if required => {
                p.push(("email".into(), format!("missing `{key}`")));
                None
            }
            None => None,
        };
        let addr = string("address", true, &mut p).and_then(|a| {
            let ok = address(&a);
            if ok.is_none() {
                p.push(("email.address".into(), format!("`{a}` is not an e-mail address")));
            }
            ok
        });
        let name = string("name", false, &mut p);
        let server = |key: &str, p: &mut Vec<Problem>| {
            string(key, true, p).and_then(|s| {
                let hp = host_port(&s);
                if hp.is_none() {
                    p.push((format!("email.{key}"), format!("`{s}` is not host:port, e.g. mail.jun.es:993")));
                }
                hp
            })
        };
        let imap = server("imap", &mut p);
        let smtp = server("smtp", &mut p);
        let security = match t.get("security") {
            None => Security::Tls,
            Some(toml::Value::String(s)) if s == "tls" => Security::Tls,
            Some(toml::Value::String(s)) if s == "starttls" => Security::StartTls,
            Some(toml::Value::String(s)) if s == "none" => Security::None,
            Some(v) => {
                p.push(("email.security".into(), format!("{v}: must be \"tls\", \"starttls\" or \"none\"")));
                Security::Tls
            }
        };
        let login = match t.get("login") {
            None => addr.clone().unwrap_or_default(),
            Some(toml::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                p.push(("email.login".into(), "must be the mailbox's login name".into()));
                String::new()
            }
        };
        let password_env = match t.get("password_env") {
            Some(toml::Value::String(s)) if is_env_name(s) => s.clone(),
            Some(toml::Value::String(s)) => {
                p.push((
                    "email.password_env".into(),
                    format!("`{s}` is not an environment variable name (e.g. PLAZA_EMAIL_PASSWORD); never write the password itself here"),
                ));
                String::new()
            }
            Some(_) => {
                p.push(("email.password_env".into(), "must be a string".into()));
                String::new()
            }
            None if t.contains_key("password_file") => String::new(),
            None => {
                p.push((
                    "email".into(),
                    "missing `password_env` (the environment variable that holds the password) or `password_file`"
                        .into(),
                ));
                String::new()
            }
        };
        let password_file = match t.get("password_file") {
            None => None,
            Some(_) if t.contains_key("password_env") => {
                p.push(("email.password_file".into(), "give `password_env` or `password_file`, not both".into()));
                None
            }
            Some(toml::Value::String(f)) if !f.is_empty() => Some(f.clone()),
            Some(_) => {
                p.push(("email.password_file".into(), "must be the path of a file holding the password".into()));
                None
            }
        };
        let authserv_id = match t.get("authserv_id") {
            None => None,
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_lowercase()),
            Some(_) => {
                p.push(("email.authserv_id".into(), "must be the receiving server's name, e.g. mx.jun.es".into()));
                None
            }
        };
        let ca_file = match t.get("ca_file") {
            None => None,
            Some(toml::Value::String(f)) if !f.is_empty() => Some(f.clone()),
            Some(_) => {
                p.push(("email.ca_file".into(), "must be the path of a PEM file".into()));
                None
            }
        };
        let idle_minutes = match t.get("idle_minutes") {
            None => 25,
            Some(toml::Value::Integer(n)) if (1..=28).contains(n) => *n as u64,
            Some(_) => {
                p.push(("email.idle_minutes".into(), "must be 1 to 28 (minutes)".into()));
                25
            }
        };
        match (addr, imap, smtp) {
            (Some(address), Some(imap), Some(smtp)) if p.is_empty() => Ok(EmailSettings {
                address,
                name,
                imap,
                smtp,
                security,
                login,
                password_env,
                password_file,
                authserv_id,
                ca_file,
                idle_minutes,
            }),
            _ => Err(p),
        }
    }

    /// The password, from the environment or its file.
    pub fn password(&self) -> Result<String, Problem> {
        if let Some(f) = &self.password_file {
            return match std::fs::read_to_string(f) {
                Ok(p) if !p.trim().is_empty() => Ok(p.trim_end_matches(['\n', '\r']).to_owned()),
                Ok(_) => {
                    Err(("email.password_file".into(), format!("{f} is empty: it must hold the mailbox's password")))
                }
                Err(e) => Err(("email.password_file".into(), format!("cannot read {f}: {e}"))),
            };
        }
        match std::env::var(&self.password_env) {
            Ok(v) if !v.is_empty() => Ok(v),
            _ => Err((
                "email.password_env".into(),
                format!(
                    "the environment variable {} is not set: it must hold the mailbox's password",
                    self.password_env
                ),
            )),
        }
    }

    /// The town's certificate authority (PEM), if it names one.
    pub fn ca(&self) -> Result<Option<Vec<u8>>, Problem> {
        match &self.ca_file {
            None => Ok(None),
            Some(f) => {
                std::fs::read(f).map(Some).map_err(|e| ("email.ca_file".into(), format!("cannot read {f}: {e}")))
            }
        }
    }

    /// The domain of the town's address (for Message-IDs).
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("plaza.invalid", |(_, d)| d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad() {
        let t: toml::Table = toml::from_str(
            "address = \"Ayto@Jun.es\"\nimap = \"127.0.0.1:143\"\nsmtp = \"127.0.0.1:25\"\nsecurity = \"none\"\npassword_env = \"PW\"",
        )
        .unwrap();
        let s = EmailSettings::parse(&t).unwrap();
        assert_eq!(s.address, "ayto@jun.es");
        assert_eq!(s.login, "ayto@jun.es");
        assert_eq!(s.imap, ("127.0.0.1".into(), 143));
        assert_eq!(s.security, Security::None);
        assert_eq!(s.idle_minutes, 25);

        let t: toml::Table =
            toml::from_str("address = \"nobody\"\nimap = \"imap\"\nsmtp = 3\npassword_env = \"secret!\"\nport = 1")
                .unwrap();
        let keys: Vec<String> = EmailSettings::parse(&t).unwrap_err().into_iter().map(|(k, _)| k).collect();
        for k in ["email.port", "email.address", "email.imap", "email.smtp", "email.password_env"] {
            assert!(keys.contains(&k.to_owned()), "{k} in {keys:?}");
        }
    }
}
