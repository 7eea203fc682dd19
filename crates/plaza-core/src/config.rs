//! A town's configuration (`config/jun.toml`): categories, crews, rooms, roles, languages.
//!
//! Loading never stops at the first problem: [`Config::parse`] returns every error it
//! finds, each with the key (`category[3].crew`) and the line it is on, so that a town
//! official can fix a file in one pass (`plaza check`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::model::{Identity, Visibility};

/// Text in several languages: `{ es = "Alumbrado", en = "Street lighting" }`.
pub type Localized = BTreeMap<String, String>;

/// The top-level sections the core reads; every other table (`[telegram]`, `[matrix]`,
/// `[irc]`…) is a messenger's, kept whole in [`Config::channels`] for its adapter.
const CORE_SECTIONS: &[&str] = &[
    "town", "engine", "rooms", "crew", "category", "roles", "privacy", "places", "district", "language", "answer",
    "plugins", "store", "web",
];

// No `deny_unknown_fields` here: a top-level table the core does not know is a channel's
// section (see `channels`); other unknown keys are reported by `parse`.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub town: Town,
    #[serde(default)]
    pub engine: EngineSettings,
    #[serde(default)]
    pub rooms: Rooms,
    #[serde(default, rename = "crew")]
    pub crews: Vec<Crew>,
    #[serde(default, rename = "category")]
    pub categories: Vec<Category>,
    #[serde(default)]
    pub roles: Roles,
    #[serde(default)]
    pub privacy: PrivacySettings,
    #[serde(default)]
    pub places: Places,
    /// The town's districts (`[[district]]`): where a task is, for the board's filter.
    #[serde(default, rename = "district")]
    pub districts: Vec<District>,
    /// Per language: words that tell the language apart, greetings.
    #[serde(default)]
    pub language: BTreeMap<String, LanguageHints>,
    /// Answers to questions that are not reports.
    #[serde(default, rename = "answer")]
    pub answers: Vec<Answer>,
    /// Plugin name → its own table (`[plugins.lost-and-found]`).
    #[serde(default)]
    pub plugins: BTreeMap<String, toml::Table>,
    /// Messenger sections by name (`[telegram]`, `[matrix]`, a town's own `[irc]`): opaque
    /// to the core, parsed and checked by the adapter registered under that name.
    #[serde(skip)]
    pub channels: BTreeMap<String, toml::Table>,
    #[serde(default)]
    pub store: Option<toml::Table>,
    #[serde(default)]
    pub web: Option<toml::Table>,
    /// Where the config file was read from; locale paths are relative to its folder.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// The file's text, to tell the line of a key in messages about it.
    #[serde(skip)]
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Town {
    pub name: String,
    /// The language rooms are written in and residents get until they write.
    pub default_language: String,
    pub languages: Vec<String>,
    /// Folder with `LANG.ftl` files, relative to the config file.
    #[serde(default = "default_locales")]
    pub locales: String,
    /// The town's time zone (IANA name, e.g. `Europe/Madrid`): "until 14:00" and "each
    /// morning" are in it. UTC if unset.
    #[serde(default)]
    pub timezone: Option<String>,
}

fn yes() -> bool {
    true
}

