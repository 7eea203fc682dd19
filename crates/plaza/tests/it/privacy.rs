//! The privacy invariant, checked over generated sequences (proptest: seeded,
//! reproducible, a failing sequence is shrunk and printed).
//!
//! Thousands of sequences of reports (public, private, mixed, with phone numbers, e-mail
//! addresses and the reporter's name in them, lost and found animals), dialogue answers,
//! me-too, neighbours' replies, crew notes, claims, merges, reassignments,
//! `privado`/`publico`, `estado` from anyone anywhere, and data requests run on the real
//! engine, store (SQLite) and plugins, on two towns. After every step an oracle — a model
//! of its own, fed only with what the test sent — checks every message delivered:
//! - a report's text reaches, while its task may not be public, only its author, the
//!   crew of the task's current category and the dispatchers;
//! - personal data (phone, e-mail, name) in a report reaches only those, even when the
//!   task is public;
//! - a crew note reaches people outside the task's insiders only while it may be public;
//! - a resident's identity appears only in messages to that resident;
//! - `estado` from outside the audience of a private task reads exactly as for a task
//!   that does not exist.
//!
//! "May be public" in the oracle: an explicit `publico` since the last `privado`, or no
//! private word in the report, no `privado`, and a public category.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use plaza_core::channel::{Chat, Destination, InboundKind, Outgoing};
use plaza_core::model::{Identity, TaskId, Visibility};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestCaseError};

use crate::harness::{Bot, Town, fast_tempdir};
use crate::repo;

const RESIDENTS: usize = 6;
// Jun's old town, nowhere, and Kilbride's two wards (with their own desks and officers).
const STREETS: &[&str] = &["calle Real 3", "calle Luna 8", "Mill Road 4", "Harbour Road 2", "Church Street 5"];

#[derive(Debug, Clone)]
enum Kind {
    Public,
    Private,
    Mixed,
    Unclear,
    Lost,
    Found,
}

