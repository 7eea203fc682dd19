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