fn default_locales() -> String {
    "locales".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unclear {
    /// Ask the resident with numbered choices.
    Ask,
    /// Send the report to the dispatcher's triage room.
    Triage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    pub unclear: Unclear,
    /// How much better the best category must score than the next (0..1).
    pub confidence_threshold: f64,
    /// A report of the same category and street within this many minutes is a duplicate.
    pub duplicate_window_minutes: i64,
    /// Two reports with points closer than this are at the same place.
    pub duplicate_radius_m: f64,
    /// An unanswered question ("where is it?") is forgotten after this many minutes.
    pub dialogue_timeout_minutes: i64,
    /// Longer messages are refused with an explanation.
    pub max_message_chars: usize,
    /// A location or photo sent this soon after a report is added to it.
    pub attach_window_minutes: i64,
    /// Reports one resident may make in an hour; past it they get a polite answer and
    /// the dispatchers are told once. Others are not affected.
    pub reports_per_hour: u32,
    /// How many closed tasks stay in memory besides the open ones (the latest closed or
    /// read again); older ones are read from the database when a message names them.
    pub closed_tasks_in_memory: usize,
    /// When a crew marks a task done its reporter is asked "is it fixed?"; with no answer
    /// in this many hours it is closed as fixed. 0: not asked.
    pub confirm_hours: i64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            unclear: Unclear::Ask,
            confidence_threshold: 0.5,
            duplicate_window_minutes: 24 * 60,
            duplicate_radius_m: 60.0,
            dialogue_timeout_minutes: 60,
            max_message_chars: 4000,
            attach_window_minutes: 15,
            reports_per_hour: 20,
            closed_tasks_in_memory: 1_000,
            confirm_hours: 72,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Rooms {
    /// Language of the public, triage and crew rooms; the town's default if unset.
    pub language: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crew {
    /// Also the name of the crew's room.
    pub id: String,
    pub name: Localized,
    #[serde(default)]
    pub members: Vec<Identity>,
    /// Members who agreed to be named in public when they fix something: identity →
    /// the first name shown ("Fixed by the Electricians (Luis)"). Others stay unnamed.
    #[serde(default)]
    pub credit: BTreeMap<Identity, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub id: String,
    pub name: Localized,
    /// The crew that handles it.
    pub crew: String,
    pub visibility: Visibility,
    #[serde(default)]
    pub needs_location: bool,
    /// Link a new report to an open one of the same category at the same place (set
    /// false where two reports at one place are different things, e.g. lost and found).
    #[serde(default = "yes")]
    pub duplicates: bool,
    /// Language → words and phrases that point to this category.
    pub keywords: BTreeMap<String, Vec<String>>,
    /// Open311 service code; the id if unset.
    #[serde(default)]
    pub service_code: Option<String>,
}

impl Category {
    /// What Open311 clients call this category: its `service_code`, else its id.
    pub fn service_code(&self) -> &str {
        self.service_code.as_deref().unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    /// The mayor's office: may act on any task, assign, close, merge.
    #[serde(default)]
    pub dispatchers: Vec<Identity>,
    #[serde(default)]
    pub admins: Vec<Identity>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Places {
    /// The town's streets as they should be written ("calle Real", "plaza de la
    /// Constitución"): however a resident writes one ("c/ real 5", "C. Real nº5"), the
    /// task shows it this way, and two spellings are one place for duplicates.
    pub streets: Vec<String>,
}

/// A district of the town: its streets, and/or the area it covers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct District {
    pub id: String,
    pub name: Localized,
    /// Streets in it, written as in `[places] streets` ("calle Real"), any house number.
    #[serde(default)]
    pub streets: Vec<String>,
    /// The area, as [latitude, longitude] corners in order (at least three).
    #[serde(default)]
    pub polygon: Vec<[f64; 2]>,
    /// The area from a GeoJSON file (a Polygon or MultiPolygon, or Features of them;
    /// coordinates [longitude, latitude] as GeoJSON has them), relative to the config.
    #[serde(default)]
    pub geojson: Option<String>,
    /// The district's own triage room (a room like a crew's): its unclassified reports
    /// and late tasks go there. None: the town's `triage`.
    #[serde(default)]
    pub triage: Option<String>,
    /// The district's dispatchers: they act on its tasks only (the town's `[roles]
    /// dispatchers` act everywhere).
    #[serde(default)]
    pub dispatchers: Vec<Identity>,
    /// Category id → the crew that handles it here, instead of the category's own.
    #[serde(default)]
    pub crews: BTreeMap<String, String>,
    /// `streets` folded as a place's `street_key` is, read once with the config.
    #[serde(skip)]
    street_keys: Vec<String>,
    /// Every ring of the area, [latitude, longitude]: `polygon` and the GeoJSON file's.
    #[serde(skip)]
    rings: Vec<Vec<[f64; 2]>>,
}

impl District {
    /// Whether `p` is inside the area (ray casting over every ring, even-odd: a hole in a
    /// GeoJSON polygon is outside; a point on an edge may go either way).
    pub fn contains(&self, p: &crate::model::GeoPoint) -> bool {
        let mut inside = false;
        let own = (self.polygon.len() >= 3).then_some(&self.polygon);
        for poly in own.into_iter().chain(self.rings.iter()) {
            if poly.len() < 3 {
                continue;
            }
            let mut j = poly.len() - 1;
            for i in 0..poly.len() {
                let ([yi, xi], [yj, xj]) = (poly[i], poly[j]);
                if (yi > p.lat) != (yj > p.lat) && p.lon < (xj - xi) * (p.lat - yi) / (yj - yi) + xi {
                    inside = !inside;
                }
                j = i;
            }
        }
        inside
    }
}

/// The rings of a GeoJSON text, as [latitude, longitude]: a Polygon, a MultiPolygon, a
/// Feature or a FeatureCollection of them. `Err` says what is wrong.
pub fn geojson_rings(text: &str) -> Result<Vec<Vec<[f64; 2]>>, String> {
    fn ring(v: &serde_json::Value) -> Result<Vec<[f64; 2]>, String> {
        let pts = v.as_array().ok_or("a ring is a list of [longitude, latitude] points")?;
        let mut out = Vec::with_capacity(pts.len());
        for p in pts {
            let (lon, lat) = match p.as_array().map(Vec::as_slice) {
                Some([lon, lat, ..]) => (lon.as_f64(), lat.as_f64()),
                _ => (None, None),
            };
            let (Some(lon), Some(lat)) = (lon, lat) else {
                return Err(format!("`{p}` is not a [longitude, latitude] point"));
            };
            if !(crate::model::GeoPoint { lat, lon }).is_valid() {
                return Err(format!("[{lon}, {lat}] is not a point on Earth ([longitude, latitude])"));
            }
            out.push([lat, lon]);
        }
        if out.len() < 4 {
            return Err("a ring needs at least four points (the first repeated at the end)".into());
        }
        Ok(out)
    }
    fn walk(v: &serde_json::Value, out: &mut Vec<Vec<[f64; 2]>>) -> Result<(), String> {
        let coords = || v.get("coordinates").and_then(|c| c.as_array()).ok_or("no `coordinates` list");
        match v.get("type").and_then(|t| t.as_str()) {
            Some("Polygon") => {
                for r in coords()? {
                    out.push(ring(r)?);
                }
            }
            Some("MultiPolygon") => {
                for poly in coords()? {
                    for r in poly.as_array().ok_or("a MultiPolygon is a list of polygons")? {
                        out.push(ring(r)?);
                    }
                }
            }
            Some("Feature") => walk(v.get("geometry").ok_or("a Feature without `geometry`")?, out)?,
            Some("FeatureCollection") => {
                for f in v.get("features").and_then(|f| f.as_array()).ok_or("no `features` list")? {
                    walk(f, out)?;
                }
            }
            Some(t) => return Err(format!("a `{t}` is not an area: use a Polygon or a MultiPolygon")),
            None => return Err("not GeoJSON: no `type`".into()),
        }
        Ok(())
    }
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = Vec::new();
    walk(&v, &mut out)?;
    if out.is_empty() {
        return Err("no area in it".into());
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacySettings {
    /// Reporters of tasks resolved or closed longer ago than this many days are
    /// anonymised (identity and free text erased; the task stays for the statistics).
    /// Unset: kept until the resident asks for erasure.
    pub retention_days: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageHints {
    /// Common words of the language ("el", "la", "the", "is").
    #[serde(default)]
    pub markers: Vec<String>,
    /// Messages that only greet or ask for help.
    #[serde(default)]
    pub greetings: Vec<String>,
    /// Answers meaning "me too" in a public thread.
    #[serde(default)]
    pub me_too: Vec<String>,
    /// Answers meaning "cancel" in a dialogue.
    #[serde(default)]
    pub cancel: Vec<String>,
    /// Asking for one's data ("mis datos", "my data").
    #[serde(default)]
    pub my_data: Vec<String>,
    /// Asking to erase one's data ("borrar mis datos", "delete my data").
    #[serde(default)]
    pub erase_data: Vec<String>,
    /// Answers meaning "yes" to a confirmation.
    #[serde(default)]
    pub yes: Vec<String>,
    /// Answers meaning "no" to "is it fixed?" ("no", "sigue igual", "still broken").
    #[serde(default)]
    pub no: Vec<String>,
    /// Thanks ("gracias", "thank you"): answered kindly, at any point.
    #[serde(default)]
    pub thanks: Vec<String>,
    /// Phrases asking how one's own reports are going ("ya han venido", "any news"):
    /// answered with their status.
    #[serde(default)]
    pub status_questions: Vec<String>,
    /// Places that are not places ("mi calle", "aquí", "near my house"): a street and
    /// number, or a shared location, is asked for instead.
    #[serde(default)]
    pub vague_places: Vec<String>,
    /// A correction of what was just said ("no perdona", "sorry, I meant").
    #[serde(default)]
    pub corrections: Vec<String>,
    /// Words that start a question ("qué", "cuándo", "what", "when").
    #[serde(default)]
    pub question_words: Vec<String>,
    /// Words for people ("un hombre", "mi ex", "alguien", "a man", "someone"): a report
    /// about a person that is not clearly a public problem is handled privately.
    #[serde(default)]
    pub persons: Vec<String>,
}

/// An answer to a question that is not a report (`[[answer]]`): opening hours, a phone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// Language → words or phrases of the question.
    pub keywords: BTreeMap<String, Vec<String>>,
    /// The answer, per language.
    pub text: Localized,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key it is about, as a path: `category[2].crew`. Empty for the whole file.
    pub key: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.key.is_empty()) {
            (Some(l), false) => write!(f, "line {l}: {}: {}", self.key, self.message),
            (Some(l), true) => write!(f, "line {l}: {}", self.message),
            (None, false) => write!(f, "{}: {}", self.key, self.message),
            (None, true) => write!(f, "{}", self.message),
        }
    }
}

/// Every problem found in a config file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors {
    pub file: String,
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {e}", self.file)?;
        }
        Ok(())
    }
}

/// Finds keys and lines in the TOML text, for error messages.
pub struct Locator {
    doc: Option<toml_edit::Document<String>>,
    text: String,
}

impl Locator {
    pub fn new(text: &str) -> Self {
        Locator { doc: toml_edit::Document::parse(text.to_owned()).ok(), text: text.to_owned() }
    }

    pub fn line_of_offset(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }

    /// The line of a key path such as `category[2].crew` or `town.languages`.
    /// Falls back to the nearest parent that exists.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut item: &toml_edit::Item = doc.as_item();
        let mut best = None;
        for part in split_path(path) {
            let next = match part {
                PathPart::Key(k) => item.get(k),
                PathPart::Index(i) => item.get(i),
            };
            match next {
                Some(n) => {
                    item = n;
                    if let Some(sp) = span_of(item) {
                        best = Some(sp.start);
                    }
                }
                None => break,
            }
        }
        best.map(|o| self.line_of_offset(o))
    }

    /// The deepest key whose value covers `span`.
    pub fn key_at(&self, span: &Range<usize>) -> String {
        let Some(doc) = self.doc.as_ref() else {
            return String::new();
        };
        let mut path = String::new();
        Self::walk_table(doc.as_table(), span, &mut path);
        path
    }

    fn walk_table(t: &toml_edit::Table, span: &Range<usize>, path: &mut String) {
        // The entry whose key or value starts last before the error, if the error lies
        // within its value (tables: the last header before the error).
        let mut best: Option<(usize, &str, &toml_edit::Item)> = None;
        for (k, v) in t.iter() {
            let key_start = t.key(k).and_then(|kk| kk.span()).map(|s| s.start);
            let start = match v {
                toml_edit::Item::ArrayOfTables(a) => {
                    a.iter().filter_map(|t| t.span()).map(|s| s.start).filter(|s| *s <= span.start).max()
                }
                _ => key_start.or_else(|| span_of(v).map(|s| s.start)),
            };
            if let Some(st) = start
                && st <= span.start
                && best.is_none_or(|(b, _, _)| st >= b)
            {
                best = Some((st, k, v));
            }
        }
        let Some((_, k, v)) = best else { return };
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k);
        match v {
            toml_edit::Item::Table(t) => Self::walk_table(t, span, path),
            toml_edit::Item::ArrayOfTables(a) => {
                let mut pick = None;
                for (i, t) in a.iter().enumerate() {
                    if t.span().is_some_and(|s| s.start <= span.start) {
                        pick = Some((i, t));
                    }
                }
                if let Some((i, t)) = pick {
                    path.push_str(&format!("[{i}]"));
                    Self::walk_table(t, span, path);
                }
            }
            toml_edit::Item::Value(toml_edit::Value::InlineTable(it)) => {
                for (k, v) in it.iter() {
                    if v.span().is_some_and(|s| s.start <= span.start && span.start < s.end) {
                        path.push('.');
                        path.push_str(k);
                    }
                }
            }
            _ => {}
        }
    }
}

