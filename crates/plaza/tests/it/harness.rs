//! An engine in the test process: the real engine, SQLite store and plugins, with a
//! channel that keeps what it is asked to send. For suites that drive thousands of
//! conversations (the privacy invariant, the classification corpus) where a process per
//! conversation would be too slow.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use plaza_core::channel::{
    Capabilities, Channel, ChannelError, Chat, Delivered, Destination, Inbound, InboundKind, Inbox, Outgoing,
};
use plaza_core::clock::{Clock, ManualClock};
use plaza_core::model::{Identity, Timestamp, Visibility};
use plaza_core::{Config, Dispatcher, Engine, Locales, Plugin};
use plaza_store::SqliteStore;

/// A channel that keeps what it is asked to send.
pub struct Capture {
    rooms: Vec<String>,
    pub sent: Mutex<Vec<Outgoing>>,
    seq: Mutex<u64>,
}

#[async_trait]
impl Channel for Capture {
    fn name(&self) -> &str {
        "console"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: true,
            buttons: false,
            edits: true,
            location: true,
            authenticated_ids: true,
            ..Capabilities::default()
        }
    }
    fn rooms(&self) -> Vec<String> {
        self.rooms.clone()
    }
    async fn run(&self, _inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        Ok(())
    }
    async fn send(&self, out: &Outgoing) -> Result<Delivered, ChannelError> {
        self.sent.lock().expect("lock").push(out.clone());
        let id = match (&out.edit, out.post, out.task, &out.to) {
            (Some(e), _, _, _) => e.clone(),
            (None, Some(_), Some(t), Destination::Room(r)) => format!("{r}/#{}", t.0),
            _ => {
                let mut s = self.seq.lock().expect("lock");
                *s += 1;
                format!("m{s}")
            }
        };
        Ok(Delivered { message_id: id })
    }
}

/// What the test knows of the town, from its config alone.
pub struct Town {
    pub cfg: Arc<Config>,
    pub locales: Arc<Locales>,
    pub public_cats: Vec<String>,
    pub private_cats: Vec<String>,
    /// A category for lost and found animals (the plugin's).
    pub animals: Option<String>,
    pub dispatcher: Identity,
    pub lang: String,
    pub yes: String,
    /// A "no" (to "is it fixed?") and a "thank you", in the town's default language.
    pub no: String,
    pub thanks: String,
    pub me_too: String,
    /// "¿ya han venido?" and "no perdona" in the town's default language.
    pub status_question: String,
    pub correction: String,
}

impl Town {
    /// The answer about a task that does not exist, in each of the town's languages
    /// (what an outsider must get about a private task, whoever they are).
    pub fn unknown_task(&self, task: i64) -> Vec<String> {
        let n = task.to_string();
        self.cfg
            .town
            .languages
            .iter()
            .map(|l| self.locales.text(l, "unknown-task", &[("task", plaza_core::i18n::Arg::Str(&n))]))
            .collect()
    }
    pub fn load(path: &std::path::Path) -> Town {
        let mut cfg = Config::load(path).expect("config");
        cfg.source = Some(path.to_owned());
        let plugin = plaza_plugin_lost_and_found::LostAndFound;
        let extra = plugin.messages();
        let locales = Locales::load(&cfg.locales_dir(), &cfg.town.languages, &cfg.town.default_language, &extra)
            .expect("locales");
        let animals = cfg
            .plugins
            .get("lost-and-found")
            .and_then(|t| t.get("category"))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let cats = |v: Visibility| {
            cfg.categories
                .iter()
                .filter(|c| c.visibility == v && Some(&c.id) != animals.as_ref())
                .map(|c| c.id.clone())
                .collect::<Vec<_>>()
        };
        let lang = cfg.town.default_language.clone();
        let hints = &cfg.language[&lang];
        Town {
            public_cats: cats(Visibility::Public),
            private_cats: cats(Visibility::Private),
            animals,
            dispatcher: cfg.roles.dispatchers[0].clone(),
            yes: hints.yes[0].clone(),
            no: hints.no[0].clone(),
            thanks: hints.thanks[0].clone(),
            me_too: hints.me_too[0].clone(),
            status_question: hints.status_questions[0].clone(),
            correction: hints.corrections[0].clone(),
            lang,
            locales: Arc::new(locales),
            cfg: Arc::new(cfg),
        }
    }
    pub fn keyword(&self, cat: &str) -> String {
        let c = self.cfg.category(cat).expect("category");
        c.keywords.get(&self.lang).and_then(|k| k.first()).cloned().unwrap_or_default()
    }
    pub fn crew_member(&self, crew: &str) -> Option<Identity> {
        self.cfg.crew(crew).and_then(|c| c.members.first().cloned())
    }
}

