//! Incidents: a crew or the town hall announces a known problem — "incidencia: corte de
//! agua en la calle Real hasta las 14:00", "incident: water off on Harbour Road until
//! 14:00" — in any room or in their chat with the bot. It becomes a public task (shown on
//! the board and in the public room). A resident's report of the same kind in the same
//! street (or district, or anywhere for an incident that names no place) is joined to it
//! and answered with the notice and the expected time instead of becoming a new task.
//! When it ends — the crew marks it done, or its announced time comes — everyone joined
//! is told.
//!
//! ```toml
//! [plugins.incidents]
//! hours = 24   # how long an incident with no end time stays open
//! ```
//!
//! Owns no state: an open incident is a task with this plugin's timer, whose key says the
//! area it covers.

use plaza_core::PluginArg;
use plaza_core::config::Config;
use plaza_core::dialogue::Draft;
use plaza_core::model::{Identity, Status, TaskId, Timestamp};
use plaza_core::plugin::{Hook, Plugin, PluginCtx};
use plaza_core::text::{find_street, words};

const HOUR_MS: i64 = 3_600_000;
const DEFAULT_HOURS: i64 = 24;
/// Words that start an announcement.
const START: &[&str] = &["incidencia", "incidente", "incident", "outage", "corte"];
/// Words before an end time: "hasta las 14:00", "until 2pm".
const UNTIL: &[&str] = &["hasta", "until", "till"];

/// What an incident covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Area {
    Street(String),
    District(String),
    Town,
}

impl Area {
    fn key(&self) -> String {
        match self {
            Area::Street(k) => format!("open:street:{k}"),
            Area::District(d) => format!("open:district:{d}"),
            Area::Town => "open:town".into(),
        }
    }
    fn parse(key: &str) -> Option<Area> {
        let rest = key.strip_prefix("open:")?;
        Some(match rest.split_once(':') {
            Some(("street", k)) => Area::Street(k.to_owned()),
            Some(("district", d)) => Area::District(d.to_owned()),
            _ if rest == "town" => Area::Town,
            _ => return None,
        })
    }
}

/// The text after the announcement word, if `text` is an announcement.
fn announcement(text: &str) -> Option<&str> {
    let t = text.trim();
    let first = t.split(|c: char| c.is_whitespace() || c == ':').next()?;
    if !START.contains(&plaza_core::text::fold(first).as_str()) {
        return None;
    }
    // "corte" starts one only when it is the whole first word of a longer text.
    let rest = t[first.len()..].trim_start_matches([':', ' ']).trim();
    if rest.is_empty() {
        return None;
    }
    Some(if plaza_core::text::fold(first) == "corte" { t } else { rest })
}

/// The hour and minute after "hasta (las)" / "until": "14:00", "14", "14h", "2pm".
fn until(text: &str) -> Option<(i8, i8)> {
    let ws = words(text);
    let i = ws.iter().position(|w| UNTIL.contains(&w.as_str()))?;
    let mut rest = ws[i + 1..].iter().filter(|w| !["las", "la", "the", "about"].contains(&w.as_str()));
    let first = rest.next()?;
    let (h, pm) = match first.strip_suffix("pm") {
        Some(h) => (h, true),
        None => (first.trim_end_matches(['h', 'a', 'm']), false),
    };
    let h: i8 = h.parse().ok()?;
    // `words` splits "14:00" into "14" and "00".
    let m: i8 = rest.next().and_then(|m| m.parse().ok()).filter(|m| (0..60).contains(m)).unwrap_or(0);
    let h = if pm && h < 12 { h + 12 } else { h };
    (0..24).contains(&h).then_some((h, m))
}

pub struct Incidents;

impl Incidents {
    fn hours(ctx: &PluginCtx<'_, '_>) -> i64 {
        ctx.settings().and_then(|t| t.get("hours")?.as_integer()).filter(|h| *h > 0).unwrap_or(DEFAULT_HOURS)
    }

