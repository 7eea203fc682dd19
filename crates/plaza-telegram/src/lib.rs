//! Plaza's Telegram channel, on teloxide: residents in private chats with the bot, crews
//! in their groups, neighbours in the public group. Maps Telegram updates to `Inbound`s
//! and `Outgoing` messages to Bot API calls; knows nothing of routing or storage.

mod channel;
pub mod settings;

pub use channel::TelegramChannel;
pub use settings::TelegramSettings;

/// The channel's name, and the prefix of Telegram identities (`telegram:12345`).
pub const NAME: &str = "telegram";

/// Telegram as a config names it (`[telegram]`): the binary's registry entry.
pub struct Kind;

#[async_trait::async_trait]
impl plaza_core::ChannelKind for Kind {
    fn name(&self) -> &'static str {
        NAME
    }
    fn check(&self, section: &toml::Table, town: &plaza_core::Config) -> Vec<settings::Problem> {
        TelegramSettings::parse(section, &town.room_names()).err().unwrap_or_default()
    }
    fn room_address(&self) -> &'static str {
        "chat id"
    }
    fn check_identity(&self, id: &str) -> Result<(), String> {
        if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
            Ok(())
        } else {
            Err(format!("`{NAME}:{id}`: a Telegram user id is a number, e.g. telegram:123456789"))
        }
    }
    /// Telegram user ids are the accounts' own: nobody else can write as one.
    fn authenticated_ids(&self) -> bool {
        true
    }
    fn notes(&self, section: &toml::Table, town: &plaza_core::Config) -> Vec<String> {
        match TelegramSettings::parse(section, &town.room_names()).map(|s| s.token()) {
            Ok(Err((_, m))) => vec![m],
            _ => vec![],
        }
    }
    async fn build(
        &self,
        section: &toml::Table,
        town: &plaza_core::Config,
    ) -> Result<std::sync::Arc<dyn plaza_core::Channel>, plaza_core::ChannelError> {
        let settings = TelegramSettings::parse(section, &town.room_names()).map_err(plaza_core::ChannelError::first)?;
        let token = settings.token().map_err(plaza_core::ChannelError::setting)?;
        Ok(std::sync::Arc::new(TelegramChannel::new(settings, &token)?))
    }
}
