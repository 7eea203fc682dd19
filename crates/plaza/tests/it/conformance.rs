//! The conformance kit (`plaza::conformance`) run on each channel, through a few lines of
//! glue per channel: the console (`plaza console`), Telegram and Matrix (the real
//! `plaza serve` against the Bot API emulator and Synapse), e-mail (Dovecot and
//! OpenSMTPD, crews on a second channel) and an adapter added through the registry (an
//! in-test line-based network).
//! Two towns: Jun in Spanish, Kilbride in English.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use plaza::conformance::{Driver, Person, Script, run};
use plaza_core::{Chat, Destination, Identity};

use crate::registry::{Wire, msg, serve};

fn name(p: Person) -> String {
    match p {
        Person::Resident(i) => format!("r{i}"),
        Person::Neighbour => "bob".into(),
        Person::Crew => "luis".into(),
    }
}

// ---- The console ----

struct Console {
    config: PathBuf,
    db: PathBuf,
    child: Option<std::process::Child>,
    stdin: Option<std::process::ChildStdin>,
    out: Arc<Mutex<Vec<String>>>,
}

impl Console {
    fn start(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plaza"))
            .args(["console", "--config"])
            .arg(&self.config)
            .arg("--db")
            .arg(&self.db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("plaza console");
        let stdout = child.stdout.take().expect("stdout");
        let out = self.out.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                out.lock().expect("lock").push(line);
            }
        });
        self.stdin = child.stdin.take();
        self.child = Some(child);
    }
    fn write(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("running");
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
    }
    fn lines_to(&self, target: &str) -> Vec<String> {
        let prefix = format!("{target} <- ");
        self.out.lock().expect("lock").iter().filter_map(|l| l.strip_prefix(&prefix).map(str::to_owned)).collect()
    }
    fn stop(&mut self) {
        self.stdin = None; // end of input: the console finishes and exits
        if let Some(mut c) = self.child.take() {
            c.wait().expect("console exits");
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[async_trait]
impl Driver for Console {
    async fn direct(&mut self, who: Person, text: &str) {
        self.write(&format!("{}: {text}", name(who)));
    }
    async fn in_room(&mut self, room: &str, who: Person, text: &str) {
        self.write(&format!("{} in {room}: {text}", name(who)));
    }
    async fn sent_to(&mut self, who: Person) -> Vec<String> {
        self.lines_to(&format!("@{}", name(who)))
    }
    async fn sent_to_room(&mut self, room: &str) -> Vec<String> {
        self.lines_to(room)
    }
    async fn restart(&mut self) {
        self.stop();
        self.start();
    }
}

fn jun_in(dir: &Path) -> PathBuf {
    let jun = std::fs::read_to_string(crate::jun_config()).expect("jun");
    let locales = crate::repo().join("config/locales");
    let path = dir.join("town.toml");
    std::fs::write(
        &path,
        jun.replace("locales = \"locales\"", &format!("locales = {:?}", locales.display().to_string())),
    )
    .expect("write");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut d = Console {
        config: jun_in(dir.path()),
        db: dir.path().join("plaza.db"),
        child: None,
        stdin: None,
        out: Arc::default(),
    };
    d.start();
    assert_eq!(run(&mut d, &Script::jun()).await, 8);
    d.stop();
}

// ---- An adapter added through the registry ----

struct Loopback {
    wire: Arc<Wire>,
    config: PathBuf,
    db: PathBuf,
    crew: &'static str,
    running: Option<(
        tokio::sync::mpsc::UnboundedSender<plaza_core::Inbound>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
    n: usize,
}

impl Loopback {
    fn start(&mut self) {
        self.running = Some(serve(&self.wire, &self.config, &self.db));
    }
    fn send(&mut self, who: &str, chat: Chat, text: &str) {
        self.n += 1;
        let m = msg(&format!("c{}", self.n), who, chat, text);
        self.running.as_ref().expect("running").0.send(m).expect("send");
    }
    fn who(&self, p: Person) -> String {
        if p == Person::Crew { self.crew.to_owned() } else { name(p) }
    }
    fn texts(&self, to: &Destination) -> Vec<String> {
        self.wire.sent.lock().expect("lock").iter().filter(|o| &o.to == to).map(|o| o.text.clone()).collect()
    }
    async fn stop(&mut self) {
        if let Some((_, stop, task)) = self.running.take() {
            stop.send(()).expect("stop");
            task.await.expect("stopped");
        }
    }
}

#[async_trait]
impl Driver for Loopback {
    async fn direct(&mut self, who: Person, text: &str) {
        let w = self.who(who);
        self.send(&w, Chat::Direct, text);
    }
    async fn in_room(&mut self, room: &str, who: Person, text: &str) {
        let w = self.who(who);
        self.send(&w, Chat::Room(room.into()), text);
    }
    async fn sent_to(&mut self, who: Person) -> Vec<String> {
        self.texts(&Destination::Direct(Identity::new("loopback", self.who(who))))
    }
    async fn sent_to_room(&mut self, room: &str) -> Vec<String> {
        self.texts(&Destination::Room(room.into()))
    }
    async fn restart(&mut self) {
        self.stop().await;
        self.start();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_added_through_the_registry_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wire = Arc::new(Wire::default());
    wire.ready.store(true, Ordering::SeqCst);
    let config = crate::registry::kilbride_with_loopback(dir.path(), true);
    let mut d = Loopback { wire, config, db: dir.path().join("plaza.db"), crew: "gwen", running: None, n: 0 };
    d.start();
    assert_eq!(run(&mut d, &Script::kilbride()).await, 8);
    d.stop().await;
}

// ---- E-mail: residents by mail, the crew and neighbours on a second channel ----

struct Email {
    rooms: Loopback,
    smtp: String,
    imap: String,
    n: usize,
}

/// The town's mailbox for this test (the e-mail test has its own).
const TOWN_MAIL: &str = "kit@jun.test";

fn address(p: Person) -> String {
    format!("{}@kit.test", name(p))
}

#[async_trait]
impl Driver for Email {
    async fn direct(&mut self, who: Person, text: &str) {
        match who {
            Person::Resident(_) => {
                self.n += 1;
                let id = format!("<k{}@kit.test>", self.n);
                crate::email::send(&self.smtp, &address(who), TOWN_MAIL, &[("Message-ID", &id)], text).await;
            }
            _ => self.rooms.direct(who, text).await,
        }
    }
    async fn in_room(&mut self, room: &str, who: Person, text: &str) {
        self.rooms.in_room(room, who, text).await
    }
    async fn sent_to(&mut self, who: Person) -> Vec<String> {
        match who {
            Person::Resident(_) => crate::email::mailbox(&self.imap, &address(who))
                .await
                .iter()
                .map(|m| crate::email::parse(m).text.trim().to_owned())
                .collect(),
            _ => self.rooms.sent_to(who).await,
        }
    }
    async fn sent_to_room(&mut self, room: &str) -> Vec<String> {
        self.rooms.sent_to_room(room).await
    }
    async fn restart(&mut self) {
        self.rooms.restart().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_email_channel_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let servers = crate::email::servers(dir.path());
    let config = crate::email::town(dir.path(), &servers, TOWN_MAIL);
    let wire = Arc::new(Wire::default());
    wire.ready.store(true, Ordering::SeqCst);
    let rooms = Loopback { wire, config, db: dir.path().join("plaza.db"), crew: "luis", running: None, n: 0 };
    let mut d = Email { rooms, smtp: servers.smtp.clone(), imap: servers.imap.clone(), n: 0 };
    d.rooms.start();
    assert_eq!(run(&mut d, &Script::jun()).await, 8);
    d.rooms.stop().await;
}

// ---- Telegram: the real `plaza serve` against the Bot API emulator ----

struct Telegram {
    emu: crate::telegram::Emulator,
    config: PathBuf,
    db: PathBuf,
    plaza: Option<crate::telegram::Plaza>,
}

fn user(p: Person) -> i64 {
    match p {
        Person::Resident(i) => 7000 + i64::from(i),
        Person::Neighbour => 7900,
        Person::Crew => crate::telegram::LUIS,
    }
}

fn chat(room: &str) -> i64 {
    match room {
        "public" => crate::telegram::PUBLIC,
        "electricians" => crate::telegram::ELECTRICIANS,
        r => panic!("no Telegram chat for the room {r} in this test"),
    }
}

#[async_trait]
impl Driver for Telegram {
    async fn direct(&mut self, who: Person, text: &str) {
        self.emu.send(crate::telegram::dm(user(who), &name(who), text)).await;
    }
    async fn in_room(&mut self, room: &str, who: Person, text: &str) {
        self.emu.send(crate::telegram::in_group(user(who), &name(who), chat(room), text, None)).await;
    }
    async fn sent_to(&mut self, who: Person) -> Vec<String> {
        crate::telegram::texts_to(&self.emu.sent().await, user(who))
    }
    async fn sent_to_room(&mut self, room: &str) -> Vec<String> {
        crate::telegram::texts_to(&self.emu.sent().await, chat(room))
    }
    async fn restart(&mut self) {
        self.plaza = None;
        self.plaza = Some(crate::telegram::Plaza::start(&self.config, &self.db, &[]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = crate::telegram::Emulator::start();
    let config = crate::telegram::telegram_config(dir.path(), &emu.url, "");
    let db = dir.path().join("plaza.db");
    let plaza = Some(crate::telegram::Plaza::start(&config, &db, &[]));
    let mut d = Telegram { emu, config, db, plaza };
    assert_eq!(run(&mut d, &Script::jun()).await, 8);
}

// ---- Matrix: the real `plaza serve` against Synapse ----

struct Matrix {
    town: crate::matrix::Town,
    config: PathBuf,
    db: PathBuf,
    plaza: Option<crate::telegram::Plaza>,
    http: reqwest::Client,
    /// Each resident's and the neighbour's direct chat with the bot (plain, as a simple
    /// client makes it).
    chats: std::collections::BTreeMap<Person, crate::matrix::Plain>,
    txn: usize,
}

impl Matrix {
    async fn chat(&mut self, who: Person) -> &crate::matrix::Plain {
        if !self.chats.contains_key(&who) {
            let t = &self.town;
            let p = crate::matrix::Plain::new(&t.hs, &self.http, &name(who), &t.bot).await;
            for _ in 0..300 {
                if p.has_joined(&t.hs, &self.http, &t.bot).await {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            if who == Person::Neighbour {
                // The neighbour is in the public room too.
                let public = t.room("public").clone();
                t.mayor.room(&public).invite_user_by_id(&bob_id()).await.expect("invite");
                let r = self
                    .http
                    .post(format!("{}/_matrix/client/v3/join/{public}", t.hs.url))
                    .bearer_auth(&p.token)
                    .json(&serde_json::json!({}))
                    .send()
                    .await
                    .expect("join");
                assert!(r.status().is_success(), "join: {}", r.status());
            }
            self.chats.insert(who, p);
        }
        &self.chats[&who]
    }
}

fn bob_id() -> matrix_sdk::ruma::OwnedUserId {
    matrix_sdk::ruma::UserId::parse("@bob:localhost").expect("id")
}

#[async_trait]
impl Driver for Matrix {
    async fn direct(&mut self, who: Person, text: &str) {
        self.txn += 1;
        let txn = format!("k{}", self.txn);
        let (url, http) = (self.town.hs.url.clone(), self.http.clone());
        let p = self.chat(who).await;
        crate::matrix::put_text(&http, &url, &p.token, &p.room, &txn, text).await;
    }
    async fn in_room(&mut self, room: &str, who: Person, text: &str) {
        let id = self.town.room(room).clone();
        match who {
            Person::Crew => {
                self.town.luis.say(&id, text).await;
            }
            _ => {
                self.txn += 1;
                let txn = format!("k{}", self.txn);
                let (url, http) = (self.town.hs.url.clone(), self.http.clone());
                let token = self.chat(who).await.token.clone();
                crate::matrix::put_text(&http, &url, &token, id.as_str(), &txn, text).await;
            }
        }
    }
    async fn sent_to(&mut self, who: Person) -> Vec<String> {
        let (hs, http, bot) = (&self.town.hs, &self.http, &self.town.bot);
        match self.chats.get(&who) {
            Some(p) => p.from(hs, http, bot).await,
            None => vec![],
        }
    }
    async fn sent_to_room(&mut self, room: &str) -> Vec<String> {
        let t = &self.town;
        let token = t.mayor.client.access_token().expect("token");
        let view = crate::matrix::Plain { token, room: t.room(room).to_string() };
        view.from(&t.hs, &self.http, &t.bot).await
    }
    async fn restart(&mut self) {
        self.plaza = None;
        self.plaza = Some(crate::matrix::start_plaza(&self.config, &self.db, &self.town));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_conforms() {
    let town = crate::matrix::town(&[]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::matrix::matrix_config(dir.path(), &town, None, crate::matrix::BotLogin::Password);
    let db = dir.path().join("plaza.db");
    let plaza = Some(crate::matrix::start_plaza(&config, &db, &town));
    let mut d = Matrix { town, config, db, plaza, http: reqwest::Client::new(), chats: Default::default(), txn: 0 };
    assert_eq!(run(&mut d, &Script::jun()).await, 8);
}

// ---- The web chat: residents in a browser (forms, no JavaScript), crews on a second channel ----

struct WebChat {
    rooms: Loopback,
    base: String,
    people: std::collections::BTreeMap<Person, crate::web_chat::Person>,
    n: usize,
}

impl WebChat {
    async fn person(&mut self, who: Person) -> &mut crate::web_chat::Person {
        if !self.people.contains_key(&who) {
            let mut p = crate::web_chat::Person::new(&self.base);
            p.page().await;
            self.people.insert(who, p);
        }
        self.people.get_mut(&who).expect("person")
    }
}

/// The page's text as a person reads it.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

#[async_trait]
impl Driver for WebChat {
    async fn direct(&mut self, who: Person, text: &str) {
        match who {
            Person::Resident(_) => {
                self.n += 1;
                let nonce = format!("n{}", self.n);
                let (status, _) = self.person(who).await.post(&[("text", text), ("nonce", &nonce)]).await;
                assert_eq!(status, 303, "the form is taken");
            }
            _ => self.rooms.direct(who, text).await,
        }
    }
    async fn in_room(&mut self, room: &str, who: Person, text: &str) {
        self.rooms.in_room(room, who, text).await
    }
    async fn sent_to(&mut self, who: Person) -> Vec<String> {
        match who {
            Person::Resident(_) => {
                let page = self.person(who).await.page().await;
                // The greeting is the page's, not a message; the buttons (forms with a
                // fresh nonce each time) are not the text.
                crate::web_chat::bot_lines(&page)
                    .iter()
                    .skip(1)
                    .map(|l| unescape(l.split("<br>").next().unwrap_or("")))
                    .collect()
            }
            _ => self.rooms.sent_to(who).await,
        }
    }
    async fn sent_to_room(&mut self, room: &str) -> Vec<String> {
        self.rooms.sent_to_room(room).await
    }
    async fn restart(&mut self) {
        self.rooms.restart().await;
        up(&self.base).await;
    }
}

/// Waits until the web server answers.
async fn up(base: &str) {
    for _ in 0..200 {
        if reqwest::get(format!("{base}/health")).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the web did not start on {base}");
}

/// The web chat, and after a restart the conversation read back from the store (the
/// bot's messages, with the buttons of an open question).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_chat_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let jun = std::fs::read_to_string(jun_in(dir.path())).expect("jun");
    let cfg = plaza_core::Config::parse(&jun).expect("jun parses");
    let mut text = jun.replace("\"console:luis\"", "\"loopback:luis\"");
    text.push_str(&format!(
        "\n[web]\nlisten = \"127.0.0.1:{port}\"\n\n[loopback]\ntrust_ids = true\n[loopback.rooms]\n"
    ));
    for r in cfg.room_names() {
        text.push_str(&format!("{r} = \"#{r}\"\n"));
    }
    let config = dir.path().join("web-town.toml");
    std::fs::write(&config, text).expect("write");
    let wire = Arc::new(Wire::default());
    wire.ready.store(true, Ordering::SeqCst);
    let rooms = Loopback { wire, config, db: dir.path().join("plaza.db"), crew: "luis", running: None, n: 0 };
    let mut d = WebChat { rooms, base: format!("http://127.0.0.1:{port}"), people: Default::default(), n: 0 };
    d.rooms.start();
    up(&d.base).await;
    assert_eq!(run(&mut d, &Script::jun()).await, 8);
    // The open question ("is it fixed?") still has its buttons after the restart.
    let page = d.person(Person::Resident(0)).await.page().await;
    assert!(page.contains("name=\"button\" value=\"fixed:1\""), "the question's buttons are back: {page}");
    d.rooms.stop().await;
}