fn span_of(item: &toml_edit::Item) -> Option<Range<usize>> {
    match item {
        toml_edit::Item::Value(v) => v.span(),
        toml_edit::Item::Table(t) => t.span(),
        toml_edit::Item::ArrayOfTables(a) => a.span(),
        toml_edit::Item::None => None,
    }
}

enum PathPart<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<PathPart<'_>> {
    let mut out = Vec::new();
    for seg in path.split('.') {
        let (name, rest) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        if !name.is_empty() {
            out.push(PathPart::Key(name));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(PathPart::Index(i));
            }
        }
    }
    out
}

impl Config {
    /// Reads and checks a config file; locale files are checked by [`crate::Locales`].
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_with(path, &|_| vec![])
    }

    /// [`Config::load`] with the checks of what the core does not know (the messengers'
    /// sections, their identities: the binary's registry), reported with the core's own
    /// problems in one pass.
    pub fn load_with(path: &Path, extra: &dyn Fn(&Config) -> Vec<section::Problem>) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            file: file.clone(),
            errors: vec![ConfigError { key: String::new(), line: None, message: format!("cannot read the file: {e}") }],
        })?;
        let mut cfg = Config::parse_with(&text, extra).map_err(|errors| ConfigErrors { file: file.clone(), errors })?;
        cfg.source = Some(path.to_owned());
        // Districts' GeoJSON files, relative to the config.
        let base = path.parent().unwrap_or(Path::new("."));
        let mut errors = Vec::new();
        for (i, d) in cfg.districts.iter_mut().enumerate() {
            let Some(f) = &d.geojson else { continue };
            let read = std::fs::read_to_string(base.join(f)).map_err(|e| format!("cannot read `{f}`: {e}"));
            match read.and_then(|t| geojson_rings(&t).map_err(|e| format!("`{f}`: {e}"))) {
                Ok(rings) => d.rings = rings,
                Err(message) => errors.push((format!("district[{i}].geojson"), message)),
            }
        }
        if !errors.is_empty() {
            let errors = errors.into_iter().map(|(k, m)| cfg.error_at(&k, m)).collect();
            return Err(ConfigErrors { file, errors });
        }
        Ok(cfg)
    }

    /// Parses and checks config text. Every error is returned, with its key and line.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        Config::parse_with(text, &|_| vec![])
    }

    /// [`Config::parse`] with checks from outside the core (see [`Config::load_with`]).
    pub fn parse_with(
        text: &str,
        extra: &dyn Fn(&Config) -> Vec<section::Problem>,
    ) -> Result<Config, Vec<ConfigError>> {
        let loc = Locator::new(text);
        let cfg: Config = match toml::from_str(text) {
            Ok(c) => c,
            Err(e) => {
                let (line, mut key) = match e.span() {
                    Some(sp) => (Some(loc.line_of_offset(sp.start)), loc.key_at(&sp)),
                    None => (None, String::new()),
                };
                let mut message = e.message().trim().to_owned();
                // A file with a key twice cannot be read as a document at all: name the key
                // from the text (the table header above it, and the key itself).
                if let (true, Some(sp)) = (key.is_empty(), e.span()) {
                    let name = text.get(sp.clone()).unwrap_or("").trim().trim_matches(|c| c == '[' || c == ']');
                    let table = text[..sp.start.min(text.len())]
                        .lines()
                        .rev()
                        .skip(1)
                        .map(str::trim)
                        .find(|l| l.starts_with('['))
                        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
                    key = match table {
                        Some(t) if !name.is_empty() && t != name => format!("{t}.{name}"),
                        _ => name.to_owned(),
                    };
                    if message == "duplicate key" && !key.is_empty() {
                        message = format!("`{key}` is set twice");
                    }
                }
                return Err(vec![ConfigError { key, line, message }]);
            }
        };
        let mut errors = cfg.validate(&loc);
        // What the core does not read: a table is a messenger's section, anything else a
        // mistake.
        let mut channels = BTreeMap::new();
        if let Ok(top) = toml::from_str::<toml::Table>(text) {
            for (k, v) in top {
                if CORE_SECTIONS.contains(&k.as_str()) {
                    continue;
                }
                match v {
                    toml::Value::Table(t) => {
                        channels.insert(k, t);
                    }
                    _ => errors.push(ConfigError {
                        line: loc.line_of(&k),
                        message: format!(
                            "unknown key (the file's sections are {}, and a messenger's own, e.g. [telegram])",
                            CORE_SECTIONS.join(", ")
                        ),
                        key: k,
                    }),
                }
            }
        }
        let mut cfg = Config { text: text.to_owned(), channels, ..cfg };
        for d in &mut cfg.districts {
            d.street_keys = d.streets.iter().filter_map(|s| crate::text::find_street(s).map(|(_, k)| k)).collect();
        }
        errors.extend(extra(&cfg).into_iter().map(|(k, m)| ConfigError { line: loc.line_of(&k), key: k, message: m }));
        if errors.is_empty() { Ok(cfg) } else { Err(errors) }
    }

    fn validate(&self, loc: &Locator) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        let mut err = |key: String, message: String| {
            let line = loc.line_of(&key);
            errs.push(ConfigError { key, line, message });
        };
        if let Some(tz) = &self.town.timezone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            err("town.timezone".into(), format!("`{tz}` is not a time zone: use an IANA name such as Europe/Madrid"));
        }
        let langs: BTreeSet<&str> = self.town.languages.iter().map(String::as_str).collect();
        if langs.is_empty() {
            err("town.languages".into(), "list at least one language, e.g. [\"es\"]".into());
        }
        for (i, l) in self.town.languages.iter().enumerate() {
            if l.parse::<unic_langid::LanguageIdentifier>().is_err() {
                err(format!("town.languages[{i}]"), format!("`{l}` is not a language code (e.g. es, en, ca)"));
            }
        }
        if !langs.contains(self.town.default_language.as_str()) {
            err("town.default_language".into(), format!("`{}` is not in town.languages", self.town.default_language));
        }
        if let Some(l) = &self.rooms.language
            && !langs.contains(l.as_str())
        {
            err("rooms.language".into(), format!("`{l}` is not in town.languages"));
        }
        let e = &self.engine;
        if !(0.0..=1.0).contains(&e.confidence_threshold) {
            err("engine.confidence_threshold".into(), "must be between 0 and 1".into());
        }
        if e.duplicate_window_minutes < 0 {
            err("engine.duplicate_window_minutes".into(), "must not be negative".into());
        }
        if !(0..=24 * 365).contains(&e.confirm_hours) {
            err("engine.confirm_hours".into(), "must be from 0 (do not ask) to 8760 (a year)".into());
        }
        if e.dialogue_timeout_minutes <= 0 {
            err("engine.dialogue_timeout_minutes".into(), "must be more than 0".into());
        }
        if e.max_message_chars < 10 {
            err("engine.max_message_chars".into(), "must be at least 10".into());
        }
        let reserved = ["public", "triage"];
        let mut crew_ids = BTreeSet::new();
        for (i, c) in self.crews.iter().enumerate() {
            if !is_slug(&c.id) {
                err(format!("crew[{i}].id"), format!("`{}`: use lower-case letters, digits and -", c.id));
            }
            if reserved.contains(&c.id.as_str()) {
                err(format!("crew[{i}].id"), format!("`{}` is the name of a built-in room", c.id));
            }
            if !crew_ids.insert(c.id.as_str()) {
                err(format!("crew[{i}].id"), format!("crew `{}` is defined twice", c.id));
            }
            check_localized(&mut err, &format!("crew[{i}].name"), &c.name, &langs);
            for (who, name) in &c.credit {
                if !c.members.contains(who) {
                    err(format!("crew[{i}].credit"), format!("`{who}` is not a member of crew `{}`", c.id));
                }
                if name.trim().is_empty() || name.chars().count() > 40 {
                    err(format!("crew[{i}].credit"), format!("the name for `{who}` must be 1 to 40 characters"));
                }
            }
        }
        if self.crews.is_empty() {
            err("crew".into(), "define at least one crew ([[crew]])".into());
        }
        let mut cat_ids = BTreeSet::new();
        let mut codes = BTreeMap::new();
        for (i, c) in self.categories.iter().enumerate() {
            if c.service_code.as_deref().is_some_and(|code| code.trim().is_empty() || code.trim() != code) {
                err(format!("category[{i}].service_code"), "must not be empty or start or end with a space".into());
            }
            if let Some(other) = codes.insert(c.service_code(), c.id.as_str()) {
                err(
                    format!("category[{i}].service_code"),
                    format!(
                        "Open311 service code `{}` is used by category `{other}` too (an unset code is the id)",
                        c.service_code()
                    ),
                );
            }
            if !is_slug(&c.id) {
                err(format!("category[{i}].id"), format!("`{}`: use lower-case letters, digits and -", c.id));
            }
            if !cat_ids.insert(c.id.as_str()) {
                err(format!("category[{i}].id"), format!("category `{}` is defined twice", c.id));
            }
            if !crew_ids.contains(c.crew.as_str()) {
                err(
                    format!("category[{i}].crew"),
                    format!(
                        "unknown crew `{}` (crews: {})",
                        c.crew,
                        crew_ids.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            check_localized(&mut err, &format!("category[{i}].name"), &c.name, &langs);
            for (lang, words) in &c.keywords {
                if !langs.contains(lang.as_str()) {
                    err(format!("category[{i}].keywords.{lang}"), format!("`{lang}` is not in town.languages"));
                }
                if words.iter().any(|w| crate::text::words(w).is_empty()) {
                    err(format!("category[{i}].keywords.{lang}"), "a keyword is empty".into());
                }
            }
            if c.keywords.values().all(Vec::is_empty) {
                err(format!("category[{i}].keywords"), "give at least one keyword".into());
            }
        }
        if self.categories.is_empty() {
            err("category".into(), "define at least one category ([[category]])".into());
        }
        for l in self.language.keys() {
            if !langs.contains(l.as_str()) {
                err(format!("language.{l}"), format!("`{l}` is not in town.languages"));
            }
        }
        for (i, s) in self.places.streets.iter().enumerate() {
            if crate::text::find_street(s).is_none() {
                err(
                    format!("places.streets[{i}]"),
                    format!(
                        "`{s}` does not read as a street: start with its kind (calle, plaza, avenida, …) or end with it (Street, Road, …)"
                    ),
                );
            }
        }
        let mut district_ids = BTreeSet::new();
        for (i, d) in self.districts.iter().enumerate() {
            if d.id.is_empty() || !d.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                err(format!("district[{i}].id"), "use letters, digits, - and _ (e.g. casco-antiguo)".into());
            }
            if !district_ids.insert(d.id.as_str()) {
                err(format!("district[{i}].id"), format!("`{}` is used by another district", d.id));
            }
            check_localized(&mut err, &format!("district[{i}].name"), &d.name, &langs);
            if d.streets.is_empty() && d.polygon.is_empty() && d.geojson.is_none() {
                err(format!("district[{i}]"), "give its `streets`, its `polygon` or `geojson`, or both".into());
            }
            for (k, s) in d.streets.iter().enumerate() {
                // A street in two districts would be routed by chance.
                let key = crate::text::find_street(s).map(|(_, k)| k);
                if let Some(other) = self.districts[..i]
                    .iter()
                    .find(|o| o.streets.iter().any(|t| crate::text::find_street(t).map(|(_, k)| k) == key))
                {
                    err(format!("district[{i}].streets[{k}]"), format!("`{s}` is also in district `{}`", other.id));
                }
                if !self.places.streets.is_empty()
                    && key.is_some()
                    && !self.places.streets.iter().any(|t| crate::text::find_street(t).map(|(_, k)| k) == key)
                {
                    err(format!("district[{i}].streets[{k}]"), format!("`{s}` is not in `[places] streets`"));
                }
            }
            if let Some(room) = &d.triage {
                if !room.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') || room.is_empty() {
                    err(format!("district[{i}].triage"), format!("`{room}`: use lower-case letters, digits and -"));
                } else if ["public", "triage"].contains(&room.as_str()) || self.crew(room).is_some() {
                    err(
                        format!("district[{i}].triage"),
                        format!("`{room}` is already a room (a crew's, public or triage)"),
                    );
                } else if self.districts[..i].iter().any(|o| o.triage.as_ref() == Some(room)) {
                    err(format!("district[{i}].triage"), format!("`{room}` is another district's triage room"));
                }
            }
            for (cat, crew) in &d.crews {
                if self.category(cat).is_none() {
                    err(format!("district[{i}].crews.{cat}"), format!("unknown category `{cat}`"));
                }
                if self.crew(crew).is_none() {
                    let known: Vec<&str> = self.crews.iter().map(|c| c.id.as_str()).collect();
                    err(
                        format!("district[{i}].crews.{cat}"),
                        format!("unknown crew `{crew}` (crews: {})", known.join(", ")),
                    );
                }
            }
            if !d.dispatchers.is_empty() && d.triage.is_none() {
                err(
                    format!("district[{i}].dispatchers"),
                    "a district with its own dispatchers needs its own `triage` room".into(),
                );
            }
            for (k, s) in d.streets.iter().enumerate() {
                if crate::text::find_street(s).is_none() {
                    err(format!("district[{i}].streets[{k}]"), format!("`{s}` does not read as a street"));
                }
            }
            if !d.polygon.is_empty() && d.polygon.len() < 3 {
                err(format!("district[{i}].polygon"), "an area needs at least three corners".into());
            }
            for (k, [lat, lon]) in d.polygon.iter().enumerate() {
                if !(crate::model::GeoPoint { lat: *lat, lon: *lon }).is_valid() {
                    err(
                        format!("district[{i}].polygon"),
                        format!("corner {} is not [latitude, longitude] (±90, ±180): [{lat}, {lon}]", k + 1),
                    );
                }
            }
        }
        for (i, a) in self.answers.iter().enumerate() {
            check_localized(&mut err, &format!("answer[{i}].text"), &a.text, &langs);
            if a.keywords.values().all(Vec::is_empty) {
                err(format!("answer[{i}].keywords"), "give at least one keyword".into());
            }
            for lang in a.keywords.keys() {
                if !langs.contains(lang.as_str()) {
                    err(format!("answer[{i}].keywords.{lang}"), format!("`{lang}` is not in town.languages"));
                }
            }
        }
        if e.duplicate_radius_m < 0.0 || !e.duplicate_radius_m.is_finite() {
            err("engine.duplicate_radius_m".into(), "must be a distance in metres, 0 or more".into());
        }
        if e.reports_per_hour == 0 {
            err("engine.reports_per_hour".into(), "must be at least 1".into());
        }
        if e.attach_window_minutes < 0 {
            err("engine.attach_window_minutes".into(), "must not be negative".into());
        }
        if let Some(d) = self.privacy.retention_days
            && d <= 0
        {
            err("privacy.retention_days".into(), "must be more than 0 days (leave it out to keep data)".into());
        }
        // People: a well-formed identity for its channel, each listed once per list; a
        // crew nobody is in can act on nothing.
        let mut seen = BTreeSet::new();
        for (key, m) in self.people() {
            if let Err(why) = check_identity(m) {
                err(key.clone(), why);
            }
            // Once per list: the key without its last index.
            let list = key.rsplit_once('[').map_or(key.as_str(), |(l, _)| l).to_owned();
            if !seen.insert((list, m)) {
                err(key, format!("`{m}` is listed twice"));
            }
        }
        for (i, c) in self.crews.iter().enumerate() {
            if c.members.is_empty() {
                err(
                    format!("crew[{i}].members"),
                    format!("crew `{}` has no members: nobody could act on its tasks", c.id),
                );
            }
        }
        // One keyword in two categories makes every message with it ambiguous.
        let mut owner: BTreeMap<(String, Vec<String>), (usize, &str)> = BTreeMap::new();
        for (i, c) in self.categories.iter().enumerate() {
            for (lang, words) in &c.keywords {
                for w in words {
                    let key = (lang.clone(), crate::text::words(w));
                    match owner.get(&key) {
                        Some((_, other)) if *other != c.id => err(
                            format!("category[{i}].keywords.{lang}"),
                            format!("the keyword `{w}` is also a keyword of category `{other}`"),
                        ),
                        Some(_) => {}
                        None => {
                            owner.insert(key, (i, c.id.as_str()));
                        }
                    }
                }
            }
        }
        errs
    }

    /// The line of a key (`telegram.rooms.water`) in the file, for error messages.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        Locator::new(&self.text).line_of(key)
    }
    /// A problem with a key, located in the file.
    pub fn error_at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError { key: key.to_owned(), line: self.line_of(key), message: message.into() }
    }

    /// Whether one of the phrases `pick` takes from each language's hints occurs in
    /// `text` (as consecutive words; case, accents and small typos aside).
    pub fn mentions(&self, text: &str, pick: impl Fn(&LanguageHints) -> &Vec<String>) -> bool {
        let ws = crate::text::words(text);
        self.language
            .values()
            .flat_map(|h| pick(h).iter())
            .any(|p| crate::text::contains_phrase(&ws, &crate::text::phrase(p)))
    }

    /// Whether `text` is one of the phrases `pick` takes from each language's hints
    /// (the whole message; case, accents and punctuation aside).
    pub fn is_phrase(&self, text: &str, pick: impl Fn(&LanguageHints) -> &Vec<String>) -> bool {
        let f = crate::text::words(text);
        !f.is_empty() && self.language.values().flat_map(|h| pick(h).iter()).any(|c| *crate::text::phrase(c) == *f)
    }

    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }
    /// The public category an Open311 client means by `code` (its `service_code`, or
    /// its id where the town set none). Private categories are no Open311 service.
    pub fn open311_category(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.service_code() == code && c.visibility != Visibility::Private)
    }
    /// The Open311 code of the category `id` (the id itself if it is no category).
    pub fn service_code_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.category(id).map_or(id, Category::service_code)
    }
    pub fn crew(&self, id: &str) -> Option<&Crew> {
        self.crews.iter().find(|c| c.id == id)
    }
    /// The town's time zone (UTC if unset or unknown: `plaza check` refuses unknown ones).
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        self.town.timezone.as_deref().and_then(|t| jiff::tz::TimeZone::get(t).ok()).unwrap_or(jiff::tz::TimeZone::UTC)
    }
    /// The first moment at or after `after` when the town's clocks show `hour:minute`.
    pub fn next_local(&self, after: crate::model::Timestamp, hour: i8, minute: i8) -> crate::model::Timestamp {
        let tz = self.time_zone();
        let Ok(now) = jiff::Timestamp::from_millisecond(after.0) else { return after };
        let zoned = now.to_zoned(tz.clone());
        let Ok(t) = jiff::civil::Time::new(hour, minute, 0, 0) else { return after };
        let mut day = zoned.date();
        for _ in 0..3 {
            if let Ok(z) = day.to_datetime(t).to_zoned(tz.clone())
                && z.timestamp().as_millisecond() >= after.0
            {
                return crate::model::Timestamp(z.timestamp().as_millisecond());
            }
            day = day.tomorrow().unwrap_or(day);
        }
        after
    }
    /// The start of the town's calendar day `days` before the one `at` is in (0: today).
    pub fn local_day_start(&self, at: crate::model::Timestamp, days: i32) -> crate::model::Timestamp {
        let tz = self.time_zone();
        let Ok(now) = jiff::Timestamp::from_millisecond(at.0) else { return at };
        let date = now.to_zoned(tz.clone()).date();
        let date = date.checked_sub(jiff::Span::new().days(days)).unwrap_or(date);
        match date.to_zoned(tz) {
            Ok(z) => crate::model::Timestamp(z.timestamp().as_millisecond()),
            Err(_) => at,
        }
    }
    /// `at` as the town's clocks show it: (year-month-day, hour, minute).
    pub fn local_parts(&self, at: crate::model::Timestamp) -> (String, i8, i8) {
        match jiff::Timestamp::from_millisecond(at.0) {
            Ok(t) => {
                let z = t.to_zoned(self.time_zone());
                (z.date().to_string(), z.hour(), z.minute())
            }
            Err(_) => (String::new(), 0, 0),
        }
    }
    /// A dispatcher of the whole town (`[roles]`): acts on every task.
    pub fn is_dispatcher(&self, who: &Identity) -> bool {
        self.roles.dispatchers.contains(who) || self.roles.admins.contains(who)
    }
    /// A dispatcher for tasks in `district`: the town's, or that district's own.
    pub fn is_dispatcher_in(&self, who: &Identity, district: Option<&str>) -> bool {
        self.is_dispatcher(who) || district.and_then(|d| self.district(d)).is_some_and(|d| d.dispatchers.contains(who))
    }
    /// The districts `who` dispatches for (not the town's dispatchers).
    pub fn districts_of(&self, who: &Identity) -> Vec<&District> {
        self.districts.iter().filter(|d| d.dispatchers.contains(who)).collect()
    }
    pub fn district(&self, id: &str) -> Option<&District> {
        self.districts.iter().find(|d| d.id == id)
    }
    /// The crew for `category` in `district`: the district's own, else the category's.
    pub fn crew_for(&self, category: &str, district: Option<&str>) -> Option<&str> {
        let own = district.and_then(|d| self.district(d)).and_then(|d| d.crews.get(category));
        own.map(String::as_str).or_else(|| self.category(category).map(|c| c.crew.as_str()))
    }
    /// Where a task in `district` waits for the town hall: its district's triage room, or
    /// the town's.
    pub fn triage_room(&self, district: Option<&str>) -> &str {
        district.and_then(|d| self.district(d)).and_then(|d| d.triage.as_deref()).unwrap_or("triage")
    }
    /// Whether `room` is a triage room (the town's or a district's).
    pub fn is_triage_room(&self, room: &str) -> bool {
        room == "triage" || self.districts.iter().any(|d| d.triage.as_deref() == Some(room))
    }
    /// The crews `who` is a member of.
    pub fn crews_of(&self, who: &Identity) -> Vec<&str> {
        self.crews.iter().filter(|c| c.members.contains(who)).map(|c| c.id.as_str()).collect()
    }
    /// Whether `who` has any power beyond a resident's: a crew member, a dispatcher of the
    /// town or of a district, an admin.
    pub fn is_staff(&self, who: &Identity) -> bool {
        self.is_dispatcher(who) || !self.crews_of(who).is_empty() || !self.districts_of(who).is_empty()
    }
    /// Every identity the file names with its key (`crew[2].members[0]`): crew members,
    /// the town's dispatchers and admins, districts' dispatchers.
    pub fn people(&self) -> Vec<(String, &Identity)> {
        let mut lists: Vec<(String, &[Identity])> =
            self.crews.iter().enumerate().map(|(i, c)| (format!("crew[{i}].members"), &c.members[..])).collect();
        lists.push(("roles.dispatchers".into(), &self.roles.dispatchers));
        lists.push(("roles.admins".into(), &self.roles.admins));
        lists.extend(
            self.districts.iter().enumerate().map(|(i, d)| (format!("district[{i}].dispatchers"), &d.dispatchers[..])),
        );
        let mut out = Vec::new();
        for (key, l) in lists {
            out.extend(l.iter().enumerate().map(|(j, m)| (format!("{key}[{j}]"), m)));
        }
        out
    }
    pub fn room_language(&self) -> &str {
        self.rooms.language.as_deref().unwrap_or(&self.town.default_language)
    }
    /// The localized name of a category or crew, falling back to the default language.
    /// The district a place is in: by its street (`[[district]] streets`), else by its
    /// point (`polygon`).
    pub fn district_of(&self, place: &crate::model::Place) -> Option<&District> {
        if let Some(key) = &place.street_key {
            let by_street = self.districts.iter().find(|d| d.street_keys.contains(key));
            if by_street.is_some() {
                return by_street;
            }
        }
        let p = place.point.as_ref()?;
        self.districts.iter().find(|d| d.contains(p))
    }

    pub fn name_in<'a>(&'a self, names: &'a Localized, lang: &str) -> &'a str {
        names
            .get(lang)
            .or_else(|| names.get(&self.town.default_language))
            .or_else(|| names.values().next())
            .map(String::as_str)
            .unwrap_or("?")
    }
    /// The folder locale files are read from.
    pub fn locales_dir(&self) -> PathBuf {
        let base = self.source.as_ref().and_then(|p| p.parent()).unwrap_or(Path::new("."));
        base.join(&self.town.locales)
    }
    /// All the room names: every crew's, `public`, `triage`.
    pub fn room_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.crews.iter().map(|c| c.id.clone()).collect();
        v.push("public".into());
        v.push("triage".into());
        v.extend(self.districts.iter().filter_map(|d| d.triage.clone()));
        v
    }
}

