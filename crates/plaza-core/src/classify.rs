//! Free text → category, by multilingual keywords from the config, with a confidence.
//! Also tells which of the town's languages a message is written in.

use std::collections::{HashMap, HashSet};

use crate::config::Config;
use crate::text::{contains_phrase, stem, words};

#[derive(Debug, Clone, PartialEq)]
pub enum Classification {
    /// One category clearly wins.
    Confident { category: String, confidence: f64 },
    /// Several categories fit about as well, best first.
    Ambiguous { candidates: Vec<String> },
    /// Nothing fits.
    Unknown,
}

/// A message that speaks of something private.
#[derive(Debug, Clone, PartialEq)]
pub enum PrivateMatch {
    /// One private category matches: the report goes there.
    One(String),
    /// Several do: the report goes to triage, private.
    Several,
}

#[derive(Debug)]
struct CategoryWords {
    id: String,
    private: bool,
    /// (language, phrase as folded words)
    phrases: Vec<(String, Vec<String>)>,
}

#[derive(Debug)]
pub struct Classifier {
    categories: Vec<CategoryWords>,
    markers: HashMap<String, HashSet<String>>,
    languages: Vec<String>,
    threshold: f64,
}

impl Classifier {
    pub fn new(cfg: &Config) -> Self {
        let categories = cfg
            .categories
            .iter()
            .map(|c| CategoryWords {
                id: c.id.clone(),
                private: c.visibility == crate::model::Visibility::Private,
                phrases: c
                    .keywords
                    .iter()
                    .flat_map(|(lang, ws)| ws.iter().map(move |w| (lang.clone(), words(w))))
                    .filter(|(_, p)| !p.is_empty())
                    .collect(),
            })
            .collect();
        let markers = cfg
            .language
            .iter()
            .map(|(l, h)| {
                let all = h.markers.iter().chain(&h.greetings).chain(&h.me_too).chain(&h.cancel);
                (l.clone(), all.flat_map(|m| words(m)).collect())
            })
            .collect();
        Classifier {
            categories,
            markers,
            languages: cfg.town.languages.clone(),
            threshold: cfg.engine.confidence_threshold,
        }
    }

    fn scores(&self, text_words: &[String]) -> Vec<(usize, f64, HashMap<String, f64>)> {
        self.categories
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut total = 0.0;
                let mut by_lang: HashMap<String, f64> = HashMap::new();
                for (lang, p) in &c.phrases {
                    if contains_phrase(text_words, p) {
                        // Longer phrases are more telling.
                        let w = p.len() as f64;
                        total += w;
                        *by_lang.entry(lang.clone()).or_default() += w;
                    }
                }
                (i, total, by_lang)
            })
            .collect()
    }

    /// Reads a text once: its words and what every category's keywords make of it. The
    /// `*_read` methods answer from a reading, so a message is scanned once however many
    /// questions are asked of it.
    pub fn read(&self, text: &str) -> Reading {
        let words = words(text);
        let scores = self.scores(&words);
        Reading { words, scores }
    }

    pub fn classify(&self, text: &str) -> Classification {
        self.classify_read(&self.read(text))
    }

    pub fn classify_read(&self, r: &Reading) -> Classification {
        let mut scored: Vec<(usize, f64)> =
            r.scores.iter().filter(|(_, s, _)| *s > 0.0).map(|(i, s, _)| (*i, *s)).collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        match scored.as_slice() {
            [] => Classification::Unknown,
            [(i, _)] => Classification::Confident { category: self.categories[*i].id.clone(), confidence: 1.0 },
            [(i, best), (_, second), ..] => {
                let confidence = best / (best + second);
                if confidence >= self.threshold && best > second {
                    Classification::Confident { category: self.categories[*i].id.clone(), confidence }
                } else {
                    Classification::Ambiguous {
                        candidates: scored.iter().map(|(i, _)| self.categories[*i].id.clone()).collect(),
                    }
                }
            }
        }
    }

    /// Privacy wins over majority: if any private category's keywords occur in the text,
    /// however many public ones occur too, the message is private.
    pub fn private_match(&self, text: &str) -> Option<PrivateMatch> {
        self.private_match_read(&self.read(text))
    }

    pub fn private_match_read(&self, r: &Reading) -> Option<PrivateMatch> {
        // A category scores when one of its phrases occurs.
        let hits: Vec<&str> = r
            .scores
            .iter()
            .filter(|(i, s, _)| *s > 0.0 && self.categories[*i].private)
            .map(|(i, _, _)| self.categories[*i].id.as_str())
            .collect();
        match hits.as_slice() {
            [] => None,
            [one] => Some(PrivateMatch::One((*one).to_owned())),
            _ => Some(PrivateMatch::Several),
        }
    }

    /// The language the text is written in, if the markers and keywords tell; else None.
    pub fn detect_language(&self, text: &str) -> Option<String> {
        self.detect_language_scored(text).map(|(l, _)| l)
    }

    /// The language and how many of its words the text has (markers and keywords).
    pub fn detect_language_scored(&self, text: &str) -> Option<(String, f64)> {
        self.detect_language_read(&self.read(text))
    }

    pub fn detect_language_read(&self, r: &Reading) -> Option<(String, f64)> {
        let mut score: HashMap<&str, f64> = HashMap::new();
        for w in &r.words {
            for (lang, m) in &self.markers {
                if m.contains(w) || m.contains(stem(w)) {
                    *score.entry(lang.as_str()).or_default() += 1.0;
                }
            }
        }
        for (_, _, by_lang) in &r.scores {
            for (lang, s) in by_lang {
                if let Some(l) = self.languages.iter().find(|l| *l == lang) {
                    *score.entry(l.as_str()).or_default() += s;
                }
            }
        }
        let mut v: Vec<(&str, f64)> = score.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        match v.as_slice() {
            [] => None,
            [(l, a)] => Some(((*l).to_owned(), *a)),
            [(l, a), (_, b), ..] if a > b => Some(((*l).to_owned(), *a)),
            _ => None,
        }
    }
}

