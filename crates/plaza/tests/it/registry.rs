//! A messenger added through the registry, as a town's developer would (docs/ADAPTERS.md):
//! a small channel written here, registered in one line, named by a `[loopback]` section
//! of a second town's config, run by `plaza serve`'s own wiring. Nothing in plaza-core
//! knows it. It also holds the contract to account: no sending before the channel is
//! ready, one line per message when the channel says so (the dispatcher splits), staff
//! powers only with `trust_ids`, an unverified message in a crew member's name refused,
//! a restart that neither loses nor repeats.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use plaza_core::config::section;
use plaza_core::{
    Capabilities, Channel, ChannelError, ChannelKind, Chat, Config, Delivered, Destination, Identity, Inbound,
    InboundKind, Inbox, Limits, Outgoing,
};
use tokio::sync::mpsc;

// ---- The adapter: what a town writes (≈ 70 lines) ----

/// What the test and the channel share: messages to hand in, messages sent out.
#[derive(Default)]
pub(crate) struct Wire {
    inbound: tokio::sync::Mutex<Option<mpsc::UnboundedReceiver<Inbound>>>,
    pub(crate) sent: Mutex<Vec<Outgoing>>,
    pub(crate) ready: AtomicBool,
    ids: AtomicU64,
}

struct Loopback {
    wire: Arc<Wire>,
    rooms: BTreeMap<String, String>,
}

#[async_trait]
impl Channel for Loopback {
    fn name(&self) -> &str {
        "loopback"
    }
    fn capabilities(&self) -> Capabilities {
        // A line-based network: no threads, buttons or edits; anyone may take a name.
        Capabilities { location: false, ..Capabilities::default() }
    }
    fn limits(&self) -> Limits {
        Limits { max_lines: Some(1), max_chars: Some(300), ..Limits::default() }
    }
    fn rooms(&self) -> Vec<String> {
        self.rooms.keys().cloned().collect()
    }
    async fn ready(&self) {
        while !self.wire.ready.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    async fn run(&self, inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        let mut rx = self.wire.inbound.lock().await;
        let rx = rx.as_mut().ok_or_else(|| ChannelError::Other("no wire".into()))?;
        while let Some(m) = rx.recv().await {
            inbox.deliver(m).await.map_err(|e| ChannelError::Other(e.to_string()))?;
        }
        Ok(())
    }
    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError> {
        if let Destination::Room(r) = &out.to
            && !self.rooms.contains_key(r)
        {
            return Err(ChannelError::UnknownRoom(r.clone()));
        }
        self.wire.sent.lock().expect("lock").push(out.clone());
        Ok(Delivered { message_id: format!("out-{}", self.wire.ids.fetch_add(1, Ordering::SeqCst)) })
    }
}

pub(crate) struct LoopbackKind(pub(crate) Arc<Wire>);

#[async_trait]
impl ChannelKind for LoopbackKind {
    fn name(&self) -> &'static str {
        "loopback"
    }
    fn check(&self, t: &toml::Table, town: &Config) -> Vec<section::Problem> {
        let mut p = Vec::new();
        section::unknown_keys(t, "loopback", &["rooms"], &mut p);
        section::rooms(t, "loopback", &town.room_names(), &mut p, |v| {
            v.as_str().map(str::to_owned).ok_or_else(|| "must be a channel name".to_owned())
        });
        p
    }
    fn authenticated_ids(&self) -> bool {
        false
    }
    async fn build(&self, t: &toml::Table, town: &Config) -> Result<Arc<dyn Channel>, ChannelError> {
        let mut p = Vec::new();
        let rooms = section::rooms(t, "loopback", &town.room_names(), &mut p, |v| Ok(v.to_string()));
        Ok(Arc::new(Loopback { wire: self.0.clone(), rooms }))
    }
}

// ---- The test ----

pub(crate) fn kilbride_with_loopback(dir: &Path, trust: bool) -> std::path::PathBuf {
    let text = std::fs::read_to_string(crate::repo().join("tests/towns/kilbride.toml")).expect("kilbride");
    let locales = crate::repo().join("config/locales");
    let cfg = Config::parse(&text).expect("kilbride parses");
    let mut text = text
        .replace("locales = \"../../config/locales\"", &format!("locales = {:?}", locales.display().to_string()))
        .replace("\"console:gwen\"", "\"loopback:gwen\"");
    text.push_str(&format!("\n[loopback]\n{}[loopback.rooms]\n", if trust { "trust_ids = true\n" } else { "" }));
    for r in cfg.room_names() {
        text.push_str(&format!("{r} = \"#{r}\"\n"));
    }
    let path = dir.join("town.toml");
    std::fs::write(&path, text).expect("write");
    path
}

pub(crate) fn msg(id: &str, who: &str, chat: Chat, text: &str) -> Inbound {
    Inbound {
        channel: "loopback".into(),
        message_id: id.into(),
        sender: Identity::new("loopback", who),
        sender_name: None,
        chat,
        kind: InboundKind::Text { text: text.into() },
        reply_to: None,
        unverified: false,
    }
}

