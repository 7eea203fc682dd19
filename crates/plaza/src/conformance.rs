//! The conformance kit: what every messenger adapter must do for a town, written once and
//! run against each channel (console, Telegram, e-mail, an adapter in the tests; a town
//! runs it on its own with a [`Driver`] of a few lines, see docs/ADAPTERS.md).
//!
//! Scenarios: a report is acknowledged with a number; the crew takes it and fixes it and
//! the resident hears both; a neighbour answers in the public room and the reporter reads
//! it; a neighbour supports it ("me too") and is thanked; a private report never reaches
//! the public room; a restart neither loses nor repeats a message; a burst of reports
//! from different residents gets one acknowledgement each, with distinct numbers.
//!
//! The kit speaks through a [`Script`]: a town's own words (its language, its crew, its
//! streets), so it runs on any town's config.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// Who writes. The driver maps each to an account on its platform; the crew member
/// must be in the script's crew, the neighbour in the public room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Person {
    /// Residents 0, 1, 2…: none staff.
    Resident(u8),
    /// A neighbour in the public room (not staff).
    Neighbour,
    /// A member of the script's crew.
    Crew,
}

/// How the kit drives one channel.
#[async_trait]
pub trait Driver: Send {
    /// A person writes to the bot in their direct chat.
    async fn direct(&mut self, who: Person, text: &str);
    /// A person writes in a room (`public`, a crew's id), not as a reply.
    async fn in_room(&mut self, room: &str, who: Person, text: &str);
    /// What the bot has sent so far to the person's direct chat (texts, oldest first;
    /// a split message may be several).
    async fn sent_to(&mut self, who: Person) -> Vec<String>;
    /// What the bot has sent so far to a room (texts, oldest first; edits may be new
    /// entries or replace old ones).
    async fn sent_to_room(&mut self, room: &str) -> Vec<String>;
    /// Stops the bot and starts it again on the same database; returns when it runs.
    async fn restart(&mut self);
}

/// A town's words for the scenarios.
#[derive(Debug, Clone)]
pub struct Script {
    /// A public report that goes to `crew_room`, e.g. "the streetlight on Church Street 4 is out".
    pub report: String,
    /// Other public reports of the same kind on other streets, for the burst.
    pub reports: Vec<String>,
    /// A report that is private (it goes to a crew, never to the public room).
    pub private_report: String,
    /// The crew room `report` goes to.
    pub crew_room: String,
    /// `{}` is the task number: "claim #{}", "done #{}", "me too #{}", "#{} answer".
    pub claim: String,
    pub done: String,
    pub me_too: String,
    /// A neighbour's answer: "#{} it has been out since Friday"; its text after the
    /// number must reach the reporter.
    pub answer: String,
    /// What a neighbour first writes to the bot (opens a direct chat).
    pub greeting: String,
}

impl Script {
    /// Jun (config/jun.toml), in Spanish.
    pub fn jun() -> Script {
        Script {
            report: "La farola de la calle Real 3 está apagada".into(),
            reports: ["calle Mayor 2", "calle Nueva 5", "calle Sol 7", "calle Luna 9", "calle Olivo 11"]
                .iter()
                .map(|s| format!("La farola de la {s} no funciona"))
                .collect(),
            private_report: "Hay un hombre sospechoso probando las puertas de los coches en la calle Ancha 2".into(),
            crew_room: "electricians".into(),
            claim: "tomo #{}".into(),
            done: "hecho #{}".into(),
            me_too: "yo también #{}".into(),
            answer: "#{} lleva así desde el viernes".into(),
            greeting: "Hola".into(),
        }
    }

    /// Kilbride (tests/towns/kilbride.toml), in English.
    pub fn kilbride() -> Script {
        Script {
            report: "the streetlight on Church Street 4 is out".into(),
            reports: ["Mill Lane 2", "Quay Street 5", "Bridge Road 7", "High Street 9", "Station Road 11"]
                .iter()
                .map(|s| format!("the streetlight on {s} is out"))
                .collect(),
            private_report: "a suspicious man is trying car doors on Park Road 2".into(),
            crew_room: "lamps".into(),
            claim: "claim #{}".into(),
            done: "done #{}".into(),
            me_too: "me too #{}".into(),
            answer: "#{} it has been out since Friday".into(),
            greeting: "Hello".into(),
        }
    }

    fn with(template: &str, n: u32) -> String {
        template.replace("{}", &n.to_string())
    }
}

/// How long the kit waits for an answer (a platform's own delays included).
pub const WAIT: Duration = Duration::from_secs(30);

/// The task numbers a text names (`#12`).
pub fn numbers(text: &str) -> Vec<u32> {
    text.split('#').skip(1).filter_map(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()).collect()
}

/// Whose messages to look at.
#[derive(Debug, Clone, Copy)]
enum To<'a> {
    Direct(Person),
    Room(&'a str),
}

async fn sent(d: &mut dyn Driver, to: To<'_>) -> Vec<String> {
    match to {
        To::Direct(who) => d.sent_to(who).await,
        To::Room(room) => d.sent_to_room(room).await,
    }
}

