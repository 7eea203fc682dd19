//! Announcements: a dispatcher writes `anuncio: TEXT` / `notice: TEXT` (in a triage room
//! or their chat with the bot) and it is posted in the public room — for the whole town
//! from the town's dispatchers, for their district from a district's. Residents who asked
//! ("avisos", "notices", or "avisos Puerto" for a district) get the notices in their chat
//! too; "no más avisos" / "stop notices" ends it. The plugin never learns who asked: the
//! engine keeps the list and sends.
//!
//! ```toml
//! [plugins.announcements]
//! ```

use plaza_core::PluginArg;
use plaza_core::config::Config;
use plaza_core::model::Identity;
use plaza_core::plugin::{Hook, Plugin, PluginCtx};
use plaza_core::text::{contains_phrase, fold, words};

/// Words that start a notice from staff.
const NOTICE: &[&str] = &["anuncio", "aviso general", "notice", "announcement"];
/// What a resident writes to get notices, and to stop them.
const SUBSCRIBE: &[&str] = &["avisos", "quiero avisos", "suscribir", "suscribirme", "notices", "subscribe"];
const UNSUBSCRIBE: &[&str] = &["no mas avisos", "sin avisos", "darme de baja", "stop notices", "unsubscribe"];

/// The text after a starting phrase, if `text` starts with one of `phrases`.
fn after<'t>(text: &'t str, phrases: &[&str]) -> Option<&'t str> {
    let t = text.trim();
    let f = fold(t);
    phrases.iter().find_map(|p| {
        let rest = f.strip_prefix(p)?;
        if !(rest.is_empty() || rest.starts_with([' ', ':', ','])) {
            return None;
        }
        // The same cut in the original text (folding keeps the length of ASCII starts;
        // count characters to be safe).
        let n = p.chars().count();
        let cut = t.char_indices().nth(n).map_or(t.len(), |(i, _)| i);
        Some(t[cut..].trim_start_matches([':', ',', ' ']).trim())
    })
}

pub struct Announcements;

impl Announcements {
    /// The district a text names (by one of its names).
    fn district_named(cfg: &Config, text: &str) -> Option<String> {
        let ws = words(text);
        cfg.districts
            .iter()
            .find(|d| d.name.values().any(|n| contains_phrase(&ws, &words(n))) || ws.contains(&fold(&d.id)))
            .map(|d| d.id.clone())
    }
    fn district_name(cfg: &Config, id: Option<&str>, lang: &str) -> Option<String> {
        id.and_then(|d| cfg.district(d)).map(|d| cfg.name_in(&d.name, lang).to_owned())
    }
}

impl Plugin for Announcements {
    fn name(&self) -> &str {
        "announcements"
    }

    fn messages(&self) -> Vec<&'static str> {
        vec![
            "notice-public",
            "notice-public-district",
            "notice-posted",
            "notice-subscribed",
            "notice-subscribed-district",
            "notice-unsubscribed",
        ]
    }

    fn check(&self, _cfg: &Config, settings: &toml::Table) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        plaza_core::config::section::unknown_keys(settings, "plugins.announcements", &["enabled"], &mut problems);
        problems
    }

    fn on_text(&self, ctx: &mut PluginCtx<'_, '_>, sender: &Identity, text: &str) -> Hook {
        let cfg = ctx.config();
        let town_dispatcher = cfg.is_dispatcher(sender);
        let own: Vec<String> = cfg.districts_of(sender).iter().map(|d| d.id.clone()).collect();
        if let Some(body) = after(text, NOTICE).filter(|b| !b.is_empty()) {
            if !town_dispatcher && own.is_empty() {
                // A resident's "aviso general…" is a report like any other.
                return Hook::Continue;
            }
            // A district's dispatcher speaks for their district; the town's for the town,
            // or for a district they name.
            let district = if town_dispatcher { Self::district_named(cfg, body) } else { own.first().cloned() };
            let lang = cfg.rooms.language.clone().unwrap_or_else(|| cfg.town.default_language.clone());
            let name = Self::district_name(cfg, district.as_deref(), &lang);
            let args: Vec<(&str, PluginArg)> = vec![
                ("text", PluginArg::Text(body.to_owned())),
                ("district", PluginArg::Text(name.clone().unwrap_or_default())),
            ];
            let public = if name.is_some() { "notice-public-district" } else { "notice-public" };
            let line = ctx.text(public, &args);
            ctx.post("public", line);
            let told = ctx.notify_subscribers(district.as_deref(), public, &args);
            tracing::info!(district = ?district, told, "a notice was posted");
            ctx.reply(None, "notice-posted", &[("count", PluginArg::Num(told as i64))]);
            return Hook::Handled;
        }
        let f = fold(text.trim());
        if UNSUBSCRIBE.iter().any(|u| f.trim_end_matches(['.', '!']) == *u) {
            let n = ctx.unsubscribe_all(sender);
            ctx.reply(None, "notice-unsubscribed", &[("count", PluginArg::Num(n as i64))]);
            return Hook::Handled;
        }
        if let Some(rest) = after(text, SUBSCRIBE) {
            // Only a short request: "avisos", "avisos del Puerto" — not a report that
            // starts with the word.
            if words(rest).len() > 4 {
                return Hook::Continue;
            }
            let district = Self::district_named(ctx.config(), rest);
            ctx.subscribe(sender, district.as_deref(), true);
            let lang = ctx.config().town.default_language.clone();
            match Self::district_name(ctx.config(), district.as_deref(), &lang) {
                Some(name) => ctx.reply(None, "notice-subscribed-district", &[("district", PluginArg::Text(name))]),
                None => ctx.reply(None, "notice-subscribed", &[]),
            }
            return Hook::Handled;
        }
        Hook::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_phrases() {
        assert_eq!(after("Anuncio: mañana no hay mercado", NOTICE), Some("mañana no hay mercado"));
        assert_eq!(after("notice the market is closed", NOTICE), Some("the market is closed"));
        assert_eq!(after("anunciaron algo", NOTICE), None);
        assert_eq!(after("avisos", SUBSCRIBE), Some(""));
        assert_eq!(after("avisos del Puerto", SUBSCRIBE), Some("del Puerto"));
    }
}
