//! The web chat (`/chat`) as a town runs it: `plaza serve` on a config with no messenger
//! (the newcomer's one command), over real HTTP, in Jun and in Kilbride; and in a real
//! browser (Chromium through scripts/browser) at phone width.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{Proc, repo, start_script};

/// `plaza serve` with only the web, on a free port; its base address.
fn serve(config: &Path, db: &Path) -> (Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plaza"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(config).arg("--db").arg(db).env("RUST_LOG", "warn");
    let (proc, rest) = start_script(cmd, "Plaza is on the web: open ", "plaza serve");
    let url = rest.split_whitespace().next().expect("an address").trim_end_matches("/chat").to_owned();
    (proc, url)
}

/// One browser: its cookie, as a browser keeps it.
struct Person {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Person {
    fn new(base: &str) -> Person {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Person { http, base: base.to_owned(), cookie: None }
    }
    fn keep_cookie(&mut self, r: &reqwest::Response) {
        if let Some(c) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = Some(c.split(';').next().expect("name=value").to_owned());
        }
    }
    fn with_cookie(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => rb.header("cookie", c),
            None => rb,
        }
    }
    async fn page(&mut self) -> String {
        let r = self.with_cookie(self.http.get(format!("{}/chat", self.base))).send().await.expect("GET /chat");
        assert_eq!(r.status(), 200);
        let csp = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(csp.contains("script-src 'self'"), "no inline script may run on the chat: {csp}");
        self.keep_cookie(&r);
        r.text().await.expect("body")
    }
    /// Posts a form as a browser without JavaScript does; returns the status.
    async fn post(&mut self, fields: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .with_cookie(self.http.post(format!("{}/chat", self.base)))
            .form(fields)
            .send()
            .await
            .expect("POST /chat");
        self.keep_cookie(&r);
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }
}

/// The texts shown in the conversation's bot lines.
fn bot_lines(page: &str) -> Vec<String> {
    page.split("<div class=\"l bot\">").skip(1).map(|s| s.split("</div>").next().unwrap_or("").to_owned()).collect()
}

