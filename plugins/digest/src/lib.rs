//! The mayor's digest: each morning, in the triage room, what happened yesterday (the
//! town's calendar day, in `[town] timezone`): reports received, resolved and closed, the
//! open backlog now, per crew the median time to acknowledge and to resolve, the tasks
//! late by the `deadlines` plugin's hours, and the residents' ratings. Figures only: no
//! report's text, no resident.
//!
//! ```toml
//! [plugins.digest]
//! hour = 8        # local time it is posted
//! room = "triage" # where (a district's triage room, or the town's)
//! ```

use std::collections::BTreeMap;

use plaza_core::config::Config;
use plaza_core::model::{Status, TaskId, Timestamp};
use plaza_core::plugin::{Plugin, PluginCtx};
use plaza_core::{PluginArg, PluginTask};

const KEY: &str = "daily";
const HOUR_MS: i64 = 3_600_000;

/// The figures of one day, computed from its tasks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub reports: usize,
    pub resolved: usize,
    pub closed: usize,
    pub open: usize,
    pub late: usize,
    /// crew → (median ms to acknowledge, median ms to resolve), over what was
    /// acknowledged / resolved that day.
    pub crews: BTreeMap<String, (Option<i64>, Option<i64>)>,
    /// Ratings given to the tasks resolved that day: (count, mean).
    pub ratings: (usize, f64),
}

fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

/// The figures of [from, until) from the tasks created or ended in it and those open now.
pub fn figures(cfg: &Config, tasks: &[PluginTask], from: Timestamp, until: Timestamp, now: Timestamp) -> Figures {
    let within = |t: Option<Timestamp>| t.is_some_and(|t| t >= from && t < until);
    let mut f = Figures::default();
    let mut ack: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut res: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut ratings = Vec::new();
    for t in tasks {
        if within(Some(t.created_at)) {
            f.reports += 1;
        }
        let resolved_today = t.status == Status::Resolved && within(t.resolved_at);
        if resolved_today {
            f.resolved += 1;
            ratings.extend(t.rating.map(f64::from));
        }
        if matches!(t.status, Status::Closed(_)) && within(t.closed_at) && t.duplicate_of.is_none() {
            f.closed += 1;
        }
        if t.status.is_active() {
            f.open += 1;
            let hours = plaza_plugin_deadlines::resolve_hours(cfg, t.category.as_deref());
            if now.since(t.created_at) > hours * HOUR_MS {
                f.late += 1;
            }
        }
        let Some(crew) = &t.crew else { continue };
        if let Some(a) = t.acknowledged_at.filter(|a| within(Some(*a))) {
            ack.entry(crew.clone()).or_default().push(a.since(t.created_at));
        }
        if resolved_today && let Some(r) = t.resolved_at {
            res.entry(crew.clone()).or_default().push(r.since(t.created_at));
        }
    }
    for crew in ack.keys().chain(res.keys()) {
        let a = median(ack.get(crew).cloned().unwrap_or_default());
        let r = median(res.get(crew).cloned().unwrap_or_default());
        f.crews.insert(crew.clone(), (a, r));
    }
    if !ratings.is_empty() {
        f.ratings = (ratings.len(), ratings.iter().sum::<f64>() / ratings.len() as f64);
    }
    f
}

/// "2 h 05 min", "12 min", "—".
fn span(ms: Option<i64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) => {
            let min = ms / 60_000;
            if min < 60 { format!("{min} min") } else { format!("{} h {:02} min", min / 60, min % 60) }
        }
    }
}

pub struct Digest;

impl Digest {
    fn hour(cfg: &Config) -> i8 {
        cfg.plugins
            .get("digest")
            .and_then(|t| t.get("hour")?.as_integer())
            .and_then(|h| i8::try_from(h).ok())
            .filter(|h| (0..24).contains(h))
            .unwrap_or(8)
    }
    fn room(cfg: &Config) -> String {
        cfg.plugins.get("digest").and_then(|t| t.get("room")?.as_str()).unwrap_or("triage").to_owned()
    }
    fn next(ctx: &PluginCtx<'_, '_>, after: Timestamp) -> Timestamp {
        ctx.config().next_local(after, Self::hour(ctx.config()), 0)
    }
}

impl Plugin for Digest {
    fn name(&self) -> &str {
        "digest"
    }