/// Waits until what `to` got satisfies `ok`; panics after [`WAIT`] with what it got.
async fn wait(d: &mut dyn Driver, to: To<'_>, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = sent(d, to).await;
        if ok(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "{to:?} never got {what}; got: {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_direct(d: &mut dyn Driver, who: Person, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    wait(d, To::Direct(who), what, ok).await
}

async fn wait_room(d: &mut dyn Driver, room: &str, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    wait(d, To::Room(room), what, ok).await
}

/// Waits until what `who` got has not changed for a second (the last of a few messages
/// may still be on its way); returns it.
async fn settled(d: &mut dyn Driver, who: Person) -> Vec<String> {
    let mut last = d.sent_to(who).await;
    let mut since = Instant::now();
    let deadline = Instant::now() + WAIT;
    while since.elapsed() < Duration::from_secs(1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = d.sent_to(who).await;
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

/// Reports `text` as `who` and returns the number of its task, from the acknowledgement.
async fn report(d: &mut dyn Driver, who: Person, text: &str) -> u32 {
    let before = d.sent_to(who).await.len();
    d.direct(who, text).await;
    let got = wait_direct(d, who, "an acknowledgement with a number", |g| {
        g[before.min(g.len())..].iter().any(|t| !numbers(t).is_empty())
    })
    .await;
    let n = got[before..].iter().find_map(|t| numbers(t).first().copied());
    n.unwrap_or_else(|| panic!("no number in {got:?}"))
}

/// Runs every scenario in order on a fresh town (no task yet). Panics with what went
/// wrong; returns the number of checks that passed.
pub async fn run(d: &mut dyn Driver, s: &Script) -> usize {
    let mut checks = 0;
    let ana = Person::Resident(0);

    // 1. A report is acknowledged with a number; the crew's room gets it.
    let n = report(d, ana, &s.report).await;
    let tag = format!("#{n}");
    wait_room(d, &s.crew_room, "the new task", |g| g.iter().any(|t| t.contains(&tag))).await;
    checks += 1;

    // 2. The crew takes it: the resident hears of it.
    let heard = d.sent_to(ana).await.len();
    d.in_room(&s.crew_room, Person::Crew, &Script::with(&s.claim, n)).await;
    wait_direct(d, ana, "news that the crew took it", |g| g[heard.min(g.len())..].iter().any(|t| t.contains(&tag)))
        .await;
    checks += 1;

    // 3. A neighbour answers in the public room: the reporter reads it.
    let answer = Script::with(&s.answer, n);
    let words = answer.trim_start_matches(&tag).trim().to_owned();
    d.in_room("public", Person::Neighbour, &answer).await;
    wait_direct(d, ana, "the neighbour's answer", |g| g.iter().any(|t| t.contains(&words))).await;
    checks += 1;

    // 4. "Me too": the neighbour (who has a chat with the bot) is thanked.
    d.direct(Person::Neighbour, &s.greeting).await;
    wait_direct(d, Person::Neighbour, "an answer to the greeting", |g| !g.is_empty()).await;
    let had = d.sent_to(Person::Neighbour).await.len();
    d.in_room("public", Person::Neighbour, &Script::with(&s.me_too, n)).await;
    wait_direct(d, Person::Neighbour, "thanks for the support", |g| {
        g[had.min(g.len())..].iter().any(|t| t.contains(&tag))
    })
    .await;
    checks += 1;

    // 5. Fixed: the resident hears it.
    let heard = d.sent_to(ana).await.len();
    d.in_room(&s.crew_room, Person::Crew, &Script::with(&s.done, n)).await;
    wait_direct(d, ana, "news that it is fixed", |g| g[heard.min(g.len())..].iter().any(|t| t.contains(&tag))).await;
    checks += 1;

    // 6. A private report: acknowledged, never in the public room.
    let bea = Person::Resident(1);
    let p = report(d, bea, &s.private_report).await;
    let ptag = format!("#{p}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let public = d.sent_to_room("public").await;
    assert!(
        !public.iter().any(|t| numbers(t).contains(&p) || t.contains(&s.private_report)),
        "the private report {ptag} reached the public room: {public:?}"
    );
    checks += 1;

    // 7. A restart: nothing lost, nothing repeated; numbering goes on.
    let before: Vec<Vec<String>> =
        vec![settled(d, ana).await, settled(d, bea).await, settled(d, Person::Neighbour).await];
    d.restart().await;
    let cy = Person::Resident(2);
    let m = report(d, cy, &s.reports[0]).await;
    assert!(m > p, "numbering goes on after a restart: #{m} after #{p}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after: Vec<Vec<String>> = vec![d.sent_to(ana).await, d.sent_to(bea).await, d.sent_to(Person::Neighbour).await];
    assert_eq!(before, after, "a restart repeated or lost messages");
    checks += 1;

    // 8. A burst: one acknowledgement each, all different numbers.
    let burst: Vec<Person> = (3..3 + s.reports.len() as u8 - 1).map(Person::Resident).collect();
    for (who, text) in burst.iter().zip(&s.reports[1..]) {
        d.direct(*who, text).await;
    }
    let mut seen = BTreeSet::new();
    for who in &burst {
        let got = wait_direct(d, *who, "an acknowledgement", |g| g.iter().any(|t| !numbers(t).is_empty())).await;
        let acks: Vec<u32> = got.iter().filter_map(|t| numbers(t).first().copied()).collect();
        assert_eq!(acks.len(), 1, "{who:?} got one acknowledgement, not {got:?}");
        assert!(seen.insert(acks[0]), "#{} given twice", acks[0]);
    }
    checks += 1;
    checks
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_in_a_text() {
        assert_eq!(super::numbers("Tu aviso #12 (Alumbrado) y #3."), vec![12, 3]);
        assert_eq!(super::numbers("no number # here"), Vec::<u32>::new());
    }
}
