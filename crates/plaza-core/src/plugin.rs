//! Workflow plugins: code a town enables by name in its config (`[plugins.NAME]`).
//!
//! Hooks run inside the engine's critical section, on its in-memory state: they must not
//! block or do I/O. What they want done (link tasks, tell people) they ask of the
//! [`PluginCtx`], and it is written in the same transaction as the message that caused it.

use crate::config::Config;
use crate::dialogue::Draft;
use crate::model::{Identity, Status, TaskId, Timestamp};

pub use crate::engine::PluginCtx;

/// What a hook decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// Carry on as usual.
    Continue,
    /// The plugin answered; the engine does nothing more with this message.
    Handled,
    /// Use this category, skipping the classifier.
    Category(String),
}

pub trait Plugin: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// Locale message ids the plugin uses; `plaza check` makes sure every locale has them.
    fn messages(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Checks the plugin's own table (`[plugins.NAME]`) against the town's config:
    /// each problem is (key, message), e.g. ("plugins.NAME.category", "unknown category").
    fn check(&self, _cfg: &Config, _settings: &toml::Table) -> Vec<(String, String)> {
        Vec::new()
    }
    /// A resident's report, before the classifier sees it.
    fn before_classification(&self, _ctx: &mut PluginCtx<'_, '_>, _sender: &Identity, _draft: &Draft) -> Hook {
        Hook::Continue
    }
    /// A text the engine did not recognise as a command, from anyone, anywhere; return
    /// `Handled` for a command of the plugin's own.
    fn on_text(&self, _ctx: &mut PluginCtx<'_, '_>, _sender: &Identity, _text: &str) -> Hook {
        Hook::Continue
    }
    fn on_task_created(&self, _ctx: &mut PluginCtx<'_, '_>, _task: TaskId) {}
    fn on_status_change(&self, _ctx: &mut PluginCtx<'_, '_>, _task: TaskId, _from: Status, _to: Status) {}
    /// A timer the plugin set ([`PluginCtx::set_timer`]) is due: `task` and `key` as
    /// given then. Timers are kept across restarts and follow the engine's clock.
    fn on_timer(&self, _ctx: &mut PluginCtx<'_, '_>, _task: Option<TaskId>, _key: &str) {}
    /// Once, when the leading process starts running timers: set the first of a
    /// recurring timer here (if it is not set already: [`PluginCtx::timers`]).
    fn on_start(&self, _ctx: &mut PluginCtx<'_, '_>) {}
    /// For a due timer of this plugin's: a period (from, until) whose tasks `on_timer`
    /// needs ([`PluginCtx::period_tasks`]), read from the store first. None: none.
    fn period_for_timer(&self, _cfg: &Config, _key: &str, _now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        None
    }
}
