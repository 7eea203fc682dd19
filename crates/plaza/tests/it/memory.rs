//! The engine's memory holds what is open and recent, never the history: started on a
//! database of 100,000 closed tasks it loads none of them (asserted on what is in memory,
//! not on time), a message about one reads that one back, and however many old tasks are
//! asked about, at most `[engine] closed_tasks_in_memory` (default 1,000) stay.

use plaza_core::channel::{Chat, Destination, Outgoing};
use plaza_core::model::*;
use plaza_core::store::{Batch, Store, TaskQuery};
use plaza_store::SqliteStore;

use crate::harness::{Bot, Town, fast_tempdir};
use crate::jun_config;

const HISTORY: i64 = 100_000;
/// The harness's clock.
const NOW: i64 = 1_790_000_000_000;

fn old_task(id: i64) -> Task {
    let created = NOW - 86_400_000 - (HISTORY - id) * 60_000;
    Task {
        id: TaskId(id),
        category: Some("lighting".into()),
        crew: Some("electricians".into()),
        status: Status::Resolved,
        visibility: Visibility::Public,
        description: format!("farola apagada número {id}"),
        place: Place { street: Some(format!("calle Real {}", id % 300)), ..Place::default() },
        attachments: vec![],
        reporter: reporter(id),
        reporter_public: false,
        reporter_name: None,
        sealed: false,
        language: "en".into(),
        supporters: vec![],
        followers: vec![],
        duplicate_of: None,
        related: vec![],
        assignee: None,
        created_at: Timestamp(created),
        // Closed yesterday at the latest: recent, and still not loaded.
        updated_at: Timestamp(created + 3_600_000),
        acknowledged_at: Some(Timestamp(created + 600_000)),
        started_at: None,
        resolved_at: Some(Timestamp(created + 3_600_000)),
        closed_at: Some(Timestamp(created + 3_600_000)),
        feedback: Default::default(),
    }
}

fn reporter(id: i64) -> Identity {
    Identity::new("console", format!("old{}", id % 20_000))
}

/// Writes `batches` into the database a bot in `dir` starts on, as a town's history.
async fn seed(dir: &std::path::Path, batches: impl IntoIterator<Item = Batch>) {
    let store = SqliteStore::open(&dir.join("p.db")).await.expect("store");
    for b in batches {
        store.submit(b).await.expect("ticket").expect("commit");
    }
}

fn to(out: &[Outgoing], d: &Destination) -> Vec<String> {
    out.iter().filter(|o| o.to == *d).map(|o| o.text.clone()).collect()
}