#[derive(Debug, Clone)]
enum Step {
    Report {
        who: usize,
        kind: Kind,
        cat: usize,
        street: Option<usize>,
        phone: bool,
        name: bool,
        email: bool,
    },
    AnswerWhere {
        who: usize,
        street: usize,
    },
    AnswerNumber {
        who: usize,
        n: usize,
    },
    MeToo {
        who: usize,
        task: i64,
    },
    Reply {
        who: usize,
        task: i64,
    },
    Note {
        task: i64,
    },
    Claim {
        task: i64,
    },
    Done {
        task: i64,
    },
    Merge {
        a: i64,
        b: i64,
    },
    Assign {
        task: i64,
        cat: usize,
    },
    Private {
        task: i64,
    },
    Public {
        task: i64,
        confirm: bool,
    },
    Status {
        who: usize,
        task: i64,
        in_public_room: bool,
    },
    CrewStatus {
        task: i64,
        crew: usize,
    },
    MyData {
        who: usize,
    },
    /// "Any news?", a detail minutes after a report, a corrected place (issue 8's paths);
    /// "#N?" is a question in words no town lists, about anyone's task: its asker hears
    /// of their own reports only.
    AnyNews {
        who: usize,
        about: Option<i64>,
    },
    Detail {
        who: usize,
    },
    Correction {
        who: usize,
        street: usize,
    },
    Later {
        minutes: i64,
    },
    /// The answers to "is it fixed?" (issue 12): "no" with the resident's own words (they
    /// go to the crew), "yes" or thanks (relayed to the crew), a button from anyone
    /// (the reporter, or someone who is not: refused), a rating.
    NotFixed {
        who: usize,
    },
    Fixed {
        who: usize,
        thanks: bool,
    },
    Press {
        who: usize,
        task: i64,
        which: usize,
    },
    /// A crew announces an incident (a known problem of its category, at a street or
    /// anywhere): later reports of it are joined to it, what they wrote kept for the crew.
    Announce {
        crew: usize,
        street: Option<usize>,
    },
    /// A district's dispatcher (where the town has them) acts on any task, in their
    /// district's triage room or in their direct chat (issue 12).
    WardOfficer {
        officer: usize,
        task: i64,
        action: usize,
        in_room: bool,
    },
    /// A report from an API client (Open311 POST) with its kind chosen by the client.
    ServiceRequest {
        who: usize,
        kind: Kind,
        cat: usize,
        street: Option<usize>,
        phone: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..RESIDENTS;
    let task = 1i64..10;
    prop_oneof![
        6 => (who.clone(), prop_oneof![Just(Kind::Public), Just(Kind::Private), Just(Kind::Mixed), Just(Kind::Unclear), Just(Kind::Lost), Just(Kind::Found)],
              0usize..8, proptest::option::of(0..STREETS.len()), any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(who, kind, cat, street, phone, name, email)| Step::Report { who, kind, cat, street, phone, name, email }),
        2 => (who.clone(), 0..STREETS.len()).prop_map(|(who, street)| Step::AnswerWhere { who, street }),
        1 => (who.clone(), 0usize..4).prop_map(|(who, n)| Step::AnswerNumber { who, n }),
        2 => (who.clone(), task.clone()).prop_map(|(who, task)| Step::MeToo { who, task }),
        1 => (who.clone(), task.clone()).prop_map(|(who, task)| Step::Reply { who, task }),
        2 => task.clone().prop_map(|task| Step::Note { task }),
        1 => task.clone().prop_map(|task| Step::Claim { task }),
        1 => task.clone().prop_map(|task| Step::Done { task }),
        1 => (task.clone(), task.clone()).prop_map(|(a, b)| Step::Merge { a, b }),
        2 => (task.clone(), 0usize..8).prop_map(|(task, cat)| Step::Assign { task, cat }),
        2 => task.clone().prop_map(|task| Step::Private { task }),
        2 => (task.clone(), any::<bool>()).prop_map(|(task, confirm)| Step::Public { task, confirm }),
        2 => (who.clone(), task.clone(), any::<bool>()).prop_map(|(who, task, in_public_room)| Step::Status { who, task, in_public_room }),
        1 => (task.clone(), 0usize..8).prop_map(|(task, crew)| Step::CrewStatus { task, crew }),
        1 => who.clone().prop_map(|who| Step::MyData { who }),
        1 => (who.clone(), proptest::option::of(task.clone())).prop_map(|(who, about)| Step::AnyNews { who, about }),
        2 => who.clone().prop_map(|who| Step::Detail { who }),
        1 => (who.clone(), 0..STREETS.len()).prop_map(|(who, street)| Step::Correction { who, street }),
        1 => (1i64..120).prop_map(|minutes| Step::Later { minutes }),
        // Past the time to answer "is it fixed?" (72 h in Jun, 48 h in Kilbride).
        1 => (4000i64..5000).prop_map(|minutes| Step::Later { minutes }),
        1 => who.clone().prop_map(|who| Step::NotFixed { who }),
        1 => (who.clone(), any::<bool>()).prop_map(|(who, thanks)| Step::Fixed { who, thanks }),
        1 => (who.clone(), task.clone(), 0usize..4).prop_map(|(who, task, which)| Step::Press { who, task, which }),
        1 => (0usize..8, proptest::option::of(0..STREETS.len())).prop_map(|(crew, street)| Step::Announce { crew, street }),
        2 => (0usize..4, task.clone(), 0usize..5, any::<bool>())
            .prop_map(|(officer, task, action, in_room)| Step::WardOfficer { officer, task, action, in_room }),
        2 => (who.clone(), prop_oneof![Just(Kind::Public), Just(Kind::Private), Just(Kind::Mixed)], 0usize..8,
              proptest::option::of(0..STREETS.len()), any::<bool>())
            .prop_map(|(who, kind, cat, street, phone)| Step::ServiceRequest { who, kind, cat, street, phone }),
    ]
}

fn resident(i: usize) -> Identity {
    Identity::new("console", format!("vecina{i}x"))
}

/// What the oracle remembers of one report.
#[derive(Debug, Clone)]
struct Report {
    author: Identity,
    sensitive: bool,
    personal: Vec<String>,
}

#[derive(Default)]
struct Oracle {
    /// Report marker → the report.
    reports: HashMap<String, Report>,
    /// Note marker → its task.
    notes: HashMap<String, TaskId>,
    explicit_public: HashSet<TaskId>,
    explicit_private: HashSet<TaskId>,
}

struct Run {
    town: Arc<Town>,
    bot: Bot,
    oracle: Oracle,
    log: Vec<String>,
    /// The tasks as stored after the last step: the truth the oracle judges by (the
    /// engine's memory holds only open and recently closed ones).
    tasks: HashMap<TaskId, plaza_core::model::Task>,
}

impl Run {
    async fn start(town: Arc<Town>, dir: &std::path::Path) -> Run {
        let bot = Bot::start(&town, dir).await;
        Run { town, bot, oracle: Oracle::default(), log: vec![], tasks: HashMap::new() }
    }