/// A text as the keywords read it (see [`Classifier::read`]).
#[derive(Debug)]
pub struct Reading {
    words: Vec<String>,
    /// Per category: its index, its score, and the score per language.
    scores: Vec<(usize, f64, HashMap<String, f64>)>,
}

/// One category in [`Learned::summary`]: its id, examples (keywords included) and its
/// most frequent words with their counts.
pub type LearnedCategory = (String, u32, Vec<(String, u32)>);

/// A classifier that learns from the town: naive Bayes over folded, stemmed words. The
/// config's keywords are its prior (one small example each); every dispatcher's
/// assignment is a labelled example, learned at start from the store and online after.
/// It is consulted only where the keywords do not decide, and never overrides privacy.
#[derive(Debug, Default, Clone)]
pub struct Learned {
    /// category → (examples, word → count, total words)
    categories: HashMap<String, (u32, HashMap<String, u32>, u32)>,
    vocabulary: HashSet<String>,
    /// Words that say nothing about a category (the languages' markers).
    stop: HashSet<String>,
    /// Examples learned from assignments (not counting the keywords).
    pub learned: usize,
}

/// Features of a text: folded stems of its words, without the language's little words.
fn features(text: &str, stop: &HashSet<String>) -> Vec<String> {
    words(text).iter().map(|w| stem(w).to_owned()).filter(|w| w.chars().count() > 2 && !stop.contains(w)).collect()
}

impl Learned {
    /// A model whose prior is the config's keywords.
    pub fn new(cfg: &Config) -> Learned {
        let mut m = Learned {
            stop: cfg.language.values().flat_map(|h| h.markers.iter()).flat_map(|w| words(w)).collect(),
            ..Learned::default()
        };
        for c in &cfg.categories {
            for kws in c.keywords.values() {
                for k in kws {
                    m.add(k, &c.id);
                }
            }
        }
        m
    }

    fn add(&mut self, text: &str, category: &str) {
        let f = features(text, &self.stop);
        if f.is_empty() {
            return;
        }
        let e = self.categories.entry(category.to_owned()).or_default();
        e.0 += 1;
        for w in f {
            *e.1.entry(w.clone()).or_default() += 1;
            e.2 += 1;
            self.vocabulary.insert(w);
        }
    }

    /// One labelled example: a report's text and the category a dispatcher gave it.
    pub fn learn(&mut self, text: &str, category: &str) {
        self.add(text, category);
        self.learned += 1;
    }

