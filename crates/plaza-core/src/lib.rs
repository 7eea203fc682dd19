//! Plaza's core: the domain model, the routing engine, and the traits every messenger
//! adapter (`Channel`), persistence backend (`Store`) and workflow (`Plugin`) implements.
//! It does no network and no SQL: adapters and stores live in their own crates.

pub mod channel;
pub mod classify;
pub mod clock;
pub mod command;
pub mod config;
pub mod dialogue;
pub mod dispatch;
pub mod engine;
pub mod i18n;
pub mod model;
pub mod ops;
pub mod personal;
pub mod plugin;
pub mod store;
pub mod text;

pub use channel::{
    Button, Capabilities, Channel, ChannelError, ChannelKind, Chat, Delivered, Destination, Inbound, InboundKind,
    Inbox, Limits, Outbound, Outgoing, PostKind,
};
pub use clock::{Clock, ManualClock, ShiftedClock, SystemClock};
pub use config::{Config, ConfigError, ConfigErrors};
pub use dispatch::{Dispatcher, Runtime};
pub use engine::{
    Engine, EngineError, Outcome, OwnTask, PluginArg, PluginCtx, PluginTask, PublicEvent, PublicTask, Viewer,
};
pub use i18n::Locales;
pub use model::*;
pub use plugin::{Hook, Plugin};
pub use store::{Store, StoreError};