/// Waits until a message sent to `to` contains `needle`; returns every text sent so far.
pub(crate) async fn until(wire: &Wire, to: &Destination, needle: &str) -> Vec<String> {
    for _ in 0..400 {
        {
            let sent = wire.sent.lock().expect("lock");
            if sent.iter().any(|o| &o.to == to && o.text.contains(needle)) {
                return sent.iter().map(|o| o.text.clone()).collect();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing with «{needle}» sent to {to:?}: {:?}", wire.sent.lock().expect("lock"));
}

/// Runs `plaza serve`'s wiring with the loopback channel until the returned sender fires.
pub(crate) fn serve(
    wire: &Arc<Wire>,
    config: &Path,
    db: &Path,
) -> (mpsc::UnboundedSender<Inbound>, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    *wire.inbound.try_lock().expect("free") = Some(rx);
    // The one line a town adds to its binary:
    let registry = plaza::Registry::standard().channel(LoopbackKind(wire.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (config, db) = (config.to_owned(), db.to_owned());
    // `plaza serve` runs on its own runtime, as in the binary.
    let task = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let code = rt
            .block_on(plaza::serve_until(&registry, &config, &db, None, false, async {
                let _ = stopped.await;
            }))
            .expect("serve");
        assert_eq!(code, std::process::ExitCode::SUCCESS);
    });
    (tx, stop, task)
}

#[test]
fn a_channel_added_through_the_registry_is_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = plaza::Registry::standard().channel(LoopbackKind(Arc::default()));
    // A crew member on a network where anyone can take a name: refused without the
    // town's word.
    let errors =
        plaza::check_config(&registry, &kilbride_with_loopback(dir.path(), false)).expect_err("staff on untrusted ids");
    assert!(
        errors.iter().any(|e| e.contains("crew[0].members[0]") && e.contains("`trust_ids = true` in [loopback]")),
        "{errors:?}"
    );
    plaza::check_config(&registry, &kilbride_with_loopback(dir.path(), true)).expect("trusted: fine");
    // The section is the adapter's to check, with key and line; an unknown section is named.
    let path = kilbride_with_loopback(dir.path(), true);
    let text =
        std::fs::read_to_string(&path).expect("read").replace("lamps = \"#lamps\"", "lamps = 7\nlanterns = \"x\"");
    std::fs::write(&path, text + "\n[lopback]\nrooms = {}\n").expect("write");
    let errors = plaza::check_config(&registry, &path).expect_err("problems");
    let all = errors.join("\n");
    assert!(all.contains("loopback.rooms.lamps: must be a channel name"), "{all}");
    assert!(all.contains("loopback.rooms.lanterns: unknown room"), "{all}");
    assert!(all.contains("unknown section `[lopback]`") && all.contains("loopback"), "{all}");
    // Without the registry entry, the same file is a section nobody knows.
    let errors = plaza::check_config(&plaza::Registry::standard(), &kilbride_with_loopback(dir.path(), true))
        .expect_err("unknown");
    assert!(errors.iter().any(|e| e.contains("unknown section `[loopback]`")), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_added_through_the_registry_runs_the_town() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = kilbride_with_loopback(dir.path(), true);
    let db = dir.path().join("plaza.db");
    let wire = Arc::new(Wire::default());
    let (tx, stop, task) = serve(&wire, &config, &db);
    let ann = Destination::Direct(Identity::new("loopback", "ann"));
    let lamps = Destination::Room("lamps".into());

    tx.send(msg("m1", "ann", Chat::Direct, "the streetlight on Church Street 4 is out")).expect("send");
    // Handled and stored, but the channel is not ready: nothing goes out.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(wire.sent.lock().expect("lock").is_empty(), "sent before ready: {:?}", wire.sent.lock().expect("lock"));
    wire.ready.store(true, Ordering::SeqCst);
    until(&wire, &ann, "#1").await;
    let texts = until(&wire, &lamps, "claim #1").await;
    // One line per message: the dispatcher split the crew's card.
    assert!(texts.iter().all(|t| !t.contains('\n') && t.chars().count() <= 300), "{texts:?}");
    let card: Vec<Outgoing> = wire.sent.lock().expect("lock").iter().filter(|o| o.to == lamps).cloned().collect();
    assert!(card.len() >= 3, "the card in several one-line messages: {card:?}");
    assert!(card[0].text.contains("#1") && card[card.len() - 1].text.contains("claim #1"), "in order: {card:?}");

    // A message in the crew member's name that the channel could not verify: refused.
    let forged = Inbound { unverified: true, ..msg("m2", "gwen", Chat::Room("lamps".into()), "done #1") };
    tx.send(forged).expect("send");
    until(&wire, &lamps, "could not be checked").await;
    // The real one ("#N" in writing: this channel has no replies).
    tx.send(msg("m3", "gwen", Chat::Room("lamps".into()), "claim #1")).expect("send");
    let texts = until(&wire, &ann, "#1").await;
    assert!(!texts.iter().any(|t| t.contains("is it fixed") || t.contains("Is it fixed")), "not done: {texts:?}");
    for _ in 0..100 {
        if wire.sent.lock().expect("lock").iter().filter(|o| o.to == ann).count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let to_ann: Vec<String> =
        wire.sent.lock().expect("lock").iter().filter(|o| o.to == ann).map(|o| o.text.clone()).collect();
    assert_eq!(to_ann.len(), 2, "the acknowledgement and the claim: {to_ann:?}");

    // A restart: the same event handed in again is not a second report; a new one is #2.
    stop.send(()).expect("stop");
    task.await.expect("stopped");
    let before = wire.sent.lock().expect("lock").len();
    let (tx, stop, task) = serve(&wire, &config, &db);
    tx.send(msg("m1", "ann", Chat::Direct, "the streetlight on Church Street 4 is out")).expect("send");
    tx.send(msg("m4", "bob", Chat::Direct, "there are dumped tyres on Mill Lane 3")).expect("send");
    let bob = Destination::Direct(Identity::new("loopback", "bob"));
    until(&wire, &bob, "#2").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after: Vec<Outgoing> = wire.sent.lock().expect("lock")[before..].to_vec();
    assert!(!after.iter().any(|o| o.to == ann), "nothing repeated to ann: {after:?}");
    stop.send(()).expect("stop");
    task.await.expect("stopped");
}
