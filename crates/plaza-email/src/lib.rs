//! Plaza's e-mail channel: residents write to the town's address and get every answer in
//! the same thread. Incoming by IMAP IDLE, outgoing by SMTP (lettre, async-imap,
//! mail-parser). HTML is reduced to text, quoted mail and signatures are dropped,
//! photos are kept, automatic mail is never answered, and a message counts as its
//! sender's for crew and dispatcher powers only when the receiving server vouches for it
//! (`Authentication-Results` from `authserv_id`: DMARC, DKIM or SPF). The town's rooms
//! stay on its other messengers. Knows nothing of routing or storage.

mod channel;
pub mod read;
pub mod settings;

pub use channel::EmailChannel;
pub use settings::EmailSettings;

/// The channel's name, and the prefix of e-mail identities (`email:ana@example.org`).
pub const NAME: &str = "email";

/// E-mail as a config names it (`[email]`): the binary's registry entry.
pub struct Kind;

#[async_trait::async_trait]
impl plaza_core::ChannelKind for Kind {
    fn name(&self) -> &'static str {
        NAME
    }
    fn check(&self, section: &toml::Table, _town: &plaza_core::Config) -> Vec<settings::Problem> {
        EmailSettings::parse(section).err().unwrap_or_default()
    }
    /// Mail hosts no rooms: crews and neighbours keep theirs on the other messengers.
    fn hosted_rooms(&self, _section: &toml::Table) -> Vec<String> {
        vec![]
    }
    fn room_address(&self) -> &'static str {
        "room"
    }
    fn check_identity(&self, id: &str) -> Result<(), String> {
        match settings::address(id) {
            Some(a) if a == id => Ok(()),
            Some(a) => Err(format!("`{NAME}:{id}`: write the address in small letters: {NAME}:{a}")),
            None => Err(format!("`{NAME}:{id}`: an e-mail identity is an address, e.g. email:luis@jun.es")),
        }
    }
    /// Anyone can put any address in `From`: see `authserv_id`.
    fn authenticated_ids(&self) -> bool {
        false
    }
    fn notes(&self, section: &toml::Table, _town: &plaza_core::Config) -> Vec<String> {
        let mut notes = vec![];
        if let Ok(s) = EmailSettings::parse(section) {
            if let Err((_, m)) = s.password() {
                notes.push(m);
            }
            if s.authserv_id.is_none() {
                notes.push("email: no `authserv_id`: no mail is taken as verified, so crew and dispatcher commands by mail are refused".into());
            }
        }
        notes
    }
    async fn build(
        &self,
        section: &toml::Table,
        _town: &plaza_core::Config,
    ) -> Result<std::sync::Arc<dyn plaza_core::Channel>, plaza_core::ChannelError> {
        let settings = EmailSettings::parse(section).map_err(plaza_core::ChannelError::first)?;
        let password = settings.password().map_err(plaza_core::ChannelError::setting)?;
        Ok(std::sync::Arc::new(EmailChannel::new(settings, password)?))
    }
}