    async fn refresh(&mut self) {
        let all = self.bot.engine.store().tasks(&Default::default()).await.expect("tasks");
        self.tasks = all.into_iter().map(|t| (t.id, t)).collect();
    }

    fn task(&self, t: TaskId) -> Option<plaza_core::model::Task> {
        self.tasks.get(&t).cloned()
    }

    async fn say(&mut self, who: &Identity, chat: Chat, reply_to: Option<String>, text: String) -> Vec<Outgoing> {
        self.log.push(format!("{who} {chat:?} {reply_to:?}: {text}"));
        let out = self.bot.say(who, chat, reply_to, text).await;
        self.refresh().await;
        out
    }

    fn crew_of(&self, t: TaskId) -> Option<String> {
        self.task(t).and_then(|t| t.crew)
    }

    /// The oracle's own judgement: may this task's text be public now?
    fn may_be_public(&self, t: TaskId) -> bool {
        if self.oracle.explicit_public.contains(&t) {
            return true;
        }
        let Some(task) = self.task(t) else { return false };
        let sensitive = self.oracle.reports.iter().any(|(m, r)| {
            r.sensitive
                && (task.description.contains(m.as_str())
                    || task.place.street.as_deref().is_some_and(|s| s.contains(m.as_str())))
        });
        let cat_public = task
            .category
            .as_deref()
            .and_then(|c| self.town.cfg.category(c))
            .is_some_and(|c| c.visibility == Visibility::Public);
        !sensitive && !self.oracle.explicit_private.contains(&t) && cat_public
    }

    fn insider(&self, to: &Destination, t: Option<TaskId>, author: Option<&Identity>) -> bool {
        let crew = t.and_then(|t| self.crew_of(t));
        // The district by the config from where the task is, not from what the engine
        // recorded: its desk and officers are insiders, no other district's.
        let cfg = &self.town.cfg;
        let district = t.and_then(|t| self.task(t)).and_then(|t| cfg.district_of(&t.place).map(|d| d.id.clone()));
        let desk = district.as_deref().and_then(|d| cfg.district(d)).and_then(|d| d.triage.clone());
        match to {
            Destination::Room(r) => {
                r == "triage" || desk.as_deref() == Some(r.as_str()) || crew.as_deref() == Some(r.as_str())
            }
            Destination::Direct(who) => {
                cfg.is_dispatcher(who)
                    || district.as_deref().and_then(|d| cfg.district(d)).is_some_and(|d| d.dispatchers.contains(who))
                    || Some(who) == author
                    || crew.as_deref().is_some_and(|c| cfg.crews_of(who).contains(&c))
            }
        }
    }

