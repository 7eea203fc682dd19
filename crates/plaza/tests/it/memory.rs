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

fn to(out: &[Outgoing], d: &Destination) -> Vec<String> {
    out.iter().filter(|o| o.to == *d).map(|o| o.text.clone()).collect()
}

#[test]
fn a_restart_on_100000_closed_tasks_loads_none_of_them() {
    let town = Town::load(&jun_config());
    let dir = fast_tempdir("plaza-memory");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        {
            let store = SqliteStore::open(&dir.path().join("p.db")).await.expect("store");
            for first in (1..=HISTORY).step_by(10_000) {
                let tasks: Vec<Task> = (first..first + 10_000).map(old_task).collect();
                // Every reporter wrote in English once.
                let residents = tasks.iter().map(|t| (t.reporter.clone(), "en".to_owned())).collect();
                let b = Batch { tasks, residents, at: Timestamp(NOW - 86_400_000), ..Batch::default() };
                store.submit(b).await.expect("ticket").expect("commit");
            }
        }
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
