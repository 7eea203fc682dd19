//! The engine on the real SQLite store: exactly-once in effect on redelivery, across a
//! restart too; state restored from disk.

use std::sync::Arc;

use async_trait::async_trait;
use plaza_core::channel::*;
use plaza_core::clock::{Clock, ManualClock};
use plaza_core::model::{Identity, Timestamp};
use plaza_core::{Config, Dispatcher, Engine, Locales, Outcome, Store};

use crate::{repo, sqlite};

/// Records what the engine sends; the in-memory channel for core logic tests.
#[derive(Default)]
struct Recorder {
    sent: std::sync::Mutex<Vec<Outgoing>>,
}

#[async_trait]
impl Channel for Recorder {
    fn name(&self) -> &str {
        "test"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    fn rooms(&self) -> Vec<String> {
        vec!["electricians".into(), "public".into(), "triage".into(), "police".into()]
    }
    fn limits(&self) -> Limits {
        Limits::default()
    }
    async fn run(&self, _inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        Ok(())
    }
    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError> {
        let mut s = self.sent.lock().expect("lock");
        s.push(out.clone());
        Ok(Delivered { message_id: format!("m{}", s.len()) })
    }
}

async fn engine(store: Arc<dyn Store>, ch: &Arc<Recorder>) -> (Arc<Engine>, Dispatcher) {
    let cfg = Config::load(&repo().join("config/jun.toml")).expect("config");
    let extra = ["lostfound-match", "lostfound-kind-lost", "lostfound-kind-found", "lostfound-crew"];
    let locales = Locales::load(&cfg.locales_dir(), &cfg.town.languages, "es", &extra).expect("locales");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(Timestamp(1_800_000_000_000)));
    let rooms = vec![("test".to_string(), ch.rooms())];
    let e = Engine::start(Arc::new(cfg), Arc::new(locales), store, clock, vec![], &rooms).await.expect("engine");
    let chans: Vec<Arc<dyn Channel>> = vec![ch.clone()];
    (e.clone(), Dispatcher::new(e, chans))
}

