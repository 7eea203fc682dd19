//! How well Plaza understands residents: a corpus of realistic messages per town
//! (tests/corpus/TOWN.txt: typos, colloquial words, indirect private reports, questions
//! that are not reports), each sent as the first message of a new resident through the
//! real engine. When the bot asks where, the resident names a street; the outcome is
//! scored against what a person at the town hall would do. Prints accuracy per expected
//! label and overall (the figure in docs/BENCHMARKS.md) and fails below 95 %, if a
//! private report reaches a public category, if a report that needs a place has none, or
//! if a complete report takes more than three bot turns.

use std::collections::BTreeMap;
use std::sync::Arc;

use plaza_core::channel::{Chat, Destination, Outgoing};
use plaza_core::model::{Identity, Visibility};

use crate::harness::{Bot, Town, fast_tempdir};
use crate::repo;

/// What became of one message.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Task { category: Option<String>, private: bool, placed: bool },
    Menu,
    Answered,
}

fn texts_to(out: &[Outgoing], who: &Identity) -> Vec<String> {
    out.iter().filter(|o| o.to == Destination::Direct(who.clone())).map(|o| o.text.clone()).collect()
}

async fn outcome(bot: &mut Bot, town: &Town, who: &Identity, message: &str, place: &str) -> (Outcome, usize) {
    let asks =
        |id: &str| -> Vec<String> { town.cfg.town.languages.iter().map(|l| town.locales.text(l, id, &[])).collect() };
    let (where_q, vague_q, menu_q) = (asks("ask-location"), asks("ask-location-vague"), asks("ask-category"));
    let mut turns = 0;
    let mut text = message.to_owned();
    for _ in 0..3 {
        let out = bot.say(who, Chat::Direct, None, text.clone()).await;
        let replies = texts_to(&out, who);
        turns += replies.len();
        // From the database: a duplicate is closed at once, and a town may keep no closed
        // task in memory.
        let query = plaza_core::store::TaskQuery { reporter: Some(who.clone()), ..Default::default() };
        let mine = bot.engine.store().tasks(&query).await.expect("tasks").into_iter().next();
        if let Some(t) = mine {
            let private = t.visibility == Visibility::Private;
            return (Outcome::Task { category: t.category.clone(), private, placed: t.place.is_known() }, turns);
        }
        let last = replies.last().cloned().unwrap_or_default();
        if where_q.contains(&last) || vague_q.contains(&last) {
            text = place.to_owned();
            continue;
        }
        if menu_q.iter().any(|m| last.starts_with(m.as_str())) {
            return (Outcome::Menu, turns);
        }
        return (Outcome::Answered, turns);
    }
    (Outcome::Answered, turns)
}

fn right(cfg: &plaza_core::Config, expected: &str, got: &Outcome) -> bool {
    match (expected, got) {
        ("question", Outcome::Answered) => true,
        ("ask", Outcome::Menu) => true,
        ("ask", Outcome::Task { category: None, .. }) => true,
        ("private", Outcome::Task { category, private: true, .. }) => {
            category.as_deref().is_none_or(|c| cfg.category(c).is_some_and(|c| c.visibility == Visibility::Private))
        }
        (cat, Outcome::Task { category: Some(c), .. }) => c == cat,
        _ => false,
    }
}

fn score(town_file: &str, corpus_file: &str, place: &str, at_least: f64) -> f64 {
    let town = Arc::new(Town::load(&repo().join(town_file)));
    let corpus = std::fs::read_to_string(repo().join(corpus_file)).expect("corpus");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = fast_tempdir("plaza-corpus");
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut wrong = Vec::new();
    let mut problems = Vec::new();
    rt.block_on(async {
        let mut bot = Bot::start(&town, dir.path()).await;
        for (i, line) in corpus.lines().filter(|l| !l.starts_with('#') && l.contains('|')).enumerate() {
            let (expected, message) = line.split_once('|').map(|(a, b)| (a.trim(), b.trim())).expect("line");
            let who = Identity::new("console", format!("r{i}"));
            let (got, turns) = outcome(&mut bot, &town, &who, message, place).await;
            let ok = right(&town.cfg, expected, &got);
            let e = per.entry(expected.to_owned()).or_default();
            e.0 += ok as usize;
            e.1 += 1;
            if !ok {
                wrong.push(format!("  expected {expected:<13} got {got:?}: {message}"));
            }
            // The worst error: something private posted in public.
            if expected == "private" && matches!(&got, Outcome::Task { private: false, .. }) {
                problems.push(format!("PRIVATE REPORT MADE PUBLIC: {message}"));
            }
            if let Outcome::Task { category: Some(c), placed, .. } = &got
                && town.cfg.category(c).is_some_and(|c| c.needs_location)
                && !placed
            {
                problems.push(format!("a report without a place was not asked for one: {message}"));
            }
            if matches!(got, Outcome::Task { .. }) && turns > 3 {
                problems.push(format!("{turns} bot turns for one report: {message}"));
            }
        }
    });
    let (ok, all) = per.values().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    let accuracy = ok as f64 / all as f64;
    println!("{corpus_file}: {ok}/{all} routed right ({:.1} %)", accuracy * 100.0);
    for (label, (k, n)) in &per {
        println!("  {label:<13} {k}/{n} ({:.0} %)", *k as f64 * 100.0 / *n as f64);
    }
    for w in &wrong {
        println!("{w}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(all >= 25, "the corpus is too small");
    assert!(
        accuracy >= at_least,
        "{corpus_file}: {:.1} % routed right, below {:.0} %:\n{}",
        accuracy * 100.0,
        at_least * 100.0,
        wrong.join("\n")
    );
    accuracy
}

#[test]
fn jun_residents_are_understood() {
    score("config/jun.toml", "tests/corpus/jun.txt", "calle Mayor 7", 0.95);
}

#[test]
fn a_second_towns_residents_are_understood() {
    score("tests/towns/kilbride.toml", "tests/corpus/kilbride.txt", "Mill Road 7", 0.95);
}

/// Wording the keywords were never tuned on: a lower bar, the same privacy rules.
#[test]
fn held_out_messages_are_mostly_understood() {
    score("config/jun.toml", "tests/corpus/jun-heldout.txt", "calle Mayor 7", 0.75);
}
