//! Plaza's Matrix channel, on matrix-sdk: residents in direct chats with the bot
//! (end-to-end encrypted, as Element makes them), crews in their rooms, neighbours in the
//! public room, with threads, reactions and edits. Maps Matrix events to `Inbound`s and
//! `Outgoing` messages to events; knows nothing of routing or storage.

mod channel;
pub mod settings;

pub use channel::MatrixChannel;
pub use settings::MatrixSettings;

/// The channel's name, and the prefix of Matrix identities (`matrix:@ana:jun.es`).
pub const NAME: &str = "matrix";

/// Matrix as a config names it (`[matrix]`): the binary's registry entry.
pub struct Kind;

#[async_trait::async_trait]
impl plaza_core::ChannelKind for Kind {
    fn name(&self) -> &'static str {
        NAME
    }
    fn check(&self, section: &toml::Table, town: &plaza_core::Config) -> Vec<settings::Problem> {
        MatrixSettings::parse(section, &town.room_names()).err().unwrap_or_default()
    }
    fn room_address(&self) -> &'static str {
        "room id"
    }
    fn check_identity(&self, id: &str) -> Result<(), String> {
        match id.strip_prefix('@').and_then(|r| r.split_once(':')) {
            Some((l, s)) if !l.is_empty() && !s.is_empty() => Ok(()),
            _ => Err(format!("`{NAME}:{id}`: a Matrix user id looks like matrix:@name:server.org")),
        }
    }
    /// The homeserver vouches for its users' ids.
    fn authenticated_ids(&self) -> bool {
        true
    }
    fn notes(&self, section: &toml::Table, town: &plaza_core::Config) -> Vec<String> {
        match MatrixSettings::parse(section, &town.room_names()).map(|s| s.secret()) {
            Ok(Err((_, m))) => vec![m],
            _ => vec![],
        }
    }
    async fn build(
        &self,
        section: &toml::Table,
        town: &plaza_core::Config,
    ) -> Result<std::sync::Arc<dyn plaza_core::Channel>, plaza_core::ChannelError> {
        let settings = MatrixSettings::parse(section, &town.room_names()).map_err(plaza_core::ChannelError::first)?;
        let secret = settings.secret().map_err(plaza_core::ChannelError::setting)?;
        Ok(std::sync::Arc::new(MatrixChannel::connect(settings, &secret).await?))
    }
}