    /// The most likely category and its probability, from the words the model knows;
    /// `None` if the text has none of them.
    pub fn predict(&self, text: &str) -> Option<(String, f64)> {
        let f: Vec<String> = features(text, &self.stop).into_iter().filter(|w| self.vocabulary.contains(w)).collect();
        if f.is_empty() || self.categories.is_empty() {
            return None;
        }
        let docs: u32 = self.categories.values().map(|c| c.0).sum();
        let v = self.vocabulary.len() as f64;
        let mut scores: Vec<(&String, f64)> = self
            .categories
            .iter()
            .map(|(c, (n, counts, total))| {
                let prior = (f64::from(*n) / f64::from(docs.max(1))).ln();
                let like: f64 = f
                    .iter()
                    .map(|w| ((f64::from(counts.get(w).copied().unwrap_or(0)) + 1.0) / (f64::from(*total) + v)).ln())
                    .sum();
                (c, prior + like)
            })
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let best = scores[0].1;
        let z: f64 = scores.iter().map(|(_, s)| (s - best).exp()).sum();
        Some((scores[0].0.clone(), 1.0 / z))
    }

    /// What the model learned: per category, its examples and most telling words.
    pub fn summary(&self, top: usize) -> Vec<LearnedCategory> {
        let mut out: Vec<LearnedCategory> = self
            .categories
            .iter()
            .map(|(c, (n, counts, _))| {
                let mut ws: Vec<(String, u32)> = counts.iter().map(|(w, k)| (w.clone(), *k)).collect();
                ws.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                ws.truncate(top);
                (c.clone(), *n, ws)
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            r#"
[town]
name = "T"
default_language = "es"
languages = ["es", "en"]
[language.es]
markers = ["el", "la", "de", "mi", "esta", "hay", "en"]
[language.en]
markers = ["the", "my", "is", "of", "there", "in", "next", "to"]
[[crew]]
id = "c"
name = { es = "C", en = "C" }
members = ["console:c"]
[[category]]
id = "lighting"
name = { es = "Alumbrado", en = "Lighting" }
crew = "c"
visibility = "public"
keywords = { es = ["farola", "alumbrado", "luz"], en = ["streetlight", "street light", "lamp post"] }
[[category]]
id = "water"
name = { es = "Agua", en = "Water" }
crew = "c"
visibility = "public"
keywords = { es = ["fuga", "agua", "tuberia"], en = ["leak", "water", "pipe"] }
"#,
        )
        .unwrap()
    }

    #[test]
    fn confident_in_both_languages() {
        let c = Classifier::new(&cfg());
        assert!(
            matches!(c.classify("La farola de mi calle está apagada"), Classification::Confident { category, .. } if category == "lighting")
        );
        assert!(
            matches!(c.classify("The streetlight next to my house is out"), Classification::Confident { category, .. } if category == "lighting")
        );
        assert!(
            matches!(c.classify("hay una fuga de agua en la tubería"), Classification::Confident { category, .. } if category == "water")
        );
    }

    #[test]
    fn ambiguous_and_unknown() {
        let c = Classifier::new(&cfg());
        assert_eq!(
            c.classify("agua en la farola"),
            Classification::Ambiguous { candidates: vec!["lighting".into(), "water".into()] }
        );
        assert_eq!(c.classify("hay un problema aquí"), Classification::Unknown);
        assert_eq!(c.classify(""), Classification::Unknown);
    }

    #[test]
    fn learns_a_new_wording() {
        let cfg = cfg();
        let mut m = Learned::new(&cfg);
        assert_eq!(m.predict("cristales rotos en el columpio"), None, "unknown words say nothing");
        for i in 0..10 {
            m.learn(&format!("hay cristales rotos en el parque {i}"), "water");
        }
        let (c, p) = m.predict("cristales por el suelo").expect("known words");
        assert_eq!(c, "water");
        assert!(p > 0.9, "{p}");
        assert_eq!(m.learned, 10);
    }

    #[test]
    fn language() {
        let c = Classifier::new(&cfg());
        assert_eq!(c.detect_language("La farola de mi casa está apagada").as_deref(), Some("es"));
        assert_eq!(c.detect_language("The streetlight next to my house is out").as_deref(), Some("en"));
        assert_eq!(c.detect_language("ok"), None);
    }
}
