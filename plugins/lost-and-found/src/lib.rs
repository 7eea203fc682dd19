//! Lost and found animals: when a report of a lost animal and a report of a found one
//! match (same species, a shared colour, the same area), the two tasks are linked and
//! both people are told. Owns no state: everything it needs is in the tasks.

use plaza_core::config::Config;
use plaza_core::model::{TaskId, Timestamp, Visibility};
use plaza_core::plugin::{Plugin, PluginCtx};
use plaza_core::text::{stem, words as folded_words};
use plaza_core::{PluginArg, PluginTask};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lost,
    Found,
}

/// What a report says about an animal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub kind: Kind,
    pub species: &'static str,
    pub colours: Vec<&'static str>,
}

const LOST: &[&str] = &[
    "perdido",
    "perdida",
    "perdi",
    "perdimos",
    "escapado",
    "escapada",
    "escapo",
    "desaparecido",
    "desaparecida",
    "busco",
    "buscamos",
    "lost",
    "missing",
    "escaped",
    "ran",
];
const FOUND: &[&str] = &[
    "encontrado",
    "encontrada",
    "encontre",
    "encontramos",
    "visto",
    "vista",
    "suelto",
    "suelta",
    "abandonado",
    "abandonada",
    "found",
    "stray",
    "wandering",
    "loose",
    "seen",
];
const SPECIES: &[(&str, &[&str])] = &[
    ("dog", &["perro", "perra", "perrito", "perrita", "cachorro", "dog", "puppy"]),
    ("cat", &["gato", "gata", "gatito", "gatita", "cat", "kitten"]),
    ("bird", &["loro", "pajaro", "periquito", "canario", "parrot", "bird", "budgie"]),
    ("rabbit", &["conejo", "rabbit", "bunny"]),
    ("horse", &["caballo", "yegua", "burro", "horse", "donkey", "mare"]),
    ("tortoise", &["tortuga", "tortoise", "turtle"]),
];
const COLOURS: &[(&str, &[&str])] = &[
    ("black", &["negro", "negra", "black"]),
    ("white", &["blanco", "blanca", "white"]),
    ("brown", &["marron", "pardo", "parda", "chocolate", "brown"]),
    ("grey", &["gris", "grey", "gray"]),
    ("ginger", &["naranja", "pelirrojo", "rubio", "rubia", "canela", "ginger", "orange"]),
    ("golden", &["dorado", "dorada", "golden"]),
    ("tabby", &["atigrado", "atigrada", "tabby"]),
    ("spotted", &["manchas", "manchado", "manchada", "spotted", "patches"]),
];

/// Reads a report's text: lost or found, which species, which colours.
pub fn read(text: &str) -> Option<Sighting> {
    read_words(&folded_words(text))
}

/// The same, from the report's folded words (all a plugin sees of a report).
pub fn read_words(ws: &[String]) -> Option<Sighting> {
    let has = |list: &[&str]| ws.iter().any(|w| list.contains(&w.as_str()) || list.contains(&stem(w)));
    let kind = match (has(LOST), has(FOUND)) {
        (true, false) => Kind::Lost,
        (false, true) => Kind::Found,
        _ => return None,
    };
    let species = SPECIES.iter().find(|(_, words)| has(words))?.0;
    let colours = COLOURS.iter().filter(|(_, words)| has(words)).map(|(c, _)| *c).collect();
    Some(Sighting { kind, species, colours })
}

pub struct LostAndFound;

impl LostAndFound {
    fn setting_i64(ctx: &PluginCtx<'_, '_>, key: &str, default: i64) -> i64 {
        ctx.settings().and_then(|t| t.get(key)).and_then(|v| v.as_integer()).unwrap_or(default)
    }
    fn category(ctx: &PluginCtx<'_, '_>) -> String {
        ctx.settings().and_then(|t| t.get("category")).and_then(|v| v.as_str()).unwrap_or("animals").to_owned()
    }
}

fn same_area(a: &PluginTask, b: &PluginTask, radius_m: f64) -> bool {
    if let (Some(x), Some(y)) = (&a.street_key, &b.street_key)
        && x == y
    {
        return true;
    }
    matches!((&a.point, &b.point), (Some(p), Some(q)) if p.distance_m(q) <= radius_m)
}

fn matches(a: &Sighting, b: &Sighting) -> bool {
    a.kind != b.kind
        && a.species == b.species
        && (a.colours.is_empty() && b.colours.is_empty() || a.colours.iter().any(|c| b.colours.contains(c)))
}