    fn messages(&self) -> Vec<&'static str> {
        vec!["digest-header", "digest-crew", "digest-ratings", "digest-no-ratings"]
    }

    fn check(&self, cfg: &Config, settings: &toml::Table) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        match settings.get("hour") {
            None | Some(toml::Value::Integer(0..=23)) => {}
            Some(_) => problems.push(("plugins.digest.hour".into(), "must be an hour, 0 to 23".into())),
        }
        match settings.get("room") {
            Some(toml::Value::String(r)) if cfg.is_triage_room(r) => {}
            None => {}
            Some(_) => problems.push((
                "plugins.digest.room".into(),
                "must be a triage room: `triage` or a district's `triage`".into(),
            )),
        }
        plaza_core::config::section::unknown_keys(
            settings,
            "plugins.digest",
            &["hour", "room", "enabled"],
            &mut problems,
        );
        problems
    }

    fn on_start(&self, ctx: &mut PluginCtx<'_, '_>) {
        if !ctx.timers().iter().any(|(_, k, _)| k == KEY) {
            let at = Self::next(ctx, ctx.now());
            ctx.set_timer(None, KEY, at);
        }
    }

    fn period_for_timer(&self, cfg: &Config, key: &str, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        (key == KEY).then(|| (cfg.local_day_start(now, 1), cfg.local_day_start(now, 0)))
    }

    fn on_timer(&self, ctx: &mut PluginCtx<'_, '_>, _task: Option<TaskId>, key: &str) {
        if key != KEY {
            return;
        }
        let now = ctx.now();
        let cfg = ctx.config();
        let (from, until) = (cfg.local_day_start(now, 1), cfg.local_day_start(now, 0));
        let f = figures(cfg, ctx.period_tasks(), from, until, now);
        let (day, _, _) = cfg.local_parts(from);
        tracing::info!(day, reports = f.reports, resolved = f.resolved, open = f.open, "the morning digest");
        let room = Self::room(cfg);
        let crews: Vec<(String, String, String)> = f
            .crews
            .iter()
            .map(|(c, (a, r))| {
                let name = cfg.crew(c).map(|x| cfg.name_in(&x.name, &cfg.town.default_language).to_owned());
                (name.unwrap_or_else(|| c.clone()), span(*a), span(*r))
            })
            .collect();
        let mut lines = vec![ctx.text(
            "digest-header",
            &[
                ("day", PluginArg::Text(day)),
                ("reports", PluginArg::Num(f.reports as i64)),
                ("resolved", PluginArg::Num(f.resolved as i64)),
                ("closed", PluginArg::Num(f.closed as i64)),
                ("open", PluginArg::Num(f.open as i64)),
                ("late", PluginArg::Num(f.late as i64)),
            ],
        )];
        for (name, a, r) in crews {
            lines.push(ctx.text(
                "digest-crew",
                &[("crew", PluginArg::Text(name)), ("ack", PluginArg::Text(a)), ("resolve", PluginArg::Text(r))],
            ));
        }
        lines.push(match f.ratings {
            (0, _) => ctx.text("digest-no-ratings", &[]),
            (n, mean) => ctx.text(
                "digest-ratings",
                &[("count", PluginArg::Num(n as i64)), ("mean", PluginArg::Text(format!("{mean:.1}")))],
            ),
        });
        ctx.post(&room, lines.join("\n"));
        let next = Self::next(ctx, now.plus_millis(60_000));
        ctx.set_timer(None, KEY, next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plaza_core::model::{CloseReason, Visibility};

    fn task(id: i64, crew: &str, status: Status, created: i64) -> PluginTask {
        PluginTask {
            id: TaskId(id),
            category: Some("lighting".into()),
            crew: Some(crew.into()),
            status,
            visibility: Visibility::Public,
            words: vec![],
            street_key: None,
            point: None,
            created_at: Timestamp(created),
            acknowledged_at: None,
            resolved_at: None,
            closed_at: None,
            rating: None,
            duplicate_of: None,
            related: vec![],
        }
    }

    #[test]
    fn figures_of_a_day() {
        let cfg = Config::parse(&std::fs::read_to_string("../../config/jun.toml").expect("jun")).expect("config");
        let (from, until) = (Timestamp(0), Timestamp(24 * HOUR_MS));
        let mut a = task(1, "electricians", Status::Resolved, HOUR_MS);
        a.acknowledged_at = Some(Timestamp(HOUR_MS + 30 * 60_000));
        a.resolved_at = Some(Timestamp(3 * HOUR_MS));
        a.rating = Some(4);
        let mut b = task(2, "electricians", Status::Resolved, 2 * HOUR_MS);
        b.resolved_at = Some(Timestamp(6 * HOUR_MS));
        b.rating = Some(1);
        // Created the day before, resolved in the day: counted as resolved, not as a report.
        let mut c = task(3, "roads", Status::Resolved, -5 * HOUR_MS);
        c.resolved_at = Some(Timestamp(HOUR_MS));
        // A duplicate closed at once is not "closed" work; spam is.
        let mut d = task(4, "roads", Status::Closed(CloseReason::Duplicate), 4 * HOUR_MS);
        d.closed_at = Some(Timestamp(4 * HOUR_MS));
        d.duplicate_of = Some(TaskId(2));
        let mut e = task(5, "roads", Status::Closed(CloseReason::Spam), 5 * HOUR_MS);
        e.closed_at = Some(Timestamp(5 * HOUR_MS));
        // Open for 3 days: late by Jun's 48 h for lighting; one opened today is not.
        let f = task(6, "electricians", Status::Open, -48 * HOUR_MS);
        let g = task(7, "electricians", Status::Open, 20 * HOUR_MS);
        let now = Timestamp(25 * HOUR_MS);
        let fig = figures(&cfg, &[a, b, c, d, e, f, g], from, until, now);
        assert_eq!((fig.reports, fig.resolved, fig.closed, fig.open, fig.late), (5, 3, 1, 2, 1));
        // Medians: acknowledged 30 min; resolved 2 h and 4 h → the upper middle, 4 h.
        assert_eq!(fig.crews["electricians"], (Some(30 * 60_000), Some(4 * HOUR_MS)));
        assert_eq!(fig.crews["roads"], (None, Some(6 * HOUR_MS)));
        assert_eq!(fig.ratings, (2, 2.5));
    }
}
