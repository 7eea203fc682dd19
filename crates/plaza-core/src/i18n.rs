//! Every text a resident, a neighbour or a crew reads comes from Fluent files
//! (`config/locales/LANG.ftl`), keyed by stable message ids.

use std::collections::HashMap;
use std::path::Path;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// Message ids the engine uses; every locale must define them all.
pub const REQUIRED: &[&str] = &[
    "help",
    "empty-message",
    "too-long",
    "ack-created",
    "ack-duplicate",
    "ack-triage",
    "ask-category",
    "ask-category-choice",
    "ask-category-other",
    "ask-category-bad-choice",
    "ask-location",
    "ask-problem-for-location",
    "ask-problem-for-attachment",
    "location-added",
    "attachment-added",
    "dialogue-cancelled",
    "task-card",
    "task-card-private",
    "task-card-actions",
    "triage-card",
    "public-post",
    "status-open",
    "status-acknowledged",
    "status-in_progress",
    "status-resolved",
    "status-closed",
    "close-unable",
    "close-duplicate",
    "close-spam",
    "close-other",
    "notify-acknowledged",
    "notify-in-progress",
    "notify-resolved",
    "notify-closed",
    "notify-reopened",
    "notify-note",
    "notify-assigned",
    "notify-comment",
    "notify-me-too-thanks",
    "crew-confirm",
    "crew-note-saved",
    "refuse-not-crew",
    "refuse-other-crew",
    "refuse-not-dispatcher",
    "unknown-task",
    "unknown-command",
    "unknown-category",
    "bad-transition",
    "task-status",
    "language-set",
    "elapsed-minutes",
    "elapsed-hours",
    "elapsed-days",
    "elapsed-less-than-minute",
    "button-claim",
    "button-done",
    "button-me-too",
    "note-line",
    "crew-duplicate-linked",
    "ask-which-task",
    "button-note",
    "note-how",
    "public-withdrawn",
    "notify-now-private",
    "confirm-public",
    "private-text",
    "dialogue-dropped",
    "ask-location-again",
    "crew-possibly-related",
    "erase-confirm",
    "erase-cancelled",
    "erase-done",
    "data-export-header",
    "data-export-language",
    "data-export-task",
    "data-export-following",
    "data-export-event",
    "data-export-dialogue",
    "data-export-nothing",
    "data-export-footer",
    "thanks-reply",
    "confirm-ask",
    "button-fixed",
    "button-not-fixed",
    "confirm-thanks-rate",
    "rate-thanks",
    "crew-not-fixed",
    "crew-not-fixed-plain",
    "confirm-reopened",
    "confirm-closed-silent",
    "crew-thanks",
    "public-credit",
    "refuse-other-district",
    "district-none",
    "data-export-notices",
    "public-how-reply",
    "public-how-typed",
    "credit-on",
    "credit-off",
    "credit-how",
    "ok-reply",
    "status-none-open",
    "not-a-report",
    "status-anything-else",
    "ask-location-vague",
    "location-updated",
    "crew-location-updated",
    "detail-added",
    "crew-detail",
    "please-write",
    "ask-location-offer",
    "too-many-reports",
    "flood-warning",
    "refuse-reaction",
];

#[derive(Debug, thiserror::Error)]
pub enum LocaleError {
    #[error("{file}: cannot read: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file}: line {line}: {message}")]
    Syntax { file: String, line: usize, message: String },
    #[error("{file}: missing message `{id}`")]
    Missing { file: String, id: String },
    #[error("`{0}` is not a language code")]
    BadLanguage(String),
}

pub struct Locales {
    bundles: HashMap<String, FluentBundle<FluentResource>>,
    default: String,
}

impl std::fmt::Debug for Locales {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locales").field("languages", &self.bundles.keys()).finish()
    }
}

/// A value for a message placeable.
pub enum Arg<'a> {
    Str(&'a str),
    Num(i64),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Str(s)
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Str(s)
    }
}
impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Num(n)
    }
}

impl Locales {
    /// Loads `DIR/LANG.ftl` for each language and checks that each has every message in
    /// `REQUIRED` plus `extra` (the plugins' messages). Returns every problem found.
    pub fn load(dir: &Path, languages: &[String], default: &str, extra: &[&str]) -> Result<Locales, Vec<LocaleError>> {
        let mut errors = Vec::new();
        let mut sources = Vec::new();
        for lang in languages {
            let path = dir.join(format!("{lang}.ftl"));
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((lang.clone(), path.display().to_string(), text)),
                Err(source) => errors.push(LocaleError::Read { file: path.display().to_string(), source }),
            }
        }
        match Self::from_sources(&sources, default, extra) {
            Ok(l) if errors.is_empty() => Ok(l),
            Ok(_) => Err(errors),
            Err(mut e) => {
                errors.append(&mut e);
                Err(errors)
            }
        }
    }

    /// Builds from (language, file name for messages, FTL text).
    pub fn from_sources(
        sources: &[(String, String, String)],
        default: &str,
        extra: &[&str],
    ) -> Result<Locales, Vec<LocaleError>> {
        let mut errors = Vec::new();
        let mut bundles = HashMap::new();
        for (lang, file, text) in sources {
            let id: unic_langid::LanguageIdentifier = match lang.parse() {
                Ok(id) => id,
                Err(_) => {
                    errors.push(LocaleError::BadLanguage(lang.clone()));
                    continue;
                }
            };
            let res = match FluentResource::try_new(text.clone()) {
                Ok(r) => r,
                Err((r, errs)) => {
                    for e in errs {
                        let line = text[..e.pos.start.min(text.len())].matches('\n').count() + 1;
                        errors.push(LocaleError::Syntax { file: file.clone(), line, message: format!("{:?}", e.kind) });
                    }
                    r
                }
            };
            let mut bundle = FluentBundle::new_concurrent(vec![id]);
            bundle.set_use_isolating(false);
            if let Err(errs) = bundle.add_resource(res) {
                for e in errs {
                    errors.push(LocaleError::Syntax { file: file.clone(), line: 0, message: e.to_string() });
                }
            }
            for id in REQUIRED.iter().chain(extra) {
                if !bundle.has_message(id) {
                    errors.push(LocaleError::Missing { file: file.clone(), id: (*id).to_owned() });
                }
            }
            bundles.insert(lang.clone(), bundle);
        }
        if errors.is_empty() { Ok(Locales { bundles, default: default.to_owned() }) } else { Err(errors) }
    }

    pub fn has_language(&self, lang: &str) -> bool {
        self.bundles.contains_key(lang)
    }

    /// Formats message `id` in `lang` (falling back to the default language).
    pub fn text(&self, lang: &str, id: &str, args: &[(&str, Arg<'_>)]) -> String {
        let bundle = match self.bundles.get(lang).filter(|b| b.has_message(id)) {
            Some(b) => b,
            None => match self.bundles.get(&self.default) {
                Some(b) => b,
                None => return id.to_owned(),
            },
        };
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            return id.to_owned();
        };
        let mut fargs = FluentArgs::new();
        for (k, v) in args {
            match v {
                Arg::Str(s) => fargs.set(*k, FluentValue::from(*s)),
                Arg::Num(n) => fargs.set(*k, FluentValue::from(*n)),
            }
        }
        let mut errs = Vec::new();
        let out = bundle.format_pattern(pattern, Some(&fargs), &mut errs);
        if !errs.is_empty() {
            tracing::warn!(lang, id, ?errs, "locale message formatted with errors");
        }
        out.into_owned()
    }
}