impl Plugin for LostAndFound {
    fn name(&self) -> &str {
        "lost-and-found"
    }

    fn messages(&self) -> Vec<&'static str> {
        vec!["lostfound-match", "lostfound-kind-lost", "lostfound-kind-found", "lostfound-crew"]
    }

    fn check(&self, cfg: &Config, settings: &toml::Table) -> Vec<(String, String)> {
        let key = format!("plugins.{}.category", self.name());
        let mut problems = Vec::new();
        let category = match settings.get("category") {
            None => "animals",
            Some(toml::Value::String(s)) => s.as_str(),
            Some(_) => return vec![(key, "must be a category id (text)".into())],
        };
        match cfg.category(category) {
            None => problems.push((key, format!("unknown category `{category}`"))),
            // Matching quotes one resident's report to another: never for a private category.
            Some(c) if c.visibility == Visibility::Private => problems.push((
                key,
                format!(
                    "`{category}` is a private category: lost-and-found would show one resident's report to another"
                ),
            )),
            Some(_) => {}
        }
        for k in ["window_days", "radius_m"] {
            match settings.get(k) {
                None => {}
                Some(toml::Value::Integer(n)) if *n > 0 => {}
                Some(_) => {
                    problems.push((format!("plugins.{}.{k}", self.name()), "must be a whole number above 0".into()))
                }
            }
        }
        for k in settings.keys() {
            if !["category", "window_days", "radius_m", "enabled"].contains(&k.as_str()) {
                problems.push((
                    format!("plugins.{}.{k}", self.name()),
                    "unknown key (known: category, window_days, radius_m, enabled)".into(),
                ));
            }
        }
        problems
    }

    fn on_task_created(&self, ctx: &mut PluginCtx<'_, '_>, id: TaskId) {
        let category = Self::category(ctx);
        let Some(task) = ctx.task(id) else { return };
        if task.category.as_deref() != Some(category.as_str()) {
            return;
        }
        let Some(mine) = read_words(&task.words) else { return };
        let window_days = Self::setting_i64(ctx, "window_days", 14);
        let radius = Self::setting_i64(ctx, "radius_m", 1500) as f64;
        let since = Timestamp(task.created_at.0 - window_days * 86_400_000);
        let other = ctx
            .active_tasks(&category)
            .into_iter()
            .filter(|t| t.id != id && t.created_at >= since && !t.related.contains(&id))
            .filter(|t| same_area(t, &task, radius))
            .find(|t| read_words(&t.words).is_some_and(|s| matches(&s, &mine)));
        let Some(other) = other else { return };
        tracing::info!(task = id.0, other = other.id.0, "lost-and-found match");
        ctx.link_related(id, other.id);
        let kind_of = |k: Kind| if k == Kind::Lost { "lostfound-kind-lost" } else { "lostfound-kind-found" };
        let other_kind = if mine.kind == Kind::Lost { Kind::Found } else { Kind::Lost };
        // Each side hears of the other report, its text as they may read it (the engine
        // renders it: masked personal data, nothing of a private report).
        for (to, from, kind) in [(&task, &other, other_kind), (&other, &task, mine.kind)] {
            ctx.tell_audience(
                to.id,
                "lostfound-match",
                &[
                    ("task", PluginArg::Text(to.id.0.to_string())),
                    ("other", PluginArg::Text(from.id.0.to_string())),
                    ("kind", PluginArg::Message(kind_of(kind))),
                    ("description", PluginArg::TaskText(from.id)),
                ],
            );
        }
        if let Some(crew) = ctx.config().category(&category).map(|c| c.crew.clone()) {
            ctx.post_in_thread(
                &crew,
                id,
                "lostfound-crew",
                &[("task", PluginArg::Text(id.0.to_string())), ("other", PluginArg::Text(other.id.0.to_string()))],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_reports() {
        let s = read("Se ha perdido mi perra, es negra con manchas blancas").unwrap();
        assert_eq!(s.kind, Kind::Lost);
        assert_eq!(s.species, "dog");
        assert_eq!(s.colours, vec!["black", "white", "spotted"]);
        let f = read("He encontrado un perro negro suelto").unwrap();
        assert_eq!(f.kind, Kind::Found);
        assert!(matches(&s, &f));
        let c = read("Found a black cat").unwrap();
        assert!(!matches(&s, &c));
        assert_eq!(read("un perro ladra toda la noche"), None);
    }
}