#[test]
fn a_restart_on_100000_closed_tasks_loads_none_of_them() {
    let town = Town::load(&jun_config());
    let dir = fast_tempdir("plaza-memory");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        seed(
            dir.path(),
            (1..=HISTORY).step_by(10_000).map(|first| {
                let tasks: Vec<Task> = (first..first + 10_000).map(old_task).collect();
                // Every reporter wrote in English once.
                let residents = tasks.iter().map(|t| (t.reporter.clone(), "en".to_owned())).collect();
                Batch { tasks, residents, at: Timestamp(NOW - 86_400_000), ..Batch::default() }
            }),
        )
        .await;
        let mut bot = Bot::start(&town, dir.path()).await;
        let ws = bot.engine.working_set();
        assert_eq!((ws.tasks, ws.residents, ws.posts, ws.dialogues), (0, 0, 0, 0), "loaded at start: {ws:?}");

        // A resident asks about their old report: it is read back, and answered in the
        // language they wrote in (English; the town's is Spanish).
        let who = reporter(8);
        let out = bot.say(&who, Chat::Direct, None, "estado #8".into()).await;
        let answer = to(&out, &Destination::Direct(who.clone())).join("\n");
        assert!(answer.contains("#8") && answer.contains("resolved"), "answer: {answer}");
        assert_eq!(bot.engine.working_set().tasks, 1);

        // An electrician reopens an old one: it is open again and back in the crew's room.
        let luis = Identity::new("console", "luis");
        let out = bot.say(&luis, Chat::Room("electricians".into()), None, "reabrir #9".into()).await;
        assert!(
            out.iter().any(|o| o.to == Destination::Room("electricians".into()) && o.task == Some(TaskId(9))),
            "the crew's room was not told: {out:?}"
        );
        let t9 = bot.engine.store().task(TaskId(9)).await.expect("task").expect("#9");
        assert!(t9.status.is_active(), "#9 is {:?}", t9.status);
        // Its reporter is told, in their language.
        let told = to(&out, &Destination::Direct(reporter(9))).join("\n");
        assert!(told.contains("#9") && !told.contains("Aviso"), "reporter told: {told}");

        // A new report gets the number after the history's last.
        let ana = Identity::new("console", "ana");
        let out = bot.say(&ana, Chat::Direct, None, "La farola de la calle Luna 4 está apagada".into()).await;
        let ack = to(&out, &Destination::Direct(ana)).join("\n");
        assert!(ack.contains(&format!("#{}", HISTORY + 1)), "ack: {ack}");

        // 1,500 residents ask about 1,500 other old tasks: memory keeps at most the
        // default 1,000 closed tasks besides the two open ones.
        for n in 1_000..2_500 {
            bot.say(&reporter(n), Chat::Direct, None, format!("estado #{n}")).await;
        }
        let ws = bot.engine.working_set();
        assert_eq!(ws.active_tasks, 2, "{ws:?}");
        assert!(ws.tasks <= 1_002, "{ws:?}");
        assert!(ws.tasks >= 1_000, "the latest closed tasks stay: {ws:?}");
        // And the store still has every task.
        let all = bot.engine.store().tasks(&TaskQuery::default()).await.expect("tasks");
        assert_eq!(all.len() as i64, HISTORY + 1);
    });
}

/// Fixes waiting for their reporter's "is it fixed?" answer (72 hours by default) leave
/// memory like any closed task, and so do their time-outs (the core's timers are in
/// memory only for the next hours): a city fixing thousands a day does not hold three
/// days of them. An answer still finds its fix, a restart loads none of them, and every
/// time-out still runs when its time comes.
#[test]
fn fixes_waiting_for_an_answer_leave_memory_and_come_back() {
    const FIXES: i64 = 1_200;
    let town = Town::load(&jun_config());
    let dir = fast_tempdir("plaza-memory-waits");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let luis = Identity::new("console", "luis");
        let crew = Chat::Room("electricians".into());
        let resident = |n: i64| Identity::new("console", format!("vecino{n}"));
        let mut bot = Bot::start(&town, dir.path()).await;
        for n in 1..=FIXES {
            let out =
                bot.say(&resident(n), Chat::Direct, None, format!("La farola de la calle B{n} 3 está apagada")).await;
            let ack = to(&out, &Destination::Direct(resident(n))).join("\n");
            assert!(ack.contains(&format!("#{n}")), "report {n}: {ack}");
            let out = bot.say(&luis, crew.clone(), None, format!("hecho #{n}")).await;
            let asked = to(&out, &Destination::Direct(resident(n))).join("\n");
            assert!(asked.contains(&format!("#{n}")), "the reporter of #{n} is asked: {asked}");
        }
        let ws = bot.engine.working_set();
        assert_eq!(ws.active_tasks, 0, "{ws:?}");
        assert!(ws.tasks <= 1_000, "fixes waiting for an answer stay in memory: {ws:?}");
        assert_eq!(ws.timers, 0, "time-outs 72 hours away are in memory: {ws:?}");

        // The reporter of the first fix (long out of memory) answers: it is found.
        let out = bot.say(&resident(1), Chat::Direct, None, "sí".into()).await;
        let thanks = to(&out, &Destination::Direct(resident(1))).join("\n");
        assert!(thanks.contains("#1"), "the answer to #1: {thanks} / {out:?}");
        let t1 = bot.engine.store().task(TaskId(1)).await.expect("task").expect("#1");
        assert_eq!(t1.feedback.confirmation, Some(Confirmation::Fixed));

        // A restart loads none of them, nor their time-outs.
        drop(bot);
        let mut bot = Bot::start(&town, dir.path()).await;
        let ws = bot.engine.working_set();
        assert_eq!((ws.tasks, ws.timers), (0, 0), "loaded at start: {ws:?}");
        // A new report from a resident whose fix waits does not read that fix back.
        let out = bot.say(&resident(3), Chat::Direct, None, "La farola de la calle C3 5 está apagada".into()).await;
        let ack = to(&out, &Destination::Direct(resident(3))).join("\n");
        assert!(ack.contains(&format!("#{}", FIXES + 1)), "{ack}");
        let ws = bot.engine.working_set();
        assert_eq!((ws.tasks, ws.active_tasks), (1, 1), "{ws:?}");
        // The second reporter answers after the restart: found too.
        let out = bot.say(&resident(2), Chat::Direct, None, "no, sigue apagada".into()).await;
        let t2 = bot.engine.store().task(TaskId(2)).await.expect("task").expect("#2");
        assert!(t2.status.is_active(), "#2 reopened: {:?} / {out:?}", t2.status);

        // Three days later every other question times out, each once, though none of
        // their timers was in memory when it was set.
        bot.clock.advance_millis(73 * 3_600_000);
        let out = bot.settle_timers().await;
        let waiting = bot
            .engine
            .store()
            .tasks(&TaskQuery { awaiting_answer: true, ..TaskQuery::default() })
            .await
            .expect("tasks");
        assert!(waiting.is_empty(), "still waiting after the time-out: {:?}", waiting.len());
        for n in 3..=FIXES {
            let told: Vec<String> = to(&out, &Destination::Direct(resident(n)))
                .into_iter()
                .filter(|m| m.contains(&format!("#{n},")))
                .collect();
            assert_eq!(told.len(), 1, "the reporter of #{n} is told once: {told:?}");
        }
        assert!(bot.engine.working_set().tasks <= 1_002, "{:?}", bot.engine.working_set());
    });
}