/// A running engine and the messages it sends.
pub struct Bot {
    pub engine: Arc<Engine>,
    dispatcher: Dispatcher,
    channel: Arc<Capture>,
    pub clock: Arc<ManualClock>,
    /// This bot's run: message ids differ from a bot's before it on the same database
    /// (a restart), as a platform's do.
    run: u64,
    n: u64,
}

static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Bot {
    pub async fn start(town: &Town, dir: &std::path::Path) -> Bot {
        let store = Arc::new(SqliteStore::open(&dir.join("p.db")).await.expect("store"));
        let clock = Arc::new(ManualClock::at(Timestamp(1_790_000_000_000)));
        let rooms = town.cfg.room_names();
        let channel = Arc::new(Capture { rooms: rooms.clone(), sent: Mutex::new(vec![]), seq: Mutex::new(0) });
        // The plugins the town's config enables, as `plaza serve` runs them.
        let known: Vec<Arc<dyn Plugin>> = vec![
            Arc::new(plaza_plugin_lost_and_found::LostAndFound),
            Arc::new(plaza_plugin_deadlines::Deadlines),
            Arc::new(plaza_plugin_incidents::Incidents),
            Arc::new(plaza_plugin_digest::Digest),
            Arc::new(plaza_plugin_announcements::Announcements),
        ];
        let plugins: Vec<Arc<dyn Plugin>> =
            known.into_iter().filter(|p| town.cfg.plugins.contains_key(p.name())).collect();
        let c: Arc<dyn Clock> = clock.clone();
        let engine =
            Engine::start(town.cfg.clone(), town.locales.clone(), store, c, plugins, &[("console".into(), rooms)])
                .await
                .expect("engine");
        let ch: Arc<dyn Channel> = channel.clone();
        let dispatcher = Dispatcher::new(engine.clone(), vec![ch]);
        Bot { engine, dispatcher, channel, clock, run: RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed), n: 0 }
    }

    /// One message in; everything the bot sends because of it out.
    pub async fn say(&mut self, who: &Identity, chat: Chat, reply_to: Option<String>, text: String) -> Vec<Outgoing> {
        self.send(who, chat, reply_to, InboundKind::Text { text }).await
    }

    /// One event of any kind in; everything the bot sends because of it out.
    pub async fn send(
        &mut self,
        who: &Identity,
        chat: Chat,
        reply_to: Option<String>,
        kind: InboundKind,
    ) -> Vec<Outgoing> {
        self.n += 1;
        let inb = Inbound {
            channel: "console".into(),
            message_id: format!("m{}-{}", self.run, self.n),
            sender: who.clone(),
            sender_name: Some(who.id().to_owned()),
            chat,
            kind,
            reply_to,
            unverified: false,
        };
        self.engine.handle(inb).await.expect("handled");
        self.drain().await
    }

    /// Runs the timers due by the clock now; everything they send out.
    pub async fn settle_timers(&mut self) -> Vec<Outgoing> {
        self.engine.tick().await.expect("timers");
        self.drain().await
    }

    async fn drain(&mut self) -> Vec<Outgoing> {
        loop {
            let r = self.dispatcher.deliver_due(self.channel.as_ref()).await.expect("delivered");
            if r.attempted == 0 {
                break;
            }
        }
        std::mem::take(&mut *self.channel.sent.lock().expect("lock"))
    }
}

/// A directory on tmpfs where there is one (commits cost nothing there), else /tmp.
pub fn fast_tempdir(prefix: &str) -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    tempfile::Builder::new().prefix(prefix).tempdir_in(base).expect("tempdir")
}