    /// The area a text names: a street, else a district's name, else the whole town.
    fn area(cfg: &Config, text: &str) -> Area {
        if let Some((_, key)) = find_street(text) {
            return Area::Street(key);
        }
        let ws = words(text);
        for d in &cfg.districts {
            if d.name.values().any(|n| plaza_core::text::contains_phrase(&ws, &words(n))) {
                return Area::District(d.id.clone());
            }
        }
        Area::Town
    }

    /// The open incidents: (task, area, when it ends, whether that time was announced).
    fn open(ctx: &PluginCtx<'_, '_>) -> Vec<(TaskId, Area, Timestamp, bool)> {
        ctx.timers()
            .into_iter()
            .filter_map(|(t, k, due)| {
                let announced = !k.ends_with(":open-ended");
                Some((t?, Area::parse(k.trim_end_matches(":open-ended"))?, due, announced))
            })
            .filter(|(t, _, _, _)| ctx.task(*t).is_some_and(|x| x.status.is_active()))
            .collect()
    }

    fn ends_text(ctx: &PluginCtx<'_, '_>, at: Timestamp) -> String {
        let (_, h, m) = ctx.config().local_parts(at);
        format!("{h:02}:{m:02}")
    }
}

impl Plugin for Incidents {
    fn name(&self) -> &str {
        "incidents"
    }