/// Helpers for the channel crates that read their own config section (`[telegram]`,
/// `[matrix]`): every problem is a (key, message) pair the binary locates in the file.
pub mod section {
    use std::collections::BTreeMap;

    /// A problem: the key (`telegram.rooms.water`) and what is wrong.
    pub type Problem = (String, String);

    /// An environment variable name such as `PLAZA_TELEGRAM_TOKEN`.
    pub fn is_env_name(s: &str) -> bool {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    }

    /// Reads `[SECTION.rooms]`: each key must be one of the town's `rooms`, each value
    /// what `value` accepts (else the message it returns).
    pub fn rooms<T>(
        t: &toml::Table,
        section: &str,
        rooms: &[String],
        problems: &mut Vec<Problem>,
        value: impl Fn(&toml::Value) -> Result<T, String>,
    ) -> BTreeMap<String, T> {
        let mut out = BTreeMap::new();
        match t.get("rooms") {
            Some(toml::Value::Table(rt)) => {
                for (name, v) in rt {
                    let key = format!("{section}.rooms.{name}");
                    if !rooms.contains(name) {
                        problems.push((key, format!("unknown room (rooms: {})", rooms.join(", "))));
                        continue;
                    }
                    match value(v) {
                        Ok(x) => {
                            out.insert(name.clone(), x);
                        }
                        Err(m) => problems.push((key, m)),
                    }
                }
            }
            Some(_) => problems.push((format!("{section}.rooms"), "must be a table: room name = where it is".into())),
            None => {}
        }
        out
    }