/// A message being delivered keeps its task in memory, whatever else leaves meanwhile:
/// who may read it is decided on the task itself. A public post queued before its task
/// became private is held back even when, during its delivery, more than the default
/// 1,000 other closed tasks were read for other chats (another chat's delivery trims
/// memory while this one is under way).
#[test]
fn a_task_being_delivered_stays_in_memory() {
    use plaza_core::channel::Outbound;
    use plaza_core::store::OutboxRow;
    let town = Town::load(&jun_config());
    let dir = fast_tempdir("plaza-memory");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut tasks: Vec<Task> = (1..=1_200).map(old_task).collect();
        tasks[0].visibility = Visibility::Private;
        seed(dir.path(), [Batch { tasks, at: Timestamp(NOW - 86_400_000), ..Batch::default() }]).await;
        let bot = Bot::start(&town, dir.path()).await;
        let row = |task: i64, to: Destination| OutboxRow {
            id: task,
            channel: "console".into(),
            message: Outbound {
                post: Some(plaza_core::channel::PostKind::Public),
                ..Outbound::new(to, format!("📢 #{task} farola apagada número {task}"), Some(TaskId(task)))
            },
            attempts: 0,
            created_at: Timestamp(NOW - 86_400_000),
        };
        let public = Destination::Room("public".into());
        let first = row(1, public.clone());
        let pinned = bot.engine.fault_in_rows([&first]).await.expect("fault in");
        // Other chats' deliveries read 1,199 other closed tasks.
        let others: Vec<OutboxRow> = (2..=1_200).map(|t| row(t, Destination::Room("electricians".into()))).collect();
        for chunk in others.chunks(100) {
            drop(bot.engine.fault_in_rows(chunk).await.expect("fault in"));
        }
        assert!(bot.engine.working_set().tasks <= 1_001, "{:?}", bot.engine.working_set());
        assert!(bot.engine.outgoing(&first).is_none(), "a private task's post went to the public room");
        assert!(!bot.engine.may_deliver(&first));
        drop(pinned);
    });
}
