//! What a Plaza binary knows: its messengers (by the config section that names them) and
//! its plugins (by `[plugins.NAME]`). Adding either is one line here or in a town's own
//! `main`, never an edit of plaza-core.

use std::sync::Arc;

use plaza_core::{ChannelKind, Plugin};

/// The messengers and plugins a binary offers a town's config.
#[derive(Clone, Default)]
pub struct Registry {
    pub(crate) channels: Vec<Arc<dyn ChannelKind>>,
    pub(crate) plugins: Vec<Arc<dyn Plugin>>,
}

/// Channels that are part of every Plaza and have no section of their own: the console,
/// the web chat, Open311 clients.
pub(crate) const BUILT_IN: &[&str] = &["console", plaza_web::chat::CHANNEL, plaza_web::OPEN311_CHANNEL];

impl Registry {
    /// Nothing: for a binary that picks every part itself.
    pub fn empty() -> Registry {
        Registry::default()
    }

    /// What the `plaza` binary ships: Telegram, Matrix and e-mail; lost and found, deadlines,
    /// incidents, the digest, announcements.
    pub fn standard() -> Registry {
        Registry::empty()
            .channel(plaza_telegram::Kind)
            .channel(plaza_matrix::Kind)
            .channel(plaza_email::Kind)
            .plugin(plaza_plugin_lost_and_found::LostAndFound)
            .plugin(plaza_plugin_deadlines::Deadlines)
            .plugin(plaza_plugin_incidents::Incidents)
            .plugin(plaza_plugin_digest::Digest)
            .plugin(plaza_plugin_announcements::Announcements)
    }

    /// Adds a messenger: a config with its section (`[NAME]`) runs it.
    pub fn channel(mut self, kind: impl ChannelKind) -> Registry {
        self.channels.retain(|k| k.name() != kind.name());
        self.channels.push(Arc::new(kind));
        self
    }

    /// Adds a plugin: a config with `[plugins.NAME]` enables it.
    pub fn plugin(mut self, plugin: impl Plugin + 'static) -> Registry {
        self.plugins.retain(|p| p.name() != plugin.name());
        self.plugins.push(Arc::new(plugin));
        self
    }

    pub(crate) fn kind(&self, name: &str) -> Option<&Arc<dyn ChannelKind>> {
        self.channels.iter().find(|k| k.name() == name)
    }

    /// The messengers' names, for messages (`telegram, matrix`).
    pub(crate) fn channel_names(&self) -> String {
        self.channels.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
    }
}