    /// Reports keys the section does not know.
    pub fn unknown_keys(t: &toml::Table, section: &str, known: &[&str], problems: &mut Vec<Problem>) {
        for k in t.keys() {
            if !known.contains(&k.as_str()) {
                problems.push((format!("{section}.{k}"), format!("unknown key (known: {})", known.join(", "))));
            }
        }
    }
}

fn check_localized(err: &mut impl FnMut(String, String), key: &str, names: &Localized, langs: &BTreeSet<&str>) {
    for l in langs {
        if !names.contains_key(*l) {
            err(key.to_owned(), format!("missing the `{l}` name"));
        }
    }
    for l in names.keys() {
        if !langs.contains(l.as_str()) {
            err(format!("{key}.{l}"), format!("`{l}` is not in town.languages"));
        }
    }
}

/// What every identity must be, whatever its channel (each messenger's adapter checks
/// its own shape: `plaza check`).
fn check_identity(i: &Identity) -> Result<(), String> {
    if i.id().chars().any(char::is_whitespace) { Err(format!("`{i}`: an identity has no spaces")) } else { Ok(()) }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[town]
name = "Test"
default_language = "es"
languages = ["es", "en"]

[[crew]]
id = "electricians"
name = { es = "Electricistas", en = "Electricians" }
members = ["console:luis"]

[[category]]
id = "lighting"
name = { es = "Alumbrado", en = "Lighting" }
crew = "electricians"
visibility = "public"
keywords = { es = ["farola"], en = ["streetlight"] }
"#;

    #[test]
    fn minimal_config_parses() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.categories[0].crew, "electricians");
        assert_eq!(c.crews_of(&"console:luis".parse().unwrap()), vec!["electricians"]);
    }

    /// Open311 clients name a category by its `service_code` (its id when unset); two
    /// categories must not answer to one code, whether set or taken from an id.
    #[test]
    fn service_codes_name_one_category_each() {
        let second = "\n[[category]]\nid = \"lamps\"\nname = { es = \"Faroles\", en = \"Lamps\" }\n\
                      crew = \"electricians\"\nvisibility = \"public\"\nkeywords = { es = [\"farol\"] }\n";
        let c = Config::parse(&format!("{MINIMAL}service_code = \"001\"\n{second}")).unwrap();
        assert_eq!(c.open311_category("001").map(|c| c.id.as_str()), Some("lighting"));
        assert_eq!(c.open311_category("lamps").map(|c| c.id.as_str()), Some("lamps"));
        assert!(c.open311_category("lighting").is_none(), "the id is not a code once a code is set");
        for (code, key, why) in [
            ("lamps", "category[1].service_code", "`lamps` is used by category `lighting` too"),
            (" 001", "category[0].service_code", "start or end with a space"),
        ] {
            let errs = Config::parse(&format!("{MINIMAL}service_code = \"{code}\"\n{second}")).unwrap_err();
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!((errs[0].key.as_str(), errs[0].line.is_some()), (key, true), "{errs:?}");
            assert!(errs[0].message.contains(why), "{errs:?}");
        }
    }

    #[test]
    fn unknown_crew_names_key_and_line() {
        let text = MINIMAL.replace("crew = \"electricians\"", "crew = \"plumbers\"");
        let errs = Config::parse(&text).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].key, "category[0].crew");
        assert_eq!(errs[0].line, Some(15));
        assert!(errs[0].message.contains("plumbers"));
    }

    #[test]
    fn syntax_and_type_errors_name_the_line() {
        let text = MINIMAL.replace("visibility = \"public\"", "visibility = \"secret\"");
        let errs = Config::parse(&text).unwrap_err();
        assert_eq!(errs[0].line, Some(16), "{errs:?}");
        assert_eq!(errs[0].key, "category[0].visibility", "{errs:?}");

        let text = MINIMAL.replace("name = \"Test\"", "name = \"Test");
        let errs = Config::parse(&text).unwrap_err();
        assert_eq!(errs[0].line, Some(3), "{errs:?}");

        let text = MINIMAL.replace("members = [\"console:luis\"]", "members = [\"luis\"]");
        let errs = Config::parse(&text).unwrap_err();
        assert_eq!(errs[0].line, Some(10), "{errs:?}");
        assert_eq!(errs[0].key, "crew[0].members", "{errs:?}");
        assert!(errs[0].message.contains("CHANNEL:ID"), "{errs:?}");
    }

    #[test]
    fn unknown_key_is_reported() {
        let text = MINIMAL.replace("[town]\n", "[town]\ncolour = \"red\"\n");
        let errs = Config::parse(&text).unwrap_err();
        assert!(errs[0].message.contains("colour"), "{errs:?}");
        assert_eq!(errs[0].line, Some(3), "{errs:?}");
    }

    #[test]
    fn several_errors_at_once() {
        let text = MINIMAL
            .replace("default_language = \"es\"", "default_language = \"fr\"")
            .replace("crew = \"electricians\"", "crew = \"nobody\"");
        let errs = Config::parse(&text).unwrap_err();
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"town.default_language"), "{keys:?}");
        assert!(keys.contains(&"category[0].crew"), "{keys:?}");
    }
}
