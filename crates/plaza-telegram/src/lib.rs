//! Plaza's Telegram channel, on teloxide: residents in private chats with the bot, crews
//! in their groups, neighbours in the public group. Maps Telegram updates to `Inbound`s
//! and `Outgoing` messages to Bot API calls; knows nothing of routing or storage.

mod channel;
pub mod settings;

pub use channel::TelegramChannel;
pub use settings::TelegramSettings;

/// The channel's name, and the prefix of Telegram identities (`telegram:12345`).
pub const NAME: &str = "telegram";