    fn tasks_with(&self, marker: &str) -> Vec<TaskId> {
        // In its text, or in its place (an answer to "where is it?").
        (1..=40)
            .map(TaskId)
            .filter(|t| {
                self.task(*t).is_some_and(|x| {
                    x.description.contains(marker) || x.place.street.as_deref().is_some_and(|s| s.contains(marker))
                })
            })
            .collect()
    }

    /// What a resident writes may reach the insiders of the task it is in, or of any of
    /// their own reports (a detail added to it).
    fn author_insider(&self, to: &Destination, marker: &str, r: &Report) -> bool {
        let own = (1..=40).map(TaskId).filter(|t| self.task(*t).is_some_and(|x| x.reporter == r.author));
        self.insider(to, None, Some(&r.author))
            || self.tasks_with(marker).into_iter().chain(own).any(|t| self.insider(to, Some(t), Some(&r.author)))
    }

    fn check(&self, out: &[Outgoing]) -> Result<(), String> {
        for o in out {
            let fail = |why: String| Err(format!("{why}\n  message to {:?}: {}", o.to, o.text));
            for (marker, r) in &self.oracle.reports {
                let has_marker = o.text.contains(marker.as_str());
                let has_personal = r.personal.iter().any(|p| o.text.contains(p.as_str()));
                if !has_marker && !has_personal {
                    continue;
                }
                let tasks = self.tasks_with(marker);
                let ok_insider = self.author_insider(&o.to, marker, r);
                if has_personal && !ok_insider {
                    return fail(format!("personal data of report {marker} reached outside its insiders"));
                }
                let public_ok = tasks.iter().any(|t| self.may_be_public(*t));
                if has_marker && !ok_insider && !public_ok {
                    return fail(format!("the text of private report {marker} (tasks {tasks:?}) reached outside"));
                }
            }
            for (marker, t) in &self.oracle.notes {
                if o.text.contains(marker.as_str())
                    && !self.insider(&o.to, Some(*t), self.task(*t).map(|x| x.reporter).as_ref())
                    && !self.may_be_public(*t)
                {
                    return fail(format!("the note {marker} on private task {t} reached outside"));
                }
            }
            for i in 0..RESIDENTS {
                let me = resident(i);
                if o.text.contains(me.id()) && o.to != Destination::Direct(me.clone()) {
                    // Only insiders of a report that names its author may read the name.
                    let named_in_own_report = self.oracle.reports.iter().any(|(m, r)| {
                        r.author == me && o.text.contains(m.as_str()) && self.author_insider(&o.to, m, r)
                    });
                    if !named_in_own_report {
                        return fail(format!("the identity {me} reached someone else"));
                    }
                }
            }
        }
        Ok(())
    }

