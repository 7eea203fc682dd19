//! Deadlines: per category, how long a task may wait to be acknowledged (someone in the
//! crew saw it or took it) and to be resolved. A task past its time reminds its crew once,
//! in the card's thread; if it is still late half that time again later, it goes to the
//! town hall's triage room (its district's, where the district has one). Its reporter (and followers) are told honestly that it is
//! late. Works in the engine's time through timers, so restarts and the console's `~ 3h`
//! keep it right.
//!
//! ```toml
//! [plugins.deadlines]
//! acknowledge_hours = 24        # any category not listed below
//! resolve_hours = 168
//! [plugins.deadlines.category.lighting]
//! acknowledge_hours = 4
//! resolve_hours = 48
//! ```
//!
//! Owns no state: each timer's key says which deadline it is and since when it counts.

use plaza_core::config::Config;
use plaza_core::config::section::unknown_keys;
use plaza_core::model::{Status, TaskId, Timestamp};
use plaza_core::plugin::{Plugin, PluginCtx};
use plaza_core::{PluginArg, PluginTask};

const HOUR_MS: i64 = 3_600_000;
/// Used when the config says nothing.
const DEFAULT_ACK_HOURS: i64 = 24;
const DEFAULT_RESOLVE_HOURS: i64 = 7 * 24;

/// Which deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Acknowledge,
    Resolve,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Acknowledge => "ack",
            Stage::Resolve => "resolve",
        }
    }
    fn setting(self) -> &'static str {
        match self {
            Stage::Acknowledge => "acknowledge_hours",
            Stage::Resolve => "resolve_hours",
        }
    }
    /// Still waiting for this stage?
    fn pending(self, s: Status) -> bool {
        match self {
            Stage::Acknowledge => s == Status::Open,
            Stage::Resolve => s.is_active(),
        }
    }
}

/// A timer key: `STAGE:STEP:SINCE` (STEP `remind` or `escalate`; SINCE, in ms, when the
/// time started counting: the report, or its reopening).
fn key(stage: Stage, escalate: bool, since: Timestamp) -> String {
    format!("{}:{}:{}", stage.name(), if escalate { "escalate" } else { "remind" }, since.0)
}

fn parse_key(k: &str) -> Option<(Stage, bool, Timestamp)> {
    let mut it = k.split(':');
    let stage = match it.next()? {
        "ack" => Stage::Acknowledge,
        "resolve" => Stage::Resolve,
        _ => return None,
    };
    let escalate = match it.next()? {
        "remind" => false,
        "escalate" => true,
        _ => return None,
    };
    Some((stage, escalate, Timestamp(it.next()?.parse().ok()?)))
}

pub struct Deadlines;

/// The hours a task of `category` has to be resolved, by the town's `[plugins.deadlines]`
/// settings (what the digest counts as late).
pub fn resolve_hours(cfg: &Config, category: Option<&str>) -> i64 {
    Deadlines::hours(cfg.plugins.get("deadlines"), category, Stage::Resolve)
}

impl Deadlines {
    /// The hours of `stage` for `category` (its own, else the plugin's, else the default).
    fn hours(settings: Option<&toml::Table>, category: Option<&str>, stage: Stage) -> i64 {
        let own = category
            .and_then(|c| settings?.get("category")?.get(c)?.get(stage.setting())?.as_integer())
            .filter(|h| *h > 0);
        let general = settings.and_then(|s| s.get(stage.setting())?.as_integer()).filter(|h| *h > 0);
        own.or(general).unwrap_or(match stage {
            Stage::Acknowledge => DEFAULT_ACK_HOURS,
            Stage::Resolve => DEFAULT_RESOLVE_HOURS,
        })
    }

    /// The soonest any category's deadline of `stage` can be: a task's category may still
    /// change (a dispatcher assigns it), so the timer looks then and waits on if needed.
    fn soonest(settings: Option<&toml::Table>, cfg: &Config, stage: Stage) -> i64 {
        let mut h = Self::hours(settings, None, stage);
        for c in &cfg.categories {
            h = h.min(Self::hours(settings, Some(&c.id), stage));
        }
        h
    }

    fn arm(ctx: &mut PluginCtx<'_, '_>, id: TaskId, stage: Stage, since: Timestamp) {
        let h = Self::soonest(ctx.settings(), ctx.config(), stage);
        ctx.set_timer(Some(id), &key(stage, false, since), since.plus_millis(h * HOUR_MS));
    }

    fn args(task: &PluginTask, hours: i64, late: i64) -> Vec<(&'static str, PluginArg)> {
        vec![
            ("task", PluginArg::Text(task.id.0.to_string())),
            ("category", PluginArg::TaskCategory(task.id)),
            ("hours", PluginArg::Num(hours)),
            ("waited", PluginArg::Num(late)),
        ]
    }
}

impl Plugin for Deadlines {
    fn name(&self) -> &str {
        "deadlines"
    }