fn number_in(s: &str) -> Option<i64> {
    let i = s.find('#')?;
    let digits: String = s[i + 1..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

struct Case {
    config: &'static str,
    public: &'static str,
    private: &'static str,
}

const JUN: Case = Case {
    config: "config/jun.toml",
    public: "La farola de la calle Real 3 está apagada",
    private: "Un coche sospechoso lleva horas merodeando en la calle Luna 4",
};
const KILBRIDE: Case = Case {
    config: "tests/towns/kilbride.toml",
    public: "The streetlight on Harbour Road 3 is out",
    private: "A suspicious man is trying car doors on Mill Lane 4",
};

async fn chat_without_javascript(case: &Case) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_plaza, base) = serve(&repo().join(case.config), &dir.path().join("p.db"));
    let mut ana = Person::new(&base);
    ana.page().await;
    assert!(ana.cookie.as_deref().is_some_and(|c| c.starts_with("plaza_chat=")), "a cookie names the resident");
    let (status, _) = ana.post(&[("text", case.public), ("nonce", "n1")]).await;
    assert_eq!(status, 303, "a form post goes back to the page");
    let page = ana.page().await;
    let answers = bot_lines(&page);
    let n = answers.iter().find_map(|l| number_in(l)).unwrap_or_else(|| panic!("no report number in {answers:?}"));
    assert!(page.contains(&format!("href=\"/tasks/{n}?")), "the resident's reports list links the public task");

    // The same form sent twice (a double tap, a reload) is one report.
    let (status, _) = ana.post(&[("text", case.public), ("nonce", "n1")]).await;
    assert_eq!(status, 303);
    let board = reqwest::get(format!("{base}/")).await.expect("board").text().await.expect("body");
    assert!(board.contains(&format!("/tasks/{n}?")), "the report is on the board");
    assert!(!board.contains(&format!("/tasks/{}?", n + 1)), "a re-sent form made a second task");

    // A private report: a number for the reporter, nothing for the public.
    let mut bea = Person::new(&base);
    bea.page().await;
    bea.post(&[("text", case.private)]).await;
    let page = bea.page().await;
    assert!(!page.contains(case.public), "one resident sees another's conversation");
    let p = bot_lines(&page).iter().find_map(|l| number_in(l)).expect("a number for the private report");
    assert!(page.contains(&format!("<li>#{p} · ")), "the reporter sees her private report in her list: {page}");
    let r = reqwest::get(format!("{base}/tasks/{p}")).await.expect("task page");
    assert_eq!(r.status(), 404, "a private task has no public page");
    let r = reqwest::get(format!("{base}/open311/v2/requests/{p}.json")).await.expect("open311");
    assert_eq!(r.status(), 404);
    let board = reqwest::get(format!("{base}/?status=all")).await.expect("board").text().await.expect("body");
    assert!(!board.contains(&format!("/tasks/{p}?")), "a private task is on the board");
    let task = reqwest::get(format!("{base}/tasks/{n}")).await.expect("task").text().await.expect("body");
    assert!(!task.contains("web:") && !task.contains("plaza_chat"), "a web identity shows in public: {task}");

    // A forged or foreign cookie is a new person, not someone else.
    let mut mallory = Person::new(&base);
    let forged = bea.cookie.clone().expect("cookie").replace("plaza_chat=", "plaza_chat=x");
    mallory.cookie = Some(forged.clone());
    let page = mallory.page().await;
    assert!(!page.contains(case.private), "a forged cookie reads another resident's conversation");
    assert_ne!(mallory.cookie.as_deref(), Some(forged.as_str()), "a forged cookie is replaced");

    // Bad input gets a clear answer.
    let (status, body) = ana.post(&[("text", "   ")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("error"), "{body}");
    let (status, _) = ana.post(&[("lat", "200"), ("lon", "x")]).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_chat_in_jun_without_javascript() {
    chat_without_javascript(&JUN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_chat_in_kilbride_without_javascript() {
    chat_without_javascript(&KILBRIDE).await;
}

/// With JavaScript: the answer comes by server-sent events, in order, from the line
/// the page showed; a long message is answered, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_chat_answers_arrive_as_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_plaza, base) = serve(&repo().join(JUN.config), &dir.path().join("p.db"));
    let mut ana = Person::new(&base);
    ana.page().await;
    let mut events =
        ana.with_cookie(ana.http.get(format!("{base}/chat/events?after=0"))).send().await.expect("GET /chat/events");
    assert_eq!(events.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
    let r = ana
        .with_cookie(ana.http.post(format!("{base}/chat")))
        .header("accept", "application/json")
        .form(&[("text", JUN.public)])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let mut got = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !got.contains("\"from\":\"bot\"") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk()).await.expect("an answer within 15 s");
        got.push_str(&String::from_utf8_lossy(&chunk.expect("stream").expect("open stream")));
    }
    let datas: Vec<serde_json::Value> = got
        .lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .map(|d| serde_json::from_str(d).expect("JSON event"))
        .collect();
    assert_eq!(datas[0]["from"], "me", "{datas:?}");
    assert_eq!(datas[0]["text"], JUN.public);
    let bot = datas.iter().find(|d| d["from"] == "bot").expect("a bot line");
    assert!(number_in(bot["text"].as_str().unwrap_or("")).is_some(), "{bot}");

    // 100 KB of text: answered (the town's limit), nothing stuck.
    let long = "a".repeat(100 * 1024);
    let r = ana
        .with_cookie(ana.http.post(format!("{base}/chat")))
        .header("accept", "application/json")
        .form(&[("text", long.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let page = ana.page().await;
    assert!(bot_lines(&page).len() >= 3, "the long message got no answer: {page}");
}

/// The browser check: a phone-sized Chromium reports a broken streetlight,
/// gets a number, finds it on the board; markup typed in the chat never runs;
/// screenshots of chat, board and stats in target/test-artifacts/web.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_chat_in_a_real_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_plaza, base) = serve(&repo().join(JUN.config), &dir.path().join("p.db"));
    let artifacts = repo().join("target/test-artifacts/web");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(repo().join("scripts/browser"))
            .arg(repo().join("tests/web/chat.py"))
            .arg(&base)
            .arg(&artifacts)
            .arg(JUN.public)
            .output()
            .expect("scripts/browser (scripts/test installs Chromium and Playwright)")
    })
    .await
    .expect("browser run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("OK #"), "the browser test failed:\n{stdout}\n{stderr}");
    for shot in ["chat.png", "board.png", "stats.png"] {
        let p = repo().join("target/test-artifacts/web").join(shot);
        assert!(std::fs::metadata(&p).map(|m| m.len() > 1000).unwrap_or(false), "no screenshot {}", p.display());
    }
}