    async fn apply(&mut self, i: usize, s: &Step) -> Result<(), String> {
        let town = self.town.clone();
        let d = town.dispatcher.clone();
        let triage = || Chat::Room("triage".into());
        let out = match s.clone() {
            Step::Report { who, kind, cat, street, phone, name, email } => {
                let me = resident(who);
                let marker = format!("zq{i}k");
                let pubc = &town.public_cats[cat % town.public_cats.len()];
                let privc = &town.private_cats[cat % town.private_cats.len()];
                let animals = town.animals.clone().unwrap_or_else(|| pubc.clone());
                let (body, sensitive) = match kind {
                    Kind::Public => (town.keyword(pubc), false),
                    Kind::Private => (town.keyword(privc), true),
                    Kind::Mixed => (format!("{} {}", town.keyword(pubc), town.keyword(privc)), true),
                    Kind::Unclear => ("algo raro pasa something odd".to_owned(), false),
                    Kind::Lost => (format!("lost perdido black negro {}", town.keyword(&animals)), false),
                    Kind::Found => (format!("found encontrado black negro {}", town.keyword(&animals)), false),
                };
                let mut text = format!("{body} {marker}");
                let mut personal = Vec::new();
                if let Some(st) = street {
                    text.push_str(&format!(", {}", STREETS[st]));
                }
                if phone {
                    let p = format!("600 {:03} {:03}", i % 1000, (i * 7) % 1000);
                    text.push_str(&format!(". Tel {p}"));
                    personal.push(p);
                }
                if email {
                    let e = format!("mail{i}@correo.es");
                    text.push_str(&format!(" {e}"));
                    personal.push(e);
                }
                if name {
                    text.push_str(&format!(" soy {}", me.id()));
                }
                self.oracle.reports.insert(marker, Report { author: me.clone(), sensitive, personal });
                self.say(&me, Chat::Direct, None, text).await
            }
            Step::AnswerWhere { who, street } => {
                self.say(&resident(who), Chat::Direct, None, STREETS[street].into()).await
            }
            Step::AnswerNumber { who, n } => self.say(&resident(who), Chat::Direct, None, n.to_string()).await,
            Step::MeToo { who, task } => {
                let text = town.me_too.clone();
                self.say(&resident(who), Chat::Room("public".into()), Some(format!("public/#{task}")), text).await
            }
            Step::Reply { who, task } => {
                let text = format!("la vi ayer, seen it yesterday zr{i}k");
                self.say(&resident(who), Chat::Room("public".into()), Some(format!("public/#{task}")), text).await
            }
            Step::Note { task } => {
                let Some(crew) = self.crew_of(TaskId(task)) else { return Ok(()) };
                let Some(m) = town.crew_member(&crew) else { return Ok(()) };
                let marker = format!("zn{i}k");
                self.oracle.notes.insert(marker.clone(), TaskId(task));
                self.say(&m, Chat::Room(crew), None, format!("note #{task} {marker}")).await
            }
            Step::Claim { task } | Step::Done { task } => {
                let verb = if matches!(s, Step::Claim { .. }) { "claim" } else { "done" };
                let Some(crew) = self.crew_of(TaskId(task)) else { return Ok(()) };
                let Some(m) = town.crew_member(&crew) else { return Ok(()) };
                self.say(&m, Chat::Room(crew), None, format!("{verb} #{task}")).await
            }
            Step::Merge { a, b } => self.say(&d, triage(), None, format!("dup #{a} #{b}")).await,
            Step::Assign { task, cat } => {
                let c = town.cfg.categories[cat % town.cfg.categories.len()].clone();
                let out = self.say(&d, triage(), None, format!("assign #{task} {}", c.id)).await;
                if self.task(TaskId(task)).and_then(|t| t.category).as_deref() == Some(c.id.as_str())
                    && c.visibility == Visibility::Private
                {
                    self.oracle.explicit_public.remove(&TaskId(task));
                }
                out
            }
            Step::Private { task } => {
                let out = self.say(&d, triage(), None, format!("private #{task}")).await;
                if self.task(TaskId(task)).is_some() {
                    self.oracle.explicit_private.insert(TaskId(task));
                    self.oracle.explicit_public.remove(&TaskId(task));
                }
                out
            }
            Step::Public { task, confirm } => {
                let text = if confirm { format!("public #{task} {}", town.yes) } else { format!("public #{task}") };
                let private_cat = self
                    .bot
                    .engine
                    .task(TaskId(task))
                    .and_then(|t| t.category)
                    .and_then(|c| town.cfg.category(&c).map(|c| c.visibility == Visibility::Private));
                let out = self.say(&d, triage(), None, text).await;
                if let Some(pc) = private_cat
                    && (confirm || !pc)
                {
                    self.oracle.explicit_public.insert(TaskId(task));
                    self.oracle.explicit_private.remove(&TaskId(task));
                }
                if private_cat.is_none() && self.task(TaskId(task)).is_some() {
                    // A task still in triage: public once it gets a category.
                    self.oracle.explicit_public.insert(TaskId(task));
                    self.oracle.explicit_private.remove(&TaskId(task));
                }
                out
            }
            Step::Status { who, task, in_public_room } => {
                let me = resident(who);
                let chat = if in_public_room { Chat::Room("public".into()) } else { Chat::Direct };
                let out = self.say(&me, chat, None, format!("status #{task}")).await;
                let t = TaskId(task);
                let outsider = self.task(t).is_none_or(|x| {
                    x.reporter != me && !(x.visibility == Visibility::Public && x.followers.contains(&me))
                }) && !self.may_be_public(t);
                if outsider {
                    let unknown = town.unknown_task(task);
                    let mine: Vec<&Outgoing> = out.iter().filter(|o| o.to == Destination::Direct(me.clone())).collect();
                    if mine.len() != 1 || !unknown.contains(&mine[0].text) {
                        return Err(format!(
                            "status of private task #{task} told an outsider something else than for a missing task: {:?}",
                            mine.iter().map(|o| &o.text).collect::<Vec<_>>()
                        ));
                    }
                }
                out
            }
            Step::CrewStatus { task, crew } => {
                let c = town.cfg.crews[crew % town.cfg.crews.len()].clone();
                let Some(m) = c.members.first().cloned() else { return Ok(()) };
                self.say(&m, Chat::Room(c.id.clone()), None, format!("status #{task}")).await
            }
            Step::AnyNews { who, about } => {
                let text = match about {
                    Some(task) => format!("#{task}?"),
                    None => format!("{}?", town.status_question),
                };
                self.say(&resident(who), Chat::Direct, None, text).await
            }
            Step::Detail { who } => {
                let me = resident(who);
                let marker = format!("zd{i}k");
                self.oracle
                    .reports
                    .insert(marker.clone(), Report { author: me.clone(), sensitive: false, personal: vec![] });
                self.say(&me, Chat::Direct, None, format!("and also {marker} since yesterday")).await
            }
            Step::Correction { who, street } => {
                let text = format!("{}, {}", town.correction, STREETS[street]);
                self.say(&resident(who), Chat::Direct, None, text).await
            }
            Step::MyData { who } => {
                let me = resident(who);
                let text = town.cfg.language[&town.lang].my_data[0].clone();
                self.say(&me, Chat::Direct, None, text).await
            }
            Step::Later { minutes } => {
                self.bot.clock.advance_millis(minutes * 60_000);
                // What falls due meanwhile (the "is it fixed?" time-out) runs, and what
                // it says is judged like the rest.
                self.bot.settle_timers().await
            }
            Step::NotFixed { who } => {
                let me = resident(who);
                let marker = format!("zf{i}k");
                self.oracle
                    .reports
                    .insert(marker.clone(), Report { author: me.clone(), sensitive: false, personal: vec![] });
                self.say(&me, Chat::Direct, None, format!("{}, {marker} still the same", town.no)).await
            }
            Step::Fixed { who, thanks } => {
                let text = if thanks { town.thanks.clone() } else { "1".into() };
                self.say(&resident(who), Chat::Direct, None, text).await
            }
            Step::Announce { crew, street } => {
                let cat = town.public_cats[crew % town.public_cats.len()].clone();
                let Some(c) = town.cfg.category(&cat).map(|c| c.crew.clone()) else { return Ok(()) };
                let Some(m) = town.crew_member(&c) else { return Ok(()) };
                let place = street
                    .map(|s| {
                        format!(" on {}", STREETS[s].trim_end_matches(|ch: char| ch.is_ascii_digit() || ch == ' '))
                    })
                    .unwrap_or_default();
                let text = format!("incident: {}{place}", town.keyword(&cat));
                self.say(&m, Chat::Room(c), None, text).await
            }
            Step::WardOfficer { officer, task, action, in_room } => {
                let officers: Vec<(Identity, String)> = town
                    .cfg
                    .districts
                    .iter()
                    .flat_map(|d| d.dispatchers.iter().map(|w| (w.clone(), d.triage.clone().unwrap_or_default())))
                    .collect();
                let Some((who, desk)) = officers.get(officer % officers.len().max(1)).cloned() else {
                    return Ok(());
                };
                let cat = town.public_cats[action % town.public_cats.len()].clone();
                let text = match action {
                    0 => format!("status #{task}"),
                    1 => format!("private #{task}"),
                    2 => format!("public #{task}"),
                    3 => format!("assign #{task} {cat}"),
                    _ => format!("done #{task}"),
                };
                let chat = if in_room && !desk.is_empty() { Chat::Room(desk.clone()) } else { Chat::Direct };
                let before = self.task(TaskId(task));
                let out = self.say(&who, chat.clone(), None, text).await;
                // Outside their district a private task does not exist for them: whatever
                // they write, the answer is the one for a task that does not exist.
                let district = before.as_ref().and_then(|b| town.cfg.district_of(&b.place)).map(|d| d.id.clone());
                // The oracle's own reading of the config (not the engine's helpers).
                let officer_here = |d: Option<&str>| {
                    town.cfg.is_dispatcher(&who)
                        || d.and_then(|d| town.cfg.districts.iter().find(|x| x.id == d))
                            .is_some_and(|x| x.dispatchers.contains(&who))
                };
                let outsider = before.as_ref().is_none_or(|b| {
                    !officer_here(district.as_deref())
                        && !b.crew.as_deref().is_some_and(|c| town.cfg.crews_of(&who).contains(&c))
                }) && !self.may_be_public(TaskId(task));
                if outsider {
                    let unknown = town.unknown_task(task);
                    let here = match &chat {
                        Chat::Room(r) => Destination::Room(r.clone()),
                        _ => Destination::Direct(who.clone()),
                    };
                    let answers: Vec<&Outgoing> = out.iter().filter(|o| o.to == here).collect();
                    if answers.len() != 1 || !unknown.contains(&answers[0].text) {
                        return Err(format!(
                            "{who} outside the district of private task #{task} was told: {:?}",
                            out.iter().map(|o| (&o.to, &o.text)).collect::<Vec<_>>()
                        ));
                    }
                }
                // An officer's "public"/"private" counts like the town's dispatchers', in
                // their own district only: anywhere else it must change nothing.
                let after = self.task(TaskId(task));
                if let (Some(b), Some(a)) = (before, after)
                    && b.visibility != a.visibility
                {
                    if !officer_here(district.as_deref()) {
                        return Err(format!("{who} changed task #{task} outside their district ({district:?})"));
                    }
                    if a.visibility == Visibility::Public {
                        self.oracle.explicit_public.insert(TaskId(task));
                        self.oracle.explicit_private.remove(&TaskId(task));
                    } else {
                        self.oracle.explicit_private.insert(TaskId(task));
                        self.oracle.explicit_public.remove(&TaskId(task));
                    }
                }
                out
            }
            Step::Press { who, task, which } => {
                let data = ["fixed", "notfixed", "rate4", "rate1"][which % 4];
                let me = resident(who);
                self.log.push(format!("{me} presses {data}:{task}"));
                let kind = InboundKind::Button { data: format!("{data}:{task}") };
                let out = self.bot.send(&me, Chat::Direct, None, kind).await;
                self.refresh().await;
                out
            }
            Step::ServiceRequest { who, kind, cat, street, phone } => {
                let me = resident(who);
                let marker = format!("zs{i}k");
                let pubc = town.public_cats[cat % town.public_cats.len()].clone();
                let privc = &town.private_cats[cat % town.private_cats.len()];
                let (body, sensitive) = match kind {
                    Kind::Private => (town.keyword(privc), true),
                    Kind::Mixed => (format!("{} {}", town.keyword(&pubc), town.keyword(privc)), true),
                    _ => (town.keyword(&pubc), false),
                };
                let mut description = format!("{body} {marker}");
                let mut personal = Vec::new();
                if phone {
                    let p = format!("611 {:03} {:03}", i % 1000, (i * 3) % 1000);
                    description.push_str(&format!(". Tel {p}"));
                    personal.push(p);
                }
                self.oracle.reports.insert(marker, Report { author: me.clone(), sensitive, personal });
                let kind = InboundKind::ServiceRequest {
                    // What an Open311 client sends: the town's code for the category.
                    service_code: town.cfg.category(&pubc).expect("category").service_code().to_owned(),
                    description: description.clone(),
                    point: None,
                    address: Some(street.map(|s| STREETS[s].to_owned()).unwrap_or_else(|| "somewhere 1".into())),
                    media_url: None,
                };
                self.log.push(format!("{me} service request: {description}"));
                let out = self.bot.send(&me, Chat::Direct, None, kind).await;
                self.refresh().await;
                out
            }
        };
        self.check(&out)?;
        self.check_web().await
    }

