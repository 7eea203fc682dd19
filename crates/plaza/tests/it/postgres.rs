//! A town on PostgreSQL (`[store] url_env`), as a city runs it: a real server started by
//! scripts/postgres (or the suite's, `PLAZA_TEST_POSTGRES`), `plaza serve` processes on
//! one database — one leads, a second is refused, a standby takes over when the leader is
//! killed with SIGKILL, and the town goes on from the stored state.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::web_chat::{Person, bot_lines};
use crate::{Proc, repo, start_script};

/// A database of its own on a real PostgreSQL server (`scripts/postgres --database`: the
/// suite's server, or one started for this test and stopped when this is dropped).
pub struct Database {
    pub url: String,
    dir: tempfile::TempDir,
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/postgres")).arg("--stop").arg(self.dir.path().join("pg")).status();
    }
}

pub fn database() -> Database {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(repo().join("scripts/postgres"))
        .arg("--database")
        .arg(dir.path().join("pg"))
        .output()
        .expect("run scripts/postgres");
    assert!(out.status.success(), "scripts/postgres --database: {}", String::from_utf8_lossy(&out.stderr));
    Database { url: String::from_utf8(out.stdout).expect("url").trim().to_owned(), dir }
}

/// Kilbride's config with its data on PostgreSQL, named by an environment variable.
fn config(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("tests/towns/kilbride.toml")).expect("config");
    let locales = repo().join("config/locales");
    let text =
        text.replace("locales = \"../../config/locales\"", &format!("locales = {:?}", locales.display().to_string()));
    let path = dir.join("kilbride.toml");
    let web = "[web.open311.clients]\ncity-app = \"PLAZA_TEST_OPEN311_KEY\"\n";
    std::fs::write(&path, format!("{text}\n[store]\nurl_env = \"PLAZA_TEST_DB_URL\"\n{web}")).expect("write config");
    path
}

