//! The Jun workflow on Matrix: the real `plaza serve` (matrix-sdk inside) against a real
//! Synapse homeserver on 127.0.0.1 (scripts/synapse). Residents, crew members and
//! neighbours are real matrix-sdk clients with end-to-end encryption; the resident's direct
//! chat with the bot is encrypted, as Element makes it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::{Annotation, Thread};
use matrix_sdk::ruma::events::room::message::{
    ImageMessageEventContent, LocationMessageEventContent, MessageType, OriginalSyncRoomMessageEvent, Relation,
    RoomMessageEventContent,
};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, UserId};
use matrix_sdk::{Client, Room};
use serde_json::{Value, json};

use crate::telegram::{self, Plaza};
use crate::{Proc, repo, start_script};

/// A Synapse started through the project's script, stopped when dropped.
pub struct Synapse {
    _proc: Proc,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Synapse {
    pub async fn start() -> Synapse {
        Self::start_with(&[]).await
    }

    pub async fn start_with(env: &[(&str, &str)]) -> Synapse {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(repo().join("scripts/synapse"));
        cmd.arg(dir.path().join("hs"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (proc, port) = start_script(cmd, "PORT ", "Synapse (scripts/synapse)");
        let url = format!("http://127.0.0.1:{port}");
        let s = Synapse { _proc: proc, url: url.clone(), _dir: dir };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{url}/_matrix/client/versions")).send().await
                && r.status().is_success()
            {
                return s;
            }
            assert!(Instant::now() < deadline, "Synapse did not answer on {url}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Registers an account (open registration in the test server); returns its id and
    /// the access token of the device registration created.
    pub async fn register(&self, name: &str) -> (OwnedUserId, String) {
        let r = reqwest::Client::new()
            .post(format!("{}/_matrix/client/v3/register", self.url))
            .json(&json!({"username": name, "password": password(name), "auth": {"type": "m.login.dummy"}}))
            .send()
            .await
            .expect("register");
        assert!(r.status().is_success(), "register {name}");
        let v: serde_json::Value = r.json().await.expect("json");
        let token = v["access_token"].as_str().expect("access token").to_owned();
        (UserId::parse(format!("@{name}:localhost")).expect("user id"), token)
    }
}

fn password(name: &str) -> String {
    format!("pw-{name}-plaza-test")
}

/// A person on Matrix: a logged-in matrix-sdk client (with encryption) that syncs in the
/// background and keeps every message it sees, decrypted.
pub struct Person {
    pub client: Client,
    seen: Arc<Mutex<Vec<Seen>>>,
    _sync: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub room: OwnedRoomId,
    pub event_id: OwnedEventId,
    pub sender: OwnedUserId,
    pub body: String,
    /// The event this one edits, if it is an edit.
    pub replaces: Option<OwnedEventId>,
    pub encrypted: bool,
    /// The homeserver's timestamp (ms): one clock for every client.
    pub ts: u64,
}

impl Person {
    pub async fn login(hs: &Synapse, name: &str) -> Person {
        let client = Client::builder().homeserver_url(&hs.url).build().await.expect("client");
        client
            .matrix_auth()
            .login_username(name, &password(name))
            .initial_device_display_name(name)
            .await
            .expect("login");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let s = seen.clone();
        client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
            let s = s.clone();
            async move {
                let (body, replaces) = match (&ev.content.msgtype, &ev.content.relates_to) {
                    (_, Some(Relation::Replacement(r))) => {
                        let body = match &r.new_content.msgtype {
                            MessageType::Text(t) => t.body.clone(),
                            _ => String::new(),
                        };
                        (body, Some(r.event_id.clone()))
                    }
                    (MessageType::Text(t), _) => (t.body.clone(), None),
                    (MessageType::Notice(t), _) => (t.body.clone(), None),
                    _ => (String::new(), None),
                };
                let encrypted = room.encryption_state().is_encrypted();
                s.lock().expect("lock").push(Seen {
                    room: room.room_id().to_owned(),
                    event_id: ev.event_id.clone(),
                    sender: ev.sender.clone(),
                    body,
                    replaces,
                    encrypted,
                    ts: u64::from(ev.origin_server_ts.0),
                });
            }
        });
        // Accept every invitation (the bot inviting to a direct chat, rooms).
        client.add_event_handler(
            |ev: matrix_sdk::ruma::events::room::member::StrippedRoomMemberEvent, room: Room, c: Client| async move {
                if c.user_id().is_some_and(|u| u.as_str() == ev.state_key.as_str()) {
                    for _ in 0..5 {
                        if room.join().await.is_ok() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                }
            },
        );
        // A sync gives the newest events of a room only (10 by default) and this client
        // does not read back the gaps: with a higher limit a burst is seen whole.
        let filter = {
            use matrix_sdk::ruma::api::client::filter::FilterDefinition;
            let mut def = FilterDefinition::default();
            def.room.timeline.limit = Some(matrix_sdk::ruma::UInt::from(200u32));
            matrix_sdk::ruma::api::client::sync::sync_events::v3::Filter::FilterDefinition(def)
        };
        client.sync_once(SyncSettings::default().filter(filter.clone())).await.expect("first sync");
        let c = client.clone();
        let sync = tokio::spawn(async move {
            let _ = c.sync(SyncSettings::default().filter(filter).timeout(Duration::from_secs(5))).await;
        });
        Person { client, seen, _sync: sync }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Waits until a message from `from` in `room` satisfies `ok`; returns it.
    pub async fn wait_for(&self, what: &str, room: &OwnedRoomId, ok: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = self.seen().into_iter().find(|s| &s.room == room && ok(s)) {
                return s;
            }
            if Instant::now() > deadline {
                let mine: Vec<String> =
                    self.seen().iter().filter(|s| &s.room == room).map(|s| s.body.clone()).collect();
                panic!("timed out waiting for {what}; in that room: {mine:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn room(&self, id: &OwnedRoomId) -> Room {
        self.client.get_room(id).expect("a room this person is in")
    }

    pub async fn say(&self, room: &OwnedRoomId, text: &str) -> OwnedEventId {
        self.room(room).send(RoomMessageEventContent::text_plain(text)).await.expect("send").response.event_id
    }

    pub async fn reply_in_thread(&self, room: &OwnedRoomId, root: &OwnedEventId, text: &str) {
        let mut c = RoomMessageEventContent::text_plain(text);
        c.relates_to = Some(Relation::Thread(Thread::plain(root.clone(), root.clone())));
        self.room(room).send(c).await.expect("send");
    }

    pub async fn react(&self, room: &OwnedRoomId, to: &OwnedEventId, key: &str) {
        self.room(room)
            .send(ReactionEventContent::new(Annotation::new(to.clone(), key.to_owned())))
            .await
            .expect("react");
    }

    /// Creates a room and invites people; waits until they have joined.
    pub async fn create_room(&self, name: &str, invite: &[&OwnedUserId], encrypted: bool) -> OwnedRoomId {
        let mut req = CreateRoom::new();
        req.name = Some(name.to_owned());
        req.invite = invite.iter().map(|u| (*u).clone()).collect();
        let room = self.client.create_room(req).await.expect("create room");
        if encrypted {
            room.enable_encryption().await.expect("encryption");
        }
        room.room_id().to_owned()
    }
}

/// Waits until `user` has joined `room`, as `watcher` sees it.
async fn wait_joined(watcher: &Person, room: &OwnedRoomId, user: &UserId) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = watcher.client.get_room(room)
            && let Ok(Some(m)) = r.get_member_no_sync(user).await
            && *m.membership() == matrix_sdk::ruma::events::room::member::MembershipState::Join
        {
            return;
        }
        assert!(Instant::now() < deadline, "{user} did not join {room}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The town's rooms on Matrix, created by the mayor's office.
pub(crate) struct Town {
    pub(crate) hs: Synapse,
    pub(crate) bot: OwnedUserId,
    bot_token: String,
    pub(crate) mayor: Person,
    ana: Person,
    pub(crate) luis: Person,
    bea: Person,
    rooms: Vec<(&'static str, OwnedRoomId)>,
}

impl Town {
    pub(crate) fn room(&self, name: &str) -> &OwnedRoomId {
        &self.rooms.iter().find(|(n, _)| *n == name).expect("room").1
    }
}

const ROOMS: &[&str] = &["electricians", "water", "roads", "cleaning", "animals", "police", "public", "triage"];

pub(crate) async fn town(only: &[&'static str]) -> Town {
    town_on(Synapse::start().await, only).await
}

async fn town_on(hs: Synapse, only: &[&'static str]) -> Town {
    let (bot, bot_token) = hs.register("plaza").await;
    for n in ["alcaldesa", "ana", "luis", "bea"] {
        hs.register(n).await;
    }
    // The registration's device is the one an access-token login uses.
    let mayor = Person::login(&hs, "alcaldesa").await;
    let ana = Person::login(&hs, "ana").await;
    let luis = Person::login(&hs, "luis").await;
    let bea = Person::login(&hs, "bea").await;
    let luis_id = luis.client.user_id().expect("id").to_owned();
    let bea_id = bea.client.user_id().expect("id").to_owned();
    let mut rooms = Vec::new();
    for name in ROOMS.iter().filter(|r| only.is_empty() || only.contains(r)) {
        let mut invite = vec![&bot];
        if *name == "electricians" {
            // Bea, a resident, is in the electricians' room too: she must not be able to act.
            invite.extend([&luis_id, &bea_id]);
        }
        if *name == "public" {
            invite.push(&bea_id);
        }
        let id = mayor.create_room(name, &invite, *name == "police").await;
        rooms.push((*name, id));
    }
    Town { hs, bot, bot_token, mayor, ana, luis, bea, rooms }
}

/// How the bot logs in, in a test.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum BotLogin {
    Password,
    AccessToken,
}

/// Jun's config with Matrix crews and rooms (and, given, a Telegram section).
pub(crate) fn matrix_config(dir: &Path, t: &Town, telegram_url: Option<&str>, login: BotLogin) -> PathBuf {
    let path = match telegram_url {
        Some(url) => {
            let p = telegram::telegram_config(dir, url, "");
            // Rooms on Matrix are not on Telegram.
            let text = std::fs::read_to_string(&p).expect("read");
            let text: String = text
                .lines()
                .filter(|l| !t.rooms.iter().any(|(n, _)| l.starts_with(&format!("{n} = "))))
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(&p, text).expect("write");
            p
        }
        None => {
            let jun = std::fs::read_to_string(repo().join("config/jun.toml")).expect("jun.toml");
            let locales = repo().join("config/locales");
            let text = jun.replace("locales = \"locales\"", &format!("locales = {:?}", locales.display().to_string()));
            let p = dir.join("town.toml");
            std::fs::write(&p, text).expect("write");
            p
        }
    };
    let text = std::fs::read_to_string(&path).expect("read");
    let text =
        text.replace("members = [\"console:luis\"", "members = [\"matrix:@luis:localhost\", \"console:luis\"").replace(
            "dispatchers = [\"console:alcaldesa\"",
            "dispatchers = [\"matrix:@alcaldesa:localhost\", \"console:alcaldesa\"",
        );
    let rooms: String = t.rooms.iter().map(|(n, id)| format!("{n} = \"{id}\"\n")).collect();
    let section = format!(
        "\n[matrix]\nhomeserver = \"{}\"\nuser_id = \"{}\"\n{}\nstore = {:?}\n[matrix.rooms]\n{rooms}",
        t.hs.url,
        t.bot,
        match login {
            BotLogin::Password => "password_env = \"PLAZA_TEST_MATRIX_PASSWORD\"",
            BotLogin::AccessToken => "access_token_env = \"PLAZA_TEST_MATRIX_TOKEN\"",
        },
        dir.join("matrix").display().to_string()
    );
    std::fs::write(&path, format!("{text}\n{section}")).expect("write config");
    path
}

/// A folder with the town's config (the bot logs in with its password) and where its
/// database goes: (folder, config, database).
fn password_bot_files(t: &Town) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = matrix_config(dir.path(), t, None, BotLogin::Password);
    let db = dir.path().join("plaza.db");
    (dir, cfg, db)
}

pub(crate) fn start_plaza(cfg: &Path, db: &Path, t: &Town) -> Plaza {
    let pw = password("plaza");
    Plaza::start(
        cfg,
        db,
        &[("PLAZA_TEST_MATRIX_PASSWORD", pw.as_str()), ("PLAZA_TEST_MATRIX_TOKEN", t.bot_token.as_str())],
    )
}

/// Ana opens an encrypted direct chat with the bot and waits until the bot is in it.
async fn open_dm(t: &Town) -> OwnedRoomId {
    let room = t.ana.client.create_dm(&t.bot).await.expect("create dm");
    assert!(room.latest_encryption_state().await.expect("state").is_encrypted(), "Element-like DMs are encrypted");
    let id = room.room_id().to_owned();
    wait_joined(&t.ana, &id, &t.bot).await;
    id
}

fn device_of(dir: &Path) -> String {
    let s = std::fs::read_to_string(dir.join("matrix/session.json")).expect("session.json");
    let v: serde_json::Value = serde_json::from_str(&s).expect("json");
    v["device_id"].as_str().expect("device id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streetlight_story_in_an_encrypted_dm() {
    let t = town(&[]).await;
    let (dir, cfg, db) = password_bot_files(&t);
    // Said in the crew room before the bot is there: history, not a command.
    let elec = t.room("electricians").clone();
    wait_joined(&t.luis, &elec, t.luis.client.user_id().expect("id")).await;
    t.luis.say(&elec, "/ayuda").await;
    let _plaza = start_plaza(&cfg, &db, &t);
    for (_, r) in &t.rooms {
        wait_joined(&t.mayor, r, &t.bot).await;
    }
    let dm = open_dm(&t).await;
    let (public, police) = (t.room("public").clone(), t.room("police").clone());

    t.ana.say(&dm, "La farola de la calle Alemania 5 está apagada").await;
    let ack = t.ana.wait_for("the acknowledgement", &dm, |s| s.sender == t.bot && s.body.contains("Tu aviso #1")).await;
    assert!(ack.encrypted, "the bot answered in the encrypted chat, and Ana decrypted it");
    let card = t.luis.wait_for("the card", &elec, |s| s.body.starts_with("🆕 #1 · Alumbrado público")).await;
    // The bot's device is signed by the bot's own identity (Element shows no warning).
    let device = device_of(dir.path());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let _ = t.ana.client.encryption().request_user_identity(&t.bot).await;
        let signed = match t.ana.client.encryption().get_device(&t.bot, device.as_str().into()).await {
            Ok(Some(d)) => d.is_cross_signed_by_owner(),
            _ => false,
        };
        if signed {
            break;
        }
        assert!(Instant::now() < deadline, "the bot's device {device} is not cross-signed by its owner");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        !t.luis.seen().iter().any(|s| s.room == elec && s.sender == t.bot && s.body.starts_with("Hola")),
        "the bot answered a message from before it joined"
    );
    let post = t.bea.wait_for("the public post", &public, |s| s.body.starts_with("📢 #1")).await;
    assert!(
        !post.body.contains("ana") && !post.body.contains("Ana"),
        "the public post names the reporter: {}",
        post.body
    );

    // A 👍 on the public post counts as "me too": the post is edited.
    t.bea.react(&public, &post.event_id, "👍").await;
    t.bea
        .wait_for("the post shows the support", &public, |s| {
            s.replaces.as_ref() == Some(&post.event_id) && s.body.contains("👍 1")
        })
        .await;

    // Bea (a resident, not an electrician) reacts ✅ on the card: nothing changes, and a
    // short line in the card's thread says so (issue 9).
    t.bea.react(&elec, &card.event_id, "✅").await;
    t.bea
        .wait_for("the refusal in the thread", &elec, |s| {
            s.sender == t.bot && s.body.starts_with("Solo el equipo del aviso #1")
        })
        .await;
    // The card says how to act on Matrix: reactions, not buttons or typed commands.
    assert!(card.body.contains("Reacciona 👀 para tomarlo y ✅ cuando esté hecho"), "{}", card.body);
    // Luis claims it with 👀: Ana is told; the card itself shows it, no extra line.
    t.luis.react(&elec, &card.event_id, "👀").await;
    t.ana.wait_for("claimed", &dm, |s| s.body.contains("trabajando en el aviso #1")).await;
    t.luis
        .wait_for("the card edited", &elec, |s| {
            s.replaces.as_ref() == Some(&card.event_id) && s.body.contains("Estado: en curso")
        })
        .await;
    assert!(
        !t.luis.seen().iter().any(|s| s.room == elec && s.body.starts_with("#1 →")),
        "a separate status line in the crew room"
    );
    // Bea only reacted 👍: the bot did not open a direct chat with her for a thank-you.
    let bea_dms: Vec<_> =
        t.bea.client.rooms().into_iter().filter(|r| !t.rooms.iter().any(|(_, id)| id == r.room_id())).collect();
    assert!(bea_dms.is_empty(), "the bot invited Bea, who only reacted, to a direct chat");
    assert!(!t.ana.seen().iter().any(|s| s.body.contains("resuelto")), "Bea's ✅ changed the task");

    // Luis replies "hecho" in the card's thread: Ana is told, with the time; the public
    // post is edited.
    t.luis.reply_in_thread(&elec, &card.event_id, "hecho").await;
    let done = t.ana.wait_for("done", &dm, |s| s.body.contains("resuelto en")).await;
    assert!(done.body.starts_with("✅ Aviso #1 (Alumbrado público) resuelto en menos de 1 min."), "{}", done.body);
    t.bea
        .wait_for("the post edited", &public, |s| {
            s.replaces.as_ref() == Some(&post.event_id) && s.body.contains("Estado: resuelto")
        })
        .await;

    // "Is it fixed?" (issue 12), answered in words on Matrix (no buttons there): "no" with
    // Ana's words reopens it — the crew reads them in the card's thread, the post says open
    // again; a ✅ from Luis closes it again; "sí" and a rating of 4.
    t.ana.wait_for("is it fixed?", &dm, |s| s.body.starts_with("¿Está arreglado? Responde 1 (sí) o 2 (no)")).await;
    t.ana.say(&dm, "no, sigue apagada por la noche").await;
    t.ana.wait_for("reopened", &dm, |s| s.body.starts_with("He reabierto tu aviso #1")).await;
    t.luis
        .wait_for("ana's words for the crew", &elec, |s| {
            s.sender == t.bot && s.body.contains("«no, sigue apagada por la noche»")
        })
        .await;
    t.bea
        .wait_for("the post open again", &public, |s| {
            s.replaces.as_ref() == Some(&post.event_id) && s.body.contains("Estado: abierto")
        })
        .await;
    t.luis.react(&elec, &card.event_id, "✅").await;
    let asked = |s: &Seen| s.body.starts_with("¿Está arreglado?");
    let deadline = Instant::now() + Duration::from_secs(30);
    while t.ana.seen().iter().filter(|s| s.room == dm && asked(s)).count() < 2 {
        assert!(Instant::now() < deadline, "Ana was not asked again after the second fix");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.ana.say(&dm, "sí").await;
    t.ana.wait_for("asked for a rating", &dm, |s| s.body.contains("puntúa el trabajo en el #1 del 1 al 5")).await;
    t.ana.say(&dm, "4").await;
    t.ana.wait_for("the rating thanked", &dm, |s| s.body.starts_with("¡Gracias! Tu puntuación")).await;
    t.bea
        .wait_for("the post credits the crew", &public, |s| {
            s.replaces.as_ref() == Some(&post.event_id)
                && s.body.contains("Estado: resuelto · 👍 1 · ✅ Arreglado por Electricistas")
        })
        .await;

    // A neighbour's reply in the public thread reaches the reporter.
    t.bea.reply_in_thread(&public, &post.event_id, "Gracias, ya se ve bien la calle").await;
    t.ana.wait_for("the neighbour's reply", &dm, |s| s.body.contains("«Gracias, ya se ve bien la calle»")).await;

    // An invitation to a room the config does not name is refused.
    let stray = t.bea.create_room("charla", &[&t.bot], false).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = t.bea.room(&stray).get_member_no_sync(&t.bot).await.ok().flatten();
        if m.is_some_and(|m| *m.membership() == matrix_sdk::ruma::events::room::member::MembershipState::Leave) {
            break;
        }
        assert!(Instant::now() < deadline, "the bot did not refuse the invitation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A report without a place: the bot asks where (offering back the place of Ana's last
    // report); an m.location answers.
    t.ana.say(&dm, "Hay una fuga de agua enorme").await;
    t.ana.wait_for("where?", &dm, |s| s.body.starts_with("¿Es en calle Alemania 5, como la otra vez?")).await;
    let loc = LocationMessageEventContent::new("Mi ubicación".into(), "geo:37.1421,-3.4987;u=10".into());
    t.ana.room(&dm).send(RoomMessageEventContent::new(MessageType::Location(loc))).await.expect("send location");
    t.ana.wait_for("ack #2", &dm, |s| s.body.starts_with("Gracias. Tu aviso #2 (Fugas de agua)")).await;
    // An m.image sent right after is added to the report; the crew sees its mxc URI.
    let img = ImageMessageEventContent::plain("fuga.jpg".into(), "mxc://localhost/FugaFoto123".into());
    t.ana.room(&dm).send(RoomMessageEventContent::new(MessageType::Image(img))).await.expect("send image");
    t.ana.wait_for("photo added", &dm, |s| s.body.contains("He añadido la foto a tu aviso #2")).await;
    let water = t.room("water").clone();
    t.mayor
        .wait_for("the photo in the crew room", &water, |s| s.body.contains("#2 📎 image: mxc://localhost/FugaFoto123"))
        .await;

    // A suspicious car: the police room gets it, the public room nothing.
    t.ana.say(&dm, "Hay un coche sospechoso merodeando en la calle Luna 4").await;
    t.mayor.wait_for("the police card", &police, |s| s.body.starts_with("🔒 #3")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        t.bea
            .seen()
            .iter()
            .filter(|s| s.room == public)
            .all(|s| !s.body.contains("sospechoso") && !s.body.contains("#3")),
        "a private task reached the public room"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_decrypts_what_came_meanwhile_exactly_once() {
    let t = town(&[]).await;
    let (dir, cfg, db) = password_bot_files(&t);
    let plaza = start_plaza(&cfg, &db, &t);
    let dm = open_dm(&t).await;
    t.ana.say(&dm, "La farola de la calle Sol 1 está apagada").await;
    t.ana.wait_for("first ack", &dm, |s| s.sender == t.bot && s.body.contains("#1")).await;
    let device = device_of(dir.path());
    drop(plaza);

    // More than one sync carries for a room (Synapse gives the newest 10): the rest
    // must be read from the room's history, not lost.
    const MEANWHILE: usize = 12;
    for n in 0..MEANWHILE {
        t.ana.say(&dm, &format!("Hay un bache en la calle Luna {}", 2 * n + 2)).await;
    }
    let plaza = start_plaza(&cfg, &db, &t);
    let last = format!("#{}", MEANWHILE + 1);
    t.ana.wait_for("the last ack", &dm, |s| s.sender == t.bot && s.body.contains(&last)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Waiting answers to one resident may go as one message, apart by blank lines.
    let acks: Vec<String> = t
        .ana
        .seen()
        .into_iter()
        .filter(|s| s.room == dm && s.sender == t.bot)
        .flat_map(|s| s.body.split("\n\n").map(str::to_owned).collect::<Vec<_>>())
        .filter(|b| b.starts_with("Gracias"))
        .collect();
    assert_eq!(acks.len(), MEANWHILE + 1, "{acks:#?}");
    for n in 1..=MEANWHILE + 1 {
        let number = format!("#{n} ");
        assert_eq!(acks.iter().filter(|a| a.contains(&number)).count(), 1, "task #{n} acknowledged once: {acks:#?}");
    }
    assert_eq!(device_of(dir.path()), device, "a new device after restart");
    assert!(!plaza.log().contains(&password("plaza")), "the bot's password is in the log");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("matrix/session.json")).expect("session").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the session file (an access token) is readable by others");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_on_telegram_crew_on_matrix_with_an_access_token() {
    let t = town(&["electricians"]).await;
    let emu = telegram::Emulator::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = matrix_config(dir.path(), &t, Some(&emu.url), BotLogin::AccessToken);
    let db = dir.path().join("plaza.db");
    let _plaza = start_plaza(&cfg, &db, &t);
    let elec = t.room("electricians").clone();
    wait_joined(&t.luis, &elec, &t.bot).await;

    emu.send(telegram::dm(5001, "Ana", "La farola de la calle Alemania 5 está apagada")).await;
    let card = t.luis.wait_for("the card on Matrix", &elec, |s| s.body.starts_with("🆕 #1 · Alumbrado público")).await;
    t.luis.react(&elec, &card.event_id, "👀").await;
    emu.wait_for("claimed, on Telegram", 60, |s| {
        s.iter()
            .any(|m| m["chat"]["id"] == 5001 && m["text"].as_str().unwrap_or("").contains("trabajando en el aviso #1"))
    })
    .await;
    t.luis.reply_in_thread(&elec, &card.event_id, "hecho").await;
    emu.wait_for("done, on Telegram", 60, |s| {
        s.iter().any(|m| m["chat"]["id"] == 5001 && m["text"].as_str().unwrap_or("").contains("resuelto en"))
    })
    .await;
}

/// The homeserver limits the bot to a message every two seconds (after a burst of three):
/// Plaza gets M_LIMIT_EXCEEDED, keeps the messages queued, waits as told, and everything
/// arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_messages_stay_queued() {
    let hs = Synapse::start_with(&[("PLAZA_SYNAPSE_RC_MESSAGE", "{per_second: 0.5, burst_count: 3}")]).await;
    let t = town_on(hs, &[]).await;
    let (_dir, cfg, db) = password_bot_files(&t);
    let _plaza = start_plaza(&cfg, &db, &t);
    let dm = open_dm(&t).await;
    let elec = t.room("electricians").clone();
    for street in ["Sol 1", "Luna 2", "Mar 3"] {
        t.ana.say(&dm, &format!("La farola de la calle {street} está apagada")).await;
        tokio::time::sleep(Duration::from_millis(2_100)).await; // Ana has the same limit
    }
    for n in 1..=3 {
        t.ana.wait_for("an ack", &dm, |s| s.sender == t.bot && s.body.contains(&format!("Tu aviso #{n} "))).await;
        t.luis.wait_for("a card", &elec, |s| s.body.starts_with(&format!("🆕 #{n} "))).await;
    }
    // Each report acknowledged once (answers that waited out the limit may share a message).
    let acks: usize = t
        .ana
        .seen()
        .into_iter()
        .filter(|s| s.room == dm && s.sender == t.bot)
        .map(|s| s.body.matches("Tu aviso #").count())
        .sum();
    assert_eq!(acks, 3);
    // The limit was really hit, and the outbox waited for it.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await.expect("db");
    let waited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE last_error = 'rate limited'")
        .fetch_one(&pool)
        .await
        .expect("query");
    assert!(waited > 0, "the homeserver never limited the bot");
    // Everything is delivered in the end (the public posts may still be waiting their turn).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pending: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT state, message, attempts FROM outbox WHERE state != 'delivered'")
                .fetch_all(&pool)
                .await
                .expect("query");
        if pending.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {pending:#?}");
        assert!(pending.iter().all(|(state, _, _)| state == "pending"), "given up: {pending:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The event as a room member reads it from the homeserver now.
async fn event_json(p: &Person, hs: &Synapse, room: &OwnedRoomId, event: &OwnedEventId) -> serde_json::Value {
    let token = p.client.access_token().expect("token");
    let url = format!("{}/_matrix/client/v3/rooms/{room}/event/{event}", hs.url.trim_end_matches('/'));
    let resp = reqwest::Client::new().get(url).bearer_auth(token).send().await.expect("get event");
    resp.json().await.expect("event json")
}

/// Issue 7 on Matrix: when a task becomes private, its public post AND every edit of it
/// are redacted on the homeserver (an edit carries the whole text), the room gets a
/// neutral line, and the neighbour who supported it is told neutrally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_withdrawn_when_its_task_becomes_private_is_redacted() {
    let t = town(&[]).await;
    let (_dir, cfg, db) = password_bot_files(&t);
    let _plaza = start_plaza(&cfg, &db, &t);
    for (_, r) in &t.rooms {
        wait_joined(&t.mayor, r, &t.bot).await;
    }
    let dm = open_dm(&t).await;
    let (public, triage) = (t.room("public").clone(), t.room("triage").clone());

    t.ana.say(&dm, "La farola de la calle Alemania 5 está apagada, soy Ana, @room").await;
    let post = t.bea.wait_for("the public post", &public, |s| s.body.starts_with("📢 #1")).await;
    let raw = event_json(&t.bea, &t.hs, &public, &post.event_id).await;
    assert_eq!(raw["content"]["m.mentions"], json!({}), "relayed text must mention nobody: {raw}");
    t.bea.react(&public, &post.event_id, "👍").await;
    let edit = t
        .bea
        .wait_for("the post edited", &public, |s| {
            s.replaces.as_ref() == Some(&post.event_id) && s.body.contains("👍 1")
        })
        .await;

    t.mayor.say(&triage, "privado #1").await;
    t.bea.wait_for("the neutral line", &public, |s| s.sender == t.bot && s.body.contains("retirado")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let original = event_json(&t.bea, &t.hs, &public, &post.event_id).await;
        let edited = event_json(&t.bea, &t.hs, &public, &edit.event_id).await;
        let redacted = |v: &serde_json::Value| v["content"].as_object().is_some_and(|c| c.is_empty());
        if redacted(&original) && redacted(&edited) {
            assert!(!original.to_string().contains("farola") && !edited.to_string().contains("farola"));
            break;
        }
        assert!(Instant::now() < deadline, "not redacted: {original}\n{edited}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Ana still hears of her report; Bea, who supported it, is told neutrally.
    let bea_dm = t
        .bea
        .wait_for("the neutral notice", &dm_of(&t.bea, &t.bot).await, |s| s.body.contains("de forma privada"))
        .await;
    assert!(!bea_dm.body.contains("farola"), "{}", bea_dm.body);
}

/// The direct chat `p` has with `bot` (created by the bot), once it exists.
async fn dm_of(p: &Person, bot: &OwnedUserId) -> OwnedRoomId {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for r in p.client.joined_rooms() {
            if r.is_direct().await.unwrap_or(false) && r.direct_targets().iter().any(|u| u.as_str() == bot.as_str()) {
                return r.room_id().to_owned();
            }
        }
        assert!(Instant::now() < deadline, "no direct chat with the bot");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Issue 9: the outbox row is the Matrix transaction id, so a message sent again (a crash
/// between sending and recording the delivery) is one event on the homeserver, not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_twice_is_one_event() {
    use plaza_core::channel::{Channel, Destination, Outgoing};
    let t = town(&["public"]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let public = t.room("public").clone();
    let table: toml::Table = toml::from_str(&format!(
        "homeserver = \"{}\"\nuser_id = \"{}\"\naccess_token_env = \"UNUSED\"\nstore = {:?}\n[rooms]\npublic = \"{public}\"\n",
        t.hs.url,
        t.bot,
        dir.path().join("matrix").display().to_string()
    ))
    .expect("toml");
    let settings = plaza_matrix::MatrixSettings::parse(&table, &["public".to_owned()]).expect("settings");
    let secret = plaza_matrix::settings::Secret::AccessToken(t.bot_token.clone());
    let ch = plaza_matrix::MatrixChannel::connect(settings, &secret).await.expect("connect");
    let out = Outgoing {
        key: "plaza-4242".into(),
        text: "Aviso de prueba, una sola vez".into(),
        ..Outgoing::plain(Destination::Room("public".into()))
    };
    let first = ch.send(&out).await.expect("first send");
    let again = ch.send(&out).await.expect("the same send again");
    assert_eq!(first.message_id, again.message_id, "the homeserver saw one transaction");
    t.bea.wait_for("the message", &public, |s| s.body == "Aviso de prueba, una sola vez").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copies = t.bea.seen().iter().filter(|s| s.room == public && s.body == "Aviso de prueba, una sola vez").count();
    assert_eq!(copies, 1, "the message was posted {copies} times");
}

/// A resident on the plain client-server API (no encryption, no sync loop): cheap enough
/// to have fifty of them on one homeserver.
pub(crate) struct Plain {
    pub(crate) token: String,
    pub(crate) room: String,
}

impl Plain {
    pub(crate) async fn new(hs: &Synapse, http: &reqwest::Client, name: &str, bot: &UserId) -> Plain {
        let (_, token) = hs.register(name).await;
        let r: serde_json::Value = http
            .post(format!("{}/_matrix/client/v3/createRoom", hs.url))
            .bearer_auth(&token)
            .json(&json!({"is_direct": true, "invite": [bot], "preset": "trusted_private_chat"}))
            .send()
            .await
            .expect("createRoom")
            .json()
            .await
            .expect("json");
        let room = r["room_id"].as_str().expect("room id").to_owned();
        Plain { token, room }
    }

    pub(crate) async fn has_joined(&self, hs: &Synapse, http: &reqwest::Client, who: &UserId) -> bool {
        let r: serde_json::Value = match http
            .get(format!("{}/_matrix/client/v3/rooms/{}/joined_members", hs.url, self.room))
            .bearer_auth(&self.token)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => return false,
        };
        r["joined"].get(who.as_str()).is_some()
    }

    /// The bodies of the bot's messages in the chat, oldest first.
    pub(crate) async fn from(&self, hs: &Synapse, http: &reqwest::Client, bot: &UserId) -> Vec<String> {
        let r: serde_json::Value = match http
            .get(format!("{}/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100", hs.url, self.room))
            .bearer_auth(&self.token)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => return vec![],
        };
        let mut out: Vec<String> = r["chunk"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["sender"] == json!(bot.as_str()) && e["type"] == json!("m.room.message"))
            .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
            .collect();
        out.reverse();
        out
    }
}

async fn read_all(residents: &[Plain], hs: &Synapse, http: &reqwest::Client, bot: &UserId) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for r in residents {
        all.push(r.from(hs, http, bot).await);
    }
    all
}

/// Issue 9: Plaza killed (SIGKILL) during a burst of fifty residents' reports on Matrix,
/// then started again: every report is one task, every resident acknowledged, none
/// twice (the outbox row is the transaction id, so a re-send is the same event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_burst_nothing_is_sent_twice() {
    let t = town(&[]).await;
    let (_dir, cfg, db) = password_bot_files(&t);
    let plaza = start_plaza(&cfg, &db, &t);
    let http = reqwest::Client::new();
    let mut residents = Vec::new();
    for i in 0..50 {
        residents.push(Plain::new(&t.hs, &http, &format!("vecino{i}"), &t.bot).await);
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    for r in &residents {
        while !r.has_joined(&t.hs, &http, &t.bot).await {
            assert!(Instant::now() < deadline, "the bot did not join the residents' chats");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The residents write one after another while the test watches the first one's
    // chat: Plaza is killed as soon as it has answered her, in the middle of the burst.
    let residents = Arc::new(residents);
    let writing = {
        let (residents, http, url) = (residents.clone(), http.clone(), t.hs.url.clone());
        tokio::spawn(async move {
            for (i, r) in residents.iter().enumerate() {
                let text = format!("La farola de la calle Real {} está apagada", 2 * i + 1);
                put_text(&http, &url, &r.token, &r.room, "burst", &text).await;
            }
        })
    };
    let acks = |all: &[Vec<String>]| -> usize {
        all.iter().filter(|m| m.iter().any(|b| telegram::task_in(b).is_some())).count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks(&read_all(&residents[..1], &t.hs, &http, &t.bot).await) == 0 {
        assert!(Instant::now() < deadline, "the burst was not answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(plaza); // SIGKILL, as `kill -9`
    writing.await.expect("the residents wrote");
    let before = acks(&read_all(&residents, &t.hs, &http, &t.bot).await);
    assert!(before < 50, "the whole burst was over before the kill; nothing was tested");
    let plaza = start_plaza(&cfg, &db, &t);
    let deadline = Instant::now() + Duration::from_secs(120);
    while acks(&read_all(&residents, &t.hs, &http, &t.bot).await) < 50 {
        assert!(Instant::now() < deadline, "not every resident was acknowledged after the restart:\n{}", plaza.log());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = read_all(&residents, &t.hs, &http, &t.bot).await;
    let mut tasks = std::collections::HashSet::new();
    for (i, msgs) in all.iter().enumerate() {
        let acks: Vec<u32> = msgs.iter().filter_map(|b| telegram::task_in(b)).collect();
        assert_eq!(acks.len(), 1, "resident {i} was acknowledged {} times: {msgs:?}", acks.len());
        assert!(tasks.insert(acks[0]), "two residents were given task #{}", acks[0]);
    }
    assert!(tasks.iter().all(|t| (1..=50).contains(t)), "task numbers beyond the fifty reports: {tasks:?}");
}

/// Issue 9: a message the bot cannot decrypt (its key never comes) is not met with
/// silence: after waiting for the key (20 s, the default), the sender is asked once to
/// send it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_message_is_answered() {
    let t = town(&[]).await;
    let (_dir, cfg, db) = password_bot_files(&t);
    let _plaza = start_plaza(&cfg, &db, &t);
    let dm = open_dm(&t).await;
    t.ana.say(&dm, "Hola").await;
    t.ana.wait_for("the greeting", &dm, |s| s.sender == t.bot).await;
    // An encrypted event whose room key the bot never gets, as from a client that lost it.
    let token = t.ana.client.access_token().expect("token");
    let r = reqwest::Client::new()
        .put(format!("{}/_matrix/client/v3/rooms/{dm}/send/m.room.encrypted/lost-key-1", t.hs.url))
        .bearer_auth(token)
        .json(&json!({
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AwgAEnBCnnyuGVLfi/7R3m5sZz1mXbWOyS0tV1sJ4QIgpKi0mFaFoNCu2XrswEB2Cbxm6QhglWbi0GIzDRAJ3xJuFB4GdSFJ",
            "device_id": "LOSTDEVICE",
            "sender_key": "LDVdbTJ2G8axW2AUZBmadeJOxD7kebN2fIXnITy1KDk",
            "session_id": "Ra0hVe3QxMkPp9WbAn4AAAAAAAAAAAAAAAAAAAAAAAA"
        }))
        .send()
        .await
        .expect("send");
    assert!(r.status().is_success(), "{}", r.status());
    let sent_at = Instant::now();
    t.ana
        .wait_for("the request to send it again", &dm, |s| {
            s.sender == t.bot && s.body.starts_with("No he podido leer tu último mensaje")
        })
        .await;
    assert!(sent_at.elapsed() >= Duration::from_secs(15), "asked before the key had a chance to come");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let asked = t.ana.seen().iter().filter(|s| s.body.starts_with("No he podido leer")).count();
    assert_eq!(asked, 1, "asked {asked} times");
}

/// Issue 9: the disk fills up under Plaza's database, then under the bot's own Matrix
/// store (keys, room state), then under both. What a resident writes meanwhile is not
/// answered (nothing could be stored), not lost, and handled once as soon as there is
/// space again, by itself, though nothing new happens on the homeserver; the log says
/// "disk full" once each time; nothing is sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_loses_nothing_and_recovers() {
    let t = town(&[]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let db_disk = crate::disk::SmallDisk::mount(&dir.path().join("db"), "16m");
    // Where the config puts the bot's store.
    let sdk_disk = crate::disk::SmallDisk::mount(&dir.path().join("matrix"), "32m");
    let cfg = matrix_config(dir.path(), &t, None, BotLogin::Password);
    let db = db_disk.path.join("plaza.db");
    let pw = password("plaza");
    // The log off the small disks (next to the database, it would fill one itself).
    let log_path = dir.path().join("plaza.log");
    let mut plaza = Plaza::start_logging_to(&cfg, &db, &log_path, &[("PLAZA_TEST_MATRIX_PASSWORD", pw.as_str())]);
    let dm = open_dm(&t).await;
    let public = t.room("public").clone();
    t.ana.say(&dm, "La farola de la calle Sol 1 está apagada").await;
    t.ana.wait_for("the first acknowledgement", &dm, |s| s.sender == t.bot && s.body.contains("Tu aviso #1 ")).await;
    t.bea.wait_for("the first public post", &public, |s| s.body.starts_with("📢 #1")).await;
    let from_bot = |p: &Person, room: &OwnedRoomId| -> Vec<String> {
        p.seen().into_iter().filter(|s| &s.room == room && s.sender == t.bot).map(|s| s.body).collect()
    };

    let phases: [(&str, &[&crate::disk::SmallDisk], &str, &str); 3] = [
        (
            "Plaza's database",
            &[&db_disk],
            "Hay un bache enorme en la calle Luna 4",
            "the database accepts writes again",
        ),
        (
            "the bot's store",
            &[&sdk_disk],
            "Hay basura acumulada en la plaza Mayor 2",
            "the bot's store accepts writes again",
        ),
        (
            "both",
            &[&db_disk, &sdk_disk],
            "Hay una fuga de agua en la calle Real 7",
            "the bot's store accepts writes again",
        ),
    ];
    for (n, (what, disks, text, recovered)) in phases.into_iter().enumerate() {
        let task = format!("Tu aviso #{} ", n + 2);
        let said_before = plaza.log().lines().filter(|l| l.contains(recovered)).count();
        for d in disks {
            assert!(d.fill() > 0, "{what}: the disk was already full");
        }
        t.ana.say(&dm, text).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(plaza.alive(), "{what}: plaza stopped on a full disk:\n{}", plaza.log());
        let during = from_bot(&t.ana, &dm);
        assert!(!during.iter().any(|b| b.contains(&task)), "{what}: answered though nothing could be stored");
        let log = plaza.log();
        let full = log.lines().filter(|l| l.contains("disk full") || l.contains("disk is full")).count();
        assert!((1..=4 * (n + 1)).contains(&full), "{what}: \"disk full\" said {full} times:\n{log}");

        // Space again: nothing new happens on the homeserver, yet Ana's message is handled.
        for d in disks {
            d.free();
        }
        t.ana
            .wait_for(&format!("{what}: the acknowledgement once there is space"), &dm, |s| {
                s.sender == t.bot && s.body.contains(&task)
            })
            .await;
        let said = plaza.log().lines().filter(|l| l.contains(recovered)).count();
        assert_eq!(said, said_before + 1, "{what}: the recovery must be said once:\n{}", plaza.log());
    }
    t.bea.wait_for("the last public post", &public, |s| s.body.starts_with("📢 #4")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (who, room) in [(&t.ana, &dm), (&t.bea, &public)] {
        let bodies = from_bot(who, room);
        let mut seen = std::collections::HashSet::new();
        for b in &bodies {
            assert!(seen.insert(b), "sent twice in {room}: {b}\n{bodies:#?}");
        }
    }
    let acks = from_bot(&t.ana, &dm);
    for n in 1..=4 {
        let task = format!("Tu aviso #{n} ");
        let times = acks.iter().filter(|b| b.contains(&task)).count();
        assert_eq!(times, 1, "task #{n} acknowledged {times} times: {acks:#?}");
    }
}

/// Issue 9, the send path: the bot's own store is full when Plaza has something to send
/// (a report that came by the web while the Matrix side could store nothing), to a crew
/// room that is encrypted, so each message must be written to the bot's store before it
/// can be sent. The card waits in the outbox, is not lost, not refused for good, and goes
/// out once, by itself, when there is space; the log says "disk full" a few times at
/// most, not once per try, and the recovery once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_on_a_full_disk_waits_and_goes_once() {
    let t = town(&[]).await;
    let elec = t.room("electricians").clone();
    t.mayor.room(&elec).enable_encryption().await.expect("encrypt the crew room");
    let dir = tempfile::tempdir().expect("tempdir");
    let sdk_disk = crate::disk::SmallDisk::mount(&dir.path().join("matrix"), "32m");
    let cfg = matrix_config(dir.path(), &t, None, BotLogin::Password);
    let port = telegram::with_web(&cfg);
    let mut text = std::fs::read_to_string(&cfg).expect("config");
    text.push_str("[web.open311.clients]\ncity-app = \"PLAZA_TEST_OPEN311_KEY\"\n");
    std::fs::write(&cfg, text).expect("config");
    let db = dir.path().join("plaza.db");
    let pw = password("plaza");
    let key = "k-0123456789abcdef0123";
    let mut plaza = Plaza::start_logging_to(
        &cfg,
        &db,
        &dir.path().join("plaza.log"),
        &[("PLAZA_TEST_MATRIX_PASSWORD", pw.as_str()), ("PLAZA_TEST_OPEN311_KEY", key)],
    );
    let dm = open_dm(&t).await;
    t.ana.say(&dm, "La farola de la calle Sol 1 está apagada").await;
    t.luis.wait_for("the first card", &elec, |s| s.body.starts_with("🆕 #1 ")).await;

    let said = |plaza: &Plaza, what: &str| plaza.log().lines().filter(|l| l.contains(what)).count();
    let recovered_before = said(&plaza, "the bot's store accepts writes again");
    assert!(sdk_disk.fill() > 0, "the disk was already full");
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/open311/v2/requests.json"))
        .form(&[
            ("api_key", key),
            ("service_code", "001"),
            ("address_string", "calle Mayor 3"),
            ("description", "La farola de la calle Mayor 3 parpadea toda la noche"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap_or_default());
    // Stored by Plaza (its disk has space), yet the card cannot be encrypted and sent.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(plaza.alive(), "plaza stopped on a full disk:\n{}", plaza.log());
    let cards = |p: &Person| -> Vec<String> {
        p.seen().into_iter().filter(|s| s.room == elec && s.sender == t.bot).map(|s| s.body).collect()
    };
    assert!(
        !cards(&t.luis).iter().any(|b| b.starts_with("🆕 #2 ")),
        "the card went out though the bot's store was full: the failure was not injected"
    );
    let log = plaza.log();
    let full = said(&plaza, "disk full");
    assert!((1..=4).contains(&full), "\"disk full\" said {full} times:\n{log}");
    assert!(!log.contains("failed for good"), "a full store is not a refusal:\n{log}");

    sdk_disk.free();
    t.luis.wait_for("the card once there is space", &elec, |s| s.body.starts_with("🆕 #2 ")).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recovered = said(&plaza, "the bot's store accepts writes again");
    assert_eq!(recovered, recovered_before + 1, "the recovery must be said once:\n{}", plaza.log());
    let bodies = cards(&t.luis);
    let twice = bodies.iter().filter(|b| b.starts_with("🆕 #2 ")).count();
    assert_eq!(twice, 1, "card #2 sent {twice} times: {bodies:#?}");
}

/// A plain text message through the client-server API.
pub(crate) async fn put_text(http: &reqwest::Client, url: &str, token: &str, room: &str, txn: &str, text: &str) {
    put_content(http, url, token, room, txn, &json!({"msgtype": "m.text", "body": text})).await
}

async fn put_content(http: &reqwest::Client, url: &str, token: &str, room: &str, txn: &str, content: &Value) {
    let r = http
        .put(format!("{url}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}"))
        .bearer_auth(token)
        .json(content)
        .send()
        .await
        .expect("send");
    assert!(r.status().is_success(), "send: {}", r.status());
}

/// Benchmark, not a test (run by scripts/bench-matrix; its figures go to
/// docs/BENCHMARKS.md): 100 reports from 5 residents in encrypted direct chats, every
/// message Plaza sends for them (acknowledgements, crew cards, public posts) timed by the
/// homeserver's own clock, against what the same Synapse carries in the same run for a
/// plain client sending as many messages with as many requests at once.
/// One resident of the benchmark: their client and their direct chat with the bot.
struct Writer {
    p: Person,
    dm: OwnedRoomId,
}

/// What Plaza sent in a phase of the benchmark, on the homeserver's clock.
struct Sent {
    /// Every message from the bot: (chat, time).
    messages: Vec<(OwnedRoomId, u64)>,
    /// Each report's acknowledgement delay (ms).
    ack_ms: Vec<u64>,
    first_report: u64,
    last_report: u64,
}

impl Sent {
    fn first_bot(&self) -> u64 {
        self.messages.iter().map(|m| m.1).min().unwrap_or(0)
    }
    fn last_bot(&self) -> u64 {
        self.messages.iter().map(|m| m.1).max().unwrap_or(0)
    }
    /// How many messages each chat got: the shape of the ordered ceiling.
    fn per_chat(&self) -> Vec<(OwnedRoomId, usize)> {
        let mut n: std::collections::BTreeMap<OwnedRoomId, usize> = Default::default();
        for (room, _) in &self.messages {
            *n.entry(room.clone()).or_default() += 1;
        }
        n.into_iter().collect()
    }
    fn pct(&self, q: f64) -> u64 {
        let mut v = self.ack_ms.clone();
        v.sort_unstable();
        v.get(((v.len().max(1) - 1) as f64 * q) as usize).copied().unwrap_or(0)
    }
}

/// Now on the homeserver's clock (the same machine's).
fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64
}

/// Each writer sends `each` reports at once with the others.
async fn write_reports(writers: &[Writer], each: usize, first_number: usize) {
    let places = ["calle Real", "calle Luna", "calle Sol", "plaza Mayor", "calle Nueva"];
    let what = [
        "La farola está apagada en la",
        "Hay un bache enorme en la",
        "Hay una fuga de agua en la",
        "Hay basura tirada en la",
    ];
    let mut sends = Vec::new();
    for (i, w) in writers.iter().enumerate() {
        let texts: Vec<String> = (0..each)
            .map(|k| format!("{} {} {}", what[(i + k) % what.len()], places[i % places.len()], first_number + 2 * k))
            .collect();
        let (client, dm) = (w.p.client.clone(), w.dm.clone());
        sends.push(tokio::spawn(async move {
            let room = client.get_room(&dm).expect("room");
            for text in texts {
                room.send(RoomMessageEventContent::text_plain(text)).await.expect("send");
            }
        }));
    }
    for s in sends {
        s.await.expect("sender");
    }
}

/// Waits until every report of `writers` is acknowledged and the rooms have been quiet
/// for 5 s, then says what Plaza sent after `since` (homeserver ms).
async fn collect_sent(t: &Town, writers: &[Writer], reports: usize, since: u64) -> Sent {
    // A resident's waiting answers may come as one message, apart by blank lines.
    let is_ack = |s: &Seen| s.body.contains('#') && !s.body.starts_with("Hola");
    let answers = |s: &Seen| s.body.split("\n\n").filter(|p| p.contains('#')).count();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = (0, Instant::now());
    loop {
        let acks: usize = writers
            .iter()
            .map(|w| {
                w.p.seen()
                    .iter()
                    .filter(|s| s.room == w.dm && s.sender == t.bot && s.ts >= since && is_ack(s))
                    .map(answers)
                    .sum::<usize>()
            })
            .sum();
        let posts = t.mayor.seen().iter().filter(|s| s.sender == t.bot && s.ts >= since).count();
        if posts != last.0 {
            last = (posts, Instant::now());
        }
        if acks >= reports && last.1.elapsed() > Duration::from_secs(5) {
            break;
        }
        if Instant::now() > deadline {
            let other: Vec<String> = writers
                .iter()
                .flat_map(|w| w.p.seen())
                .filter(|s| s.sender == t.bot && s.ts >= since && !is_ack(s))
                .map(|s| s.body)
                .collect();
            panic!("not everything arrived: {acks} acks, {posts} room messages; not acknowledgements: {other:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut sent = Sent { messages: vec![], ack_ms: vec![], first_report: u64::MAX, last_report: 0 };
    for w in writers {
        let seen: Vec<Seen> = w.p.seen().into_iter().filter(|s| s.room == w.dm && s.ts >= since).collect();
        let reports: Vec<u64> = seen.iter().filter(|s| s.sender != t.bot && s.body != "Hola").map(|s| s.ts).collect();
        let acks: Vec<u64> = seen
            .iter()
            .filter(|s| s.sender == t.bot && is_ack(s))
            .flat_map(|s| std::iter::repeat_n(s.ts, answers(s)))
            .collect();
        sent.first_report = sent.first_report.min(reports.iter().copied().min().unwrap_or(u64::MAX));
        sent.last_report = sent.last_report.max(reports.iter().copied().max().unwrap_or(0));
        sent.ack_ms.extend(reports.iter().zip(&acks).map(|(r, a)| a.saturating_sub(*r)));
        sent.messages.extend(seen.iter().filter(|s| s.sender == t.bot && is_ack(s)).map(|s| (s.room.clone(), s.ts)));
    }
    sent.messages.extend(
        t.mayor.seen().into_iter().filter(|s| s.sender == t.bot && s.ts >= since).map(|s| (s.room.clone(), s.ts)),
    );
    sent
}

/// The benchmark, in two phases against a real Synapse (`scripts/bench-matrix`):
///
/// 1. **Live burst**: 5 residents write 20 reports each at once in encrypted direct chats
///    while Plaza runs: how soon each is acknowledged (homeserver clock).
/// 2. **Backlog**: Plaza is stopped, 5 other residents write 20 reports each, Plaza starts:
///    from its first message to its last, how fast it puts its work on the homeserver,
///    against a plain client sending the same number of messages on the same homeserver
///    (spread over the rooms, 8 at once; and "ordered": the same messages per chat, each
///    chat in order as Plaza must keep it, 8 chats at once). Both have all their work
///    ready when they start, which the live phase cannot give Plaza (its work arrives with
///    the reports).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/bench-matrix"]
async fn bench_matrix_throughput() {
    const RESIDENTS: usize = 5;
    const EACH: usize = 20;
    let t = town(&[]).await;
    let (_dir, cfg, db) = password_bot_files(&t);
    let plaza = start_plaza(&cfg, &db, &t);
    let mut writers = Vec::new();
    for i in 0..2 * RESIDENTS {
        let name = format!("banco{i}");
        t.hs.register(&name).await;
        let p = Person::login(&t.hs, &name).await;
        let room = p.client.create_dm(&t.bot).await.expect("create dm");
        let dm = room.room_id().to_owned();
        wait_joined(&p, &dm, &t.bot).await;
        p.say(&dm, "Hola").await;
        p.wait_for("greeting", &dm, |s| s.sender == t.bot).await;
        writers.push(Writer { p, dm });
    }
    let backlog_writers = writers.split_off(RESIDENTS);
    let total = RESIDENTS * EACH;

    // 1. Live burst.
    let since = now_ms();
    write_reports(&writers, EACH, 1).await;
    let live = collect_sent(&t, &writers, total, since).await;
    let live_s = (live.last_bot() - live.first_report) as f64 / 1000.0;

    // 2. Backlog: written while Plaza is away.
    drop(plaza);
    let since = now_ms();
    write_reports(&backlog_writers, EACH, 101).await;
    let _plaza = start_plaza(&cfg, &db, &t);
    let backlog = collect_sent(&t, &backlog_writers, total, since).await;
    let n = backlog.messages.len();
    let plaza_s = (backlog.last_bot() - backlog.first_bot()) as f64 / 1000.0;
    let plaza_rate = n as f64 / plaza_s;

    // The ceiling: one plain client sends as many messages, as many at once as Plaza may
    // (8 chats), to the same rooms.
    let (_, token) = t.hs.register("ceiling").await;
    let http = reqwest::Client::new();
    let rooms: Vec<OwnedRoomId> = t.rooms.iter().map(|(_, id)| id.clone()).collect();
    // The mayor's rooms are invite-only: invite the measuring client first.
    for id in &rooms {
        t.mayor.room(id).invite_user_by_id(&UserId::parse("@ceiling:localhost").expect("id")).await.ok();
        let _ = http
            .post(format!("{}/_matrix/client/v3/join/{id}", t.hs.url))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await;
    }
    // A ceiling is a best: each is measured twice, the faster counts.
    let mut ceiling_s = f64::MAX;
    for round in 0..2 {
        let start = Instant::now();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..8 {
            let (http, token, rooms, next, url) =
                (http.clone(), token.clone(), rooms.clone(), next.clone(), t.hs.url.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let room = rooms[i % rooms.len()].to_string();
                    put_text(&http, &url, &token, &room, &format!("c{round}-{i}"), &format!("ceiling {i}")).await;
                }
            }));
        }
        for w in workers {
            w.await.expect("worker");
        }
        ceiling_s = ceiling_s.min(start.elapsed().as_secs_f64());
    }
    let ceiling_rate = n as f64 / ceiling_s;

    // The ordered ceiling: the same messages per chat as Plaza sent, each chat in order
    // (one request at a time per chat, as Plaza must), 8 chats at once. Residents' chats
    // are stood in for by rooms of the measuring client's own.
    let dms: Vec<&OwnedRoomId> = backlog_writers.iter().map(|w| &w.dm).collect();
    let mut lanes: Vec<(String, usize)> = Vec::new();
    for (room, count) in backlog.per_chat() {
        if !dms.contains(&&room) {
            lanes.push((room.to_string(), count));
            continue;
        }
        let r: Value = http
            .post(format!("{}/_matrix/client/v3/createRoom", t.hs.url))
            .bearer_auth(&token)
            .json(&json!({"preset": "private_chat"}))
            .send()
            .await
            .expect("createRoom")
            .json()
            .await
            .expect("json");
        lanes.push((r["room_id"].as_str().expect("room").to_owned(), count));
    }
    // Ordered, with a plain one-line text; then with content the size and shape of
    // Plaza's posts (~400 characters, empty intentional mentions), to tell what the
    // content itself costs the homeserver.
    let mut ordered_s = [f64::MAX; 2];
    let post =
        "📢 #123 · Alumbrado público · calle Larga 17 «La farola de la calle Larga 17 está apagada desde anoche» "
            .repeat(4);
    for (shape, best) in ordered_s.iter_mut().enumerate() {
        for round in 0..2 {
            let start = Instant::now();
            let sends = lanes.iter().cloned().enumerate().map(|(k, (room, n))| {
                let (http, token, url, post) = (http.clone(), token.clone(), t.hs.url.clone(), post.clone());
                async move {
                    for i in 0..n {
                        let content = match shape {
                            0 => json!({"msgtype": "m.text", "body": format!("ordered {i}")}),
                            _ => json!({"msgtype": "m.text", "body": post, "m.mentions": {}}),
                        };
                        put_content(&http, &url, &token, &room, &format!("o{shape}{round}-{k}-{i}"), &content).await;
                    }
                }
            });
            futures_util::StreamExt::collect::<Vec<()>>(futures_util::StreamExt::buffer_unordered(
                futures_util::stream::iter(sends),
                8,
            ))
            .await;
            *best = best.min(start.elapsed().as_secs_f64());
        }
    }
    let [ordered_s, ordered_post_s] = ordered_s;
    let ordered_rate = n as f64 / ordered_s;
    println!(
        "BENCH matrix live: {total} reports from {RESIDENTS} residents (encrypted DMs) arriving over {:.1} s while Plaza runs; \
         acknowledgement after its report: p50 {} ms, p90 {} ms, max {} ms; Plaza sent {} messages, the last {:.1} s after the last report ({:.1} s in all)",
        (live.last_report - live.first_report) as f64 / 1000.0,
        live.pct(0.5),
        live.pct(0.9),
        live.pct(1.0),
        live.messages.len(),
        (live.last_bot().saturating_sub(live.last_report)) as f64 / 1000.0,
        live_s,
    );
    println!(
        "BENCH matrix backlog: {total} reports from {RESIDENTS} residents written while Plaza was stopped; \
         Plaza sent {n} messages in {plaza_s:.1} s = {plaza_rate:.1} msg/s; \
         plain client, same count, 8 at once (best of 2): {ceiling_s:.1} s = {ceiling_rate:.1} msg/s, ratio {:.2}; \
         ordered ceiling (same messages per chat, each chat in order, 8 chats at once, best of 2): {ordered_s:.1} s = {ordered_rate:.1} msg/s, ratio {:.2}; \
         the same with content shaped like Plaza's posts: {ordered_post_s:.1} s, ratio {:.2}",
        plaza_rate / ceiling_rate,
        plaza_rate / ordered_rate,
        plaza_rate / (n as f64 / ordered_post_s)
    );
}