    /// The web is the public audience: what the board, a task's page and Open311 show
    /// of every task (its public view and history) holds no private text, no personal
    /// data and no resident's identity.
    async fn check_web(&self) -> Result<(), String> {
        let e = &self.bot.engine;
        for n in 1..=40 {
            let Ok(Some(task)) = e.store().task(TaskId(n)).await else { continue };
            let Some(p) = e.public_task(&task, &self.town.lang) else { continue };
            let events = e.store().events(task.id).await.unwrap_or_default();
            let mut shown = vec![p.description.clone(), p.place.clone(), p.street.clone().unwrap_or_default()];
            for h in e.public_history(&task, &events, &self.town.lang) {
                shown.push(h.text);
                shown.extend(h.note);
            }
            let shown = shown.join(" | ");
            for (marker, r) in &self.oracle.reports {
                if r.personal.iter().any(|x| shown.contains(x.as_str())) {
                    return Err(format!("the web shows personal data of report {marker} on task #{n}: {shown}"));
                }
                if shown.contains(marker.as_str()) && !self.tasks_with(marker).iter().any(|t| self.may_be_public(*t)) {
                    return Err(format!("the web shows the text of private report {marker} on task #{n}: {shown}"));
                }
            }
            for (marker, t) in &self.oracle.notes {
                if shown.contains(marker.as_str()) && !self.may_be_public(*t) {
                    return Err(format!("the web shows the note {marker} of private task {t} on task #{n}"));
                }
            }
            for i in 0..RESIDENTS {
                if shown.contains(resident(i).id()) {
                    return Err(format!("the web shows the identity {} on task #{n}: {shown}", resident(i)));
                }
            }
        }
        Ok(())
    }
}

fn run_sequences(town_file: &str, cases: u32) {
    let town = Arc::new(Town::load(&repo().join(town_file)));
    let cases = std::env::var("PLAZA_PRIVACY_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    let mut runner = proptest::test_runner::TestRunner::new(PtConfig {
        cases,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..PtConfig::default()
    });
    let result = runner.run(&proptest::collection::vec(step(), 1..40), |steps| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let dir = fast_tempdir("plaza-privacy");
        rt.block_on(async {
            let mut run = Run::start(town.clone(), dir.path()).await;
            for (i, s) in steps.iter().enumerate() {
                if let Err(why) = run.apply(i, s).await {
                    return Err(TestCaseError::fail(format!("{why}\n  after:\n    {}", run.log.join("\n    "))));
                }
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{town_file}: {e}");
    }
}

#[test]
fn privacy_holds_over_generated_sequences_in_jun() {
    run_sequences("config/jun.toml", 600);
}

#[test]
fn privacy_holds_over_generated_sequences_in_a_second_town() {
    run_sequences("tests/towns/kilbride.toml", 600);
}