fn text(id: &str, from: &str, chat: Chat, t: &str) -> Inbound {
    Inbound {
        channel: "test".into(),
        message_id: id.into(),
        sender: Identity::new("test", from),
        sender_name: None,
        chat,
        kind: InboundKind::Text { text: t.into() },
        reply_to: None,
        unverified: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_is_handled_once_even_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ch = Arc::new(Recorder::default());
    let report = text("u1", "ana", Chat::Direct, "La farola de la calle Alemania 5 está apagada");
    {
        let (e, d) = engine(sqlite(dir.path()).await, &ch).await;
        assert_eq!(e.handle(report.clone()).await.expect("handle"), Outcome::Handled);
        assert_eq!(e.handle(report.clone()).await.expect("handle"), Outcome::Duplicate);
        d.settle().await;
    }
    let first = ch.sent.lock().expect("lock").len();
    assert_eq!(first, 3, "ack, crew card, public post");
    let (e, d) = engine(sqlite(dir.path()).await, &ch).await;
    assert_eq!(e.handle(report).await.expect("handle"), Outcome::Duplicate);
    d.settle().await;
    assert_eq!(ch.sent.lock().expect("lock").len(), first, "nothing delivered twice");
    // The reply to the public post (platform id recorded at delivery) finds the task.
    let public_id = {
        let sent = ch.sent.lock().expect("lock");
        let i = sent.iter().position(|o| o.post == Some(PostKind::Public)).expect("public post");
        format!("m{}", i + 1)
    };
    let mut reply = text("u2", "bea", Chat::Room("public".into()), "la vi ayer");
    reply.reply_to = Some(public_id);
    e.handle(reply).await.expect("handle");
    d.settle().await;
    let sent = ch.sent.lock().expect("lock");
    let last = sent.last().expect("a message");
    assert_eq!(last.to, Destination::Direct(Identity::new("test", "ana")));
    assert!(last.text.contains("la vi ayer"), "{}", last.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_get_distinct_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ch = Arc::new(Recorder::default());
    let (e, d) = engine(sqlite(dir.path()).await, &ch).await;
    let mut handles = Vec::new();
    for i in 0..200 {
        let e = e.clone();
        handles.push(tokio::spawn(async move {
            let m = text(
                &format!("c{i}"),
                &format!("r{i}"),
                Chat::Direct,
                &format!("La farola de la calle Número{i} 1 está apagada"),
            );
            e.handle(m).await.expect("handle")
        }));
    }
    for h in handles {
        assert_eq!(h.await.expect("join"), Outcome::Handled);
    }
    d.settle().await;
    {
        let sent = ch.sent.lock().expect("lock");
        let mut numbers: Vec<i64> =
            sent.iter().filter(|o| o.post == Some(PostKind::Card)).filter_map(|o| o.task.map(|t| t.0)).collect();
        numbers.sort();
        assert_eq!(numbers, (1..=200).collect::<Vec<_>>());
        let acks = sent.iter().filter(|o| matches!(o.to, Destination::Direct(_))).count();
        assert_eq!(acks, 200);
    }
    let snap = e
        .store()
        .load(plaza_core::store::SeenWindow { since: Timestamp(0), limit: 10, core_timers_until: Timestamp(i64::MAX) })
        .await
        .expect("load");
    assert_eq!(snap.last_task_id, 200);
}

/// A channel without replies (this recorder has no threads): the public post says how to
/// answer in writing, and "#1 …" / "yo también #1" written in the public room reach task 1
/// as a reply would (issue 13's text conventions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_without_replies_answers_in_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ch = Arc::new(Recorder::default());
    let (e, d) = engine(sqlite(dir.path()).await, &ch).await;
    e.handle(text("a1", "ana", Chat::Direct, "La farola de la calle Alemania 5 está apagada")).await.expect("handle");
    d.settle().await;
    let post = ch.sent.lock().expect("lock").iter().find(|o| o.to == Destination::Room("public".into())).cloned();
    let post = post.expect("a public post");
    assert!(
        post.text.contains("Escribe «#1 y tu respuesta»") && post.text.contains("«yo también #1»"),
        "{}",
        post.text
    );
    assert!(!post.text.contains("Responde a este mensaje"), "{}", post.text);
    let public = || Chat::Room("public".into());
    e.handle(text("b1", "bea", public(), "yo también #1")).await.expect("handle");
    e.handle(text("c1", "carlos", public(), "#1 la vi apagada anoche también")).await.expect("handle");
    // A private task named in the public room is a task that does not exist: nothing.
    e.handle(text("d1", "dani", Chat::Direct, "Hay un coche sospechoso merodeando en la calle Luna 4"))
        .await
        .expect("h");
    e.handle(text("e1", "eva", public(), "#2 yo lo vi")).await.expect("handle");
    d.settle().await;
    let t = e.task(plaza_core::model::TaskId(1)).expect("task 1");
    assert_eq!(t.me_too(), 1, "{t:?}");
    let sent = ch.sent.lock().expect("lock").clone();
    let to_ana: Vec<&str> = sent
        .iter()
        .filter(|o| o.to == Destination::Direct(Identity::new("test", "ana")))
        .map(|o| o.text.as_str())
        .collect();
    assert!(to_ana.iter().any(|t| t.contains("«la vi apagada anoche también»")), "{to_ana:?}");
    let to_dani = sent.iter().filter(|o| o.to == Destination::Direct(Identity::new("test", "dani"))).count();
    assert_eq!(to_dani, 1, "only dani's acknowledgement: {sent:?}");
    let events = e.store().events(plaza_core::model::TaskId(2)).await.expect("events");
    assert!(events.iter().all(|ev| !matches!(ev.kind, plaza_core::model::EventKind::Comment { .. })), "{events:?}");
    // Nor can it edit: when the post changes (Bea's support), the room gets one line with
    // the task's state, never an edit or the whole post again.
    let public: Vec<&Outgoing> = sent.iter().filter(|o| o.to == Destination::Room("public".into())).collect();
    assert_eq!(public.len(), 2, "the post, and one line for the change: {public:?}");
    assert!(public[1].edit.is_none() && public[1].text.starts_with("📢 #1 · Alumbrado público"), "{public:?}");
    assert!(!public[1].text.contains('\n'), "{}", public[1].text);
}