    fn messages(&self) -> Vec<&'static str> {
        vec![
            "deadline-remind-ack",
            "deadline-remind-resolve",
            "deadline-escalate-ack",
            "deadline-escalate-resolve",
            "deadline-late-ack",
            "deadline-late-resolve",
            "deadline-escalated",
        ]
    }

    fn check(&self, cfg: &Config, settings: &toml::Table) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let hours = |problems: &mut Vec<(String, String)>, at: &str, t: &toml::Table| {
            for (k, v) in t {
                match (k.as_str(), v) {
                    ("acknowledge_hours" | "resolve_hours", toml::Value::Integer(n)) if *n > 0 && *n <= 24 * 365 => {}
                    ("acknowledge_hours" | "resolve_hours", _) => {
                        problems.push((format!("{at}.{k}"), "must be a whole number of hours, 1 to 8760".into()))
                    }
                    _ => {}
                }
            }
        };
        let at = "plugins.deadlines";
        hours(&mut problems, at, settings);
        unknown_keys(settings, at, &["acknowledge_hours", "resolve_hours", "category", "enabled"], &mut problems);
        match settings.get("category") {
            None => {}
            Some(toml::Value::Table(cats)) => {
                for (c, t) in cats {
                    let at = format!("{at}.category.{c}");
                    if cfg.category(c).is_none() {
                        let known: Vec<&str> = cfg.categories.iter().map(|c| c.id.as_str()).collect();
                        problems
                            .push((at.clone(), format!("unknown category `{c}` (categories: {})", known.join(", "))));
                    }
                    match t {
                        toml::Value::Table(t) => {
                            hours(&mut problems, &at, t);
                            unknown_keys(t, &at, &["acknowledge_hours", "resolve_hours"], &mut problems);
                        }
                        _ => problems.push((at, "must be a table of acknowledge_hours and resolve_hours".into())),
                    }
                }
            }
            Some(_) => problems.push((format!("{at}.category"), "must be a table per category".into())),
        }
        problems
    }

    fn on_task_created(&self, ctx: &mut PluginCtx<'_, '_>, id: TaskId) {
        let Some(t) = ctx.task(id) else { return };
        if !t.status.is_active() {
            return;
        }
        Self::arm(ctx, id, Stage::Acknowledge, t.created_at);
        Self::arm(ctx, id, Stage::Resolve, t.created_at);
    }

    fn on_status_change(&self, ctx: &mut PluginCtx<'_, '_>, id: TaskId, from: Status, to: Status) {
        if !to.is_active() {
            // Done or closed: nothing is late any more.
            ctx.cancel_timers(id);
        } else if !from.is_active() {
            // Reopened: the time to resolve counts again from now.
            ctx.cancel_timers(id);
            let now = ctx.now();
            Self::arm(ctx, id, Stage::Resolve, now);
        }
    }

    fn on_timer(&self, ctx: &mut PluginCtx<'_, '_>, task: Option<TaskId>, key: &str) {
        let (Some(id), Some((stage, escalate, since))) = (task, parse_key(key)) else { return };
        let Some(t) = ctx.task(id) else { return };
        if !stage.pending(t.status) {
            return;
        }
        let hours = Self::hours(ctx.settings(), t.category.as_deref(), stage);
        let deadline = since.plus_millis(hours * HOUR_MS);
        let now = ctx.now();
        if now < deadline && !escalate {
            // Its category gives it longer than the soonest: wait for its own deadline.
            ctx.set_timer(Some(id), key, deadline);
            return;
        }
        // To the nearest hour: "has waited 2 h" at 1 h 59 min 59 s.
        let waited = (now.0 - since.0 + HOUR_MS / 2) / HOUR_MS;
        let args = Self::args(&t, hours, waited);
        let s = stage.name();
        if !escalate {
            tracing::info!(task = id.0, stage = s, "a task is late; its crew is reminded");
            // A task still in triage has no crew: the town hall is the one to remind.
            let room = t.crew.clone().unwrap_or_else(|| ctx.triage_room(id));
            ctx.post_in_thread(&room, id, &format!("deadline-remind-{s}"), &args);
            ctx.tell_audience(id, &format!("deadline-late-{s}"), &args);
            // Half its time again, and it goes to the town hall.
            let grace = (hours * HOUR_MS / 2).max(HOUR_MS);
            ctx.set_timer(Some(id), &self::key(stage, true, since), now.plus_millis(grace));
        } else {
            tracing::info!(task = id.0, stage = s, "a task is still late; the town hall is told");
            let room = ctx.triage_room(id);
            ctx.post_in_thread(&room, id, &format!("deadline-escalate-{s}"), &args);
            ctx.tell_audience(id, "deadline-escalated", &args);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for (s, e) in [(Stage::Acknowledge, false), (Stage::Resolve, true)] {
            assert_eq!(parse_key(&key(s, e, Timestamp(1_790_000_000_000))), Some((s, e, Timestamp(1_790_000_000_000))));
        }
        assert_eq!(parse_key("ack:later:1"), None);
        assert_eq!(parse_key("other"), None);
    }

    #[test]
    fn hours_per_category_then_general_then_default() {
        let t: toml::Table =
            toml::from_str("acknowledge_hours = 12\n[category.lighting]\nacknowledge_hours = 4\n").expect("toml");
        assert_eq!(Deadlines::hours(Some(&t), Some("lighting"), Stage::Acknowledge), 4);
        assert_eq!(Deadlines::hours(Some(&t), Some("water"), Stage::Acknowledge), 12);
        assert_eq!(Deadlines::hours(Some(&t), Some("lighting"), Stage::Resolve), DEFAULT_RESOLVE_HOURS);
        assert_eq!(Deadlines::hours(None, None, Stage::Acknowledge), DEFAULT_ACK_HOURS);
    }
}