/// `plaza web`, a web-only process on the same database.
fn web(config: &Path, db: &Database) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plaza"));
    cmd.args(["web", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .env("PLAZA_TEST_DB_URL", &db.url)
        .env("PLAZA_TEST_OPEN311_KEY", KEY)
        .env("RUST_LOG", "warn");
    cmd
}

const KEY: &str = "k-0123456789abcdef0123";

fn serve(config: &Path, db: &Database, standby: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plaza"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        // Unused on PostgreSQL: a file that is not there proves nothing is kept in it.
        .args(["--db", "/nonexistent/plaza.db"])
        .env("PLAZA_TEST_DB_URL", &db.url)
        .env("PLAZA_TEST_OPEN311_KEY", KEY)
        .env("RUST_LOG", "warn");
    if standby {
        cmd.arg("--standby");
    }
    cmd
}

fn started(cmd: Command) -> (Proc, String) {
    let (proc, rest) = start_script(cmd, "Plaza is on the web: open ", "plaza serve");
    (proc, rest.split_whitespace().next().expect("an address").trim_end_matches("/chat").to_owned())
}

fn number_in(lines: &[String]) -> Vec<i64> {
    lines
        .iter()
        .filter_map(|s| {
            let i = s.find('#')?;
            s[i + 1..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_when_the_leader_is_killed() {
    let db = database();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let (leader, base) = started(serve(&cfg, &db, false));
    let mut ana = Person::new(&base);
    ana.page().await;
    let (status, _) = ana.post(&[("text", "The streetlight on Harbour Road 3 is out"), ("nonce", "a1")]).await;
    assert_eq!(status, 303);
    let first = number_in(&bot_lines(&ana.page().await));
    assert_eq!(first, vec![1], "the first report is #1");

    // A second Plaza on the same database is refused, and says what to do.
    let out = serve(&cfg, &db, false).output().expect("a second plaza serve");
    assert!(!out.status.success(), "two Plazas ran on one database");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("another Plaza is running on this database") && said.contains("--standby"), "{said}");
    assert!(!said.contains(&db.url), "the database URL (it may carry a password) is in a message: {said}");

    // A standby waits; the leader dies without a word; the standby serves.
    let standby = tokio::task::spawn_blocking({
        let cmd = serve(&cfg, &db, true);
        move || started(cmd)
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!standby.is_finished(), "the standby started while the leader was running");
    drop(leader); // SIGKILL
    let killed = Instant::now();
    let (_standby, base) = standby.await.expect("standby");
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "the standby took {took:?} to serve");

    // The resident goes on where she was: same cookie, her report, the next number.
    ana.set_base(&base);
    let page = ana.page().await;
    assert!(page.contains(">#1</a> · "), "her report is listed after the takeover: {page}");
    let (status, _) = ana.post(&[("text", "The streetlight on Mill Lane 8 is out"), ("nonce", "a2")]).await;
    assert_eq!(status, 303);
    let numbers = number_in(&bot_lines(&ana.page().await));
    assert!(numbers.contains(&2), "the next report is #2 after the takeover: {numbers:?}");
    let board = reqwest::get(format!("{base}/")).await.expect("board").text().await.expect("body");
    assert!(
        board.contains("/tasks/1?") && board.contains("/tasks/2?"),
        "both reports are on the board: {numbers:?} {:?}",
        bot_lines(&ana.page().await)
    );
    assert!(!board.contains("/tasks/3?"), "a report was handled twice");
    println!("BENCH failover: the standby served {} ms after the leader was killed", took.as_millis());
}

/// A city's web tier: `plaza web` processes beside the leader serve the board and the
/// Open311 API from PostgreSQL; a service request posted to one is handled by the leader
/// (through the database's inbox) and answered with its number, and every process shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_process_hands_posts_to_the_leader_and_serves_the_board() {
    let db = database();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let (_leader, leader_base) = started(serve(&cfg, &db, false));
    let (_web, rest) = start_script(web(&cfg, &db), "Plaza's board is on the web: ", "plaza web");
    let web_base = rest.split_whitespace().next().expect("an address").trim_end_matches('/').to_owned();
    assert_ne!(web_base, leader_base);

    let post = |fields: Vec<(&'static str, &'static str)>| {
        let url = format!("{web_base}/open311/v2/requests.json");
        async move {
            let r = reqwest::Client::new().post(url).form(&fields).send().await.expect("POST");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    let (st, body) = post(vec![
        ("api_key", KEY),
        ("service_code", "streetlights"),
        ("address_string", "Harbour Road 3"),
        ("description", "The streetlight is out"),
        ("email", "maria@example.org"),
    ])
    .await;
    assert_eq!(st, 201, "{body}");
    assert!(!body.contains("maria@example.org"), "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let id = v[0]["service_request_id"].as_str().expect("a number").to_owned();
    assert_eq!(id, "1", "{body}");
    // A key the web process does not know is refused there as on the leader.
    let (st, _) = post(vec![("api_key", "wrong-key-0123456789"), ("service_code", "streetlights")]).await;
    assert_eq!(st, 403);

    for base in [&web_base, &leader_base] {
        let one = reqwest::get(format!("{base}/open311/v2/requests/{id}.json")).await.expect("GET");
        let one = one.text().await.expect("body");
        assert!(one.contains("\"status\":\"open\"") && one.contains("streetlights"), "{base}: {one}");
        let board = reqwest::get(format!("{base}/")).await.expect("board").text().await.expect("body");
        assert!(board.contains(&format!("/tasks/{id}?")), "{base}: the request is not on the board");
        assert!(!board.contains("maria@example.org"));
    }
    // The web process serves no chat: residents chat with the leader.
    let chat = reqwest::get(format!("{web_base}/chat")).await.expect("GET /chat");
    assert_eq!(chat.status(), 404);
}

/// On SQLite one `plaza serve` serves the web: `plaza web` says so and stops.
#[test]
fn a_web_process_needs_postgres() {
    let out = Command::new(env!("CARGO_BIN_EXE_plaza"))
        .args(["web", "--listen", "127.0.0.1:0", "--config"])
        .arg(repo().join("config/jun.toml"))
        .output()
        .expect("plaza web");
    assert!(!out.status.success());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("plaza web serves beside a leading plaza serve on PostgreSQL"), "{said}");
}