    fn messages(&self) -> Vec<&'static str> {
        vec!["incident-opened", "incident-known", "incident-ended", "incident-which-category"]
    }

    fn check(&self, _cfg: &Config, settings: &toml::Table) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        match settings.get("hours") {
            None | Some(toml::Value::Integer(1..=8760)) => {}
            Some(_) => problems.push(("plugins.incidents.hours".into(), "must be 1 to 8760 hours".into())),
        }
        plaza_core::config::section::unknown_keys(settings, "plugins.incidents", &["hours", "enabled"], &mut problems);
        problems
    }

    fn on_text(&self, ctx: &mut PluginCtx<'_, '_>, sender: &Identity, text: &str) -> Hook {
        let Some(body) = announcement(text) else { return Hook::Continue };
        let cfg = ctx.config();
        let crews = cfg.crews_of(sender);
        let staff = !crews.is_empty() || cfg.is_dispatcher(sender) || !cfg.districts_of(sender).is_empty();
        if !staff {
            // A resident writing "corte de agua…" is reporting it: the usual way.
            return Hook::Continue;
        }
        // Its kind: what the words say, else the announcing crew's own category.
        let category = ctx.classify(body).or_else(|| {
            let cfg = ctx.config();
            cfg.categories.iter().find(|c| crews.contains(&c.crew.as_str())).map(|c| c.id.clone())
        });
        let Some(category) = category else {
            let cats: Vec<String> = ctx.config().categories.iter().map(|c| c.id.clone()).collect();
            ctx.reply(None, "incident-which-category", &[("categories", PluginArg::Text(cats.join(", ")))]);
            return Hook::Handled;
        };
        // The place is named before "until …" ("en la calle Real hasta las 14:00").
        let place_text = {
            let lower = body.to_lowercase();
            let cut = UNTIL.iter().filter_map(|u| lower.find(&format!(" {u} "))).min().unwrap_or(body.len());
            body.get(..cut).unwrap_or(body)
        };
        let street = ctx.street_of(place_text);
        let area = match &street {
            Some((_, key)) => Area::Street(key.clone()),
            None => Self::area(ctx.config(), place_text),
        };
        let now = ctx.now();
        let (ends, announced) = match until(body) {
            Some((h, m)) => (ctx.config().next_local(now, h, m), true),
            None => (now.plus_millis(Self::hours(ctx) * HOUR_MS), false),
        };
        let district = match &area {
            Area::District(d) => Some(d.clone()),
            _ => None,
        };
        let Some(id) = ctx.announce_task(sender, body, &category, street, district) else {
            let cats: Vec<String> = ctx.config().categories.iter().map(|c| c.id.clone()).collect();
            ctx.reply(None, "incident-which-category", &[("categories", PluginArg::Text(cats.join(", ")))]);
            return Hook::Handled;
        };
        tracing::info!(task = id.0, area = ?area, "an incident was announced");
        // The key says the area, and whether the end time was announced (else it is only
        // how long an open-ended incident stays, not a time to promise anyone).
        let key = format!("{}{}", area.key(), if announced { "" } else { ":open-ended" });
        ctx.set_timer(Some(id), &key, ends);
        let until = if announced { Self::ends_text(ctx, ends) } else { "none".into() };
        ctx.reply(
            Some(id),
            "incident-opened",
            &[("task", PluginArg::Text(id.0.to_string())), ("until", PluginArg::Text(until))],
        );
        Hook::Handled
    }

    fn before_classification(&self, ctx: &mut PluginCtx<'_, '_>, sender: &Identity, draft: &Draft) -> Hook {
        let open = Self::open(ctx);
        if open.is_empty() {
            return Hook::Continue;
        }
        let Some(category) = ctx.classify(&draft.text) else { return Hook::Continue };
        let street = draft.place.street_key.clone().or_else(|| ctx.street_of(&draft.text).map(|(_, k)| k));
        let district = ctx.config().district_of(&draft.place).map(|d| d.id.clone()).or_else(|| {
            let key = street.clone()?;
            let place = plaza_core::model::Place { street_key: Some(key), ..Default::default() };
            ctx.config().district_of(&place).map(|d| d.id.clone())
        });
        let hit = open.into_iter().find(|(t, area, _, _)| {
            ctx.task(*t).is_some_and(|x| x.category.as_deref() == Some(category.as_str()))
                && match area {
                    Area::Street(k) => street.as_deref() == Some(k.as_str()),
                    Area::District(d) => district.as_deref() == Some(d.as_str()),
                    Area::Town => true,
                }
        });
        let Some((id, _, ends, announced)) = hit else { return Hook::Continue };
        if !ctx.add_follower(id, sender, Some(&draft.text)) {
            return Hook::Continue;
        }
        let until = if announced { Self::ends_text(ctx, ends) } else { "none".into() };
        ctx.tell(
            sender,
            id,
            "incident-known",
            &[
                ("task", PluginArg::Text(id.0.to_string())),
                ("notice", PluginArg::TaskText(id)),
                ("until", PluginArg::Text(until)),
            ],
        );
        Hook::Handled
    }

    fn on_timer(&self, ctx: &mut PluginCtx<'_, '_>, task: Option<TaskId>, key: &str) {
        let (Some(id), Some(_)) = (task, Area::parse(key.trim_end_matches(":open-ended"))) else { return };
        if ctx.task(id).is_some_and(|t| t.status.is_active()) {
            ctx.resolve(
                id,
                "incident-ended",
                &[("task", PluginArg::Text(id.0.to_string())), ("notice", PluginArg::TaskText(id))],
            );
        }
    }

    fn on_status_change(&self, ctx: &mut PluginCtx<'_, '_>, id: TaskId, _from: Status, to: Status) {
        if !to.is_active() {
            ctx.cancel_timers(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_announcements_and_times() {
        assert_eq!(announcement("incidencia: corte de agua en la calle Real"), Some("corte de agua en la calle Real"));
        assert_eq!(announcement("Incident water off on Harbour Road"), Some("water off on Harbour Road"));
        assert_eq!(announcement("corte de agua en la calle Real"), Some("corte de agua en la calle Real"));
        assert_eq!(announcement("incidencia"), None);
        assert_eq!(announcement("la farola está apagada"), None);
        assert_eq!(until("corte de agua hasta las 14:00"), Some((14, 0)));
        assert_eq!(until("corte hasta las 9"), Some((9, 0)));
        assert_eq!(until("water off until 2pm"), Some((14, 0)));
        assert_eq!(until("water off until 14:30 today"), Some((14, 30)));
        assert_eq!(until("water off until further notice"), None);
        assert_eq!(until("sin hora"), None);
        for a in [Area::Street("calle real".into()), Area::District("puerto".into()), Area::Town] {
            assert_eq!(Area::parse(&a.key()), Some(a));
        }
    }
}
