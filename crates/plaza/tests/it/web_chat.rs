//! The web chat (`/chat`) as a town runs it: `plaza serve` on a config with no messenger
//! (the newcomer's one command), over real HTTP, in Jun and in Kilbride; and in a real
//! browser (Chromium through scripts/browser) at phone width.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{Proc, repo, start_script};

/// `plaza serve` with only the web, on a free port; its base address.
fn serve(config: &Path, db: &Path) -> (Proc, String) {
    serve_with(config, db, &[])
}

fn serve_with(config: &Path, db: &Path, env: &[(&str, &str)]) -> (Proc, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plaza"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"]).arg(config).arg("--db").arg(db).env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (proc, rest) = start_script(cmd, "Plaza is on the web: open ", "plaza serve");
    let url = rest.split_whitespace().next().expect("an address").trim_end_matches("/chat").to_owned();
    (proc, url)
}

/// One browser: its cookie, as a browser keeps it.
pub struct Person {
    http: reqwest::Client,
    base: String,
    pub cookie: Option<String>,
}

impl Person {
    pub fn new(base: &str) -> Person {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Person { http, base: base.to_owned(), cookie: None }
    }
    /// The same browser on another address (its cookie kept).
    pub fn set_base(&mut self, base: &str) {
        self.base = base.to_owned();
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
    pub async fn page(&mut self) -> String {
        let r = self.with_cookie(self.http.get(format!("{}/chat", self.base))).send().await.expect("GET /chat");
        assert_eq!(r.status(), 200);
        let csp = r.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert!(csp.contains("script-src 'self'"), "no inline script may run on the chat: {csp}");
        self.keep_cookie(&r);
        r.text().await.expect("body")
    }
    /// Posts a form as a browser without JavaScript does; returns the status.
    pub async fn post(&mut self, fields: &[(&str, &str)]) -> (u16, String) {
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
pub fn bot_lines(page: &str) -> Vec<String> {
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
    /// A public category (its id, its Open311 service code) and a place in the town.
    public_cat: &'static str,
    service: &'static str,
    street: &'static str,
    private_cat: &'static str,
}

const JUN: Case = Case {
    config: "config/jun.toml",
    public: "La farola de la calle Real 3 está apagada",
    private: "Un coche sospechoso lleva horas merodeando en la calle Luna 4",
    public_cat: "lighting",
    service: "001", // Jun's own code for it
    street: "Calle Real 7",
    private_cat: "security",
};
const KILBRIDE: Case = Case {
    config: "tests/towns/kilbride.toml",
    public: "The streetlight on Harbour Road 3 is out",
    private: "A suspicious man is trying car doors on Mill Lane 4",
    public_cat: "streetlights",
    service: "streetlights", // Kilbride sets no codes: the id is the code
    street: "Harbour Road 9",
    private_cat: "antisocial",
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

    // Operations: /health and /metrics see what happened, private kinds never named.
    let h: serde_json::Value =
        reqwest::get(format!("{base}/health")).await.expect("health").json().await.expect("JSON");
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["store"]["writable"], true, "{h}");
    assert!(h["store"]["free_bytes"].as_u64().is_some_and(|f| f > 0), "{h}");
    assert_eq!(h["channels"]["web"]["up"], true, "{h}");
    let m = reqwest::get(format!("{base}/metrics")).await.expect("metrics");
    assert!(m.headers()["content-type"].to_str().unwrap_or("").starts_with("text/plain; version=0.0.4"));
    let m = m.text().await.expect("body");
    let value = |prefix: &str| -> f64 {
        m.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
    };
    assert!(value("plaza_inbound_total{channel=\"web\",kind=\"text\"}") >= 3.0);
    assert!(value("plaza_deliveries_total{channel=\"web\",outcome=\"delivered\"}") >= 2.0);
    assert!(value("plaza_handling_seconds_count{channel=\"web\"}") >= 3.0);
    assert_eq!(value(&format!("plaza_tasks{{category=\"{}\",status=\"open\"}}", case.public_cat)), 1.0);
    assert_eq!(value("plaza_tasks{category=\"private\",status=\"open\"}"), 1.0);
    assert!(!m.contains(case.private_cat), "a private category is named in /metrics");

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
    let mut answers = vec![];
    for _ in 0..100 {
        answers = bot_lines(&ana.page().await);
        if answers.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answers.len() >= 3, "the long message got no answer: {answers:?}");
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

const KEY: &str = "k3y-for-the-city-app-0123456789";

/// The town's config with an Open311 client whose key is in PLAZA_TEST_OPEN311_KEY.
fn with_open311_client(case: &Case, dir: &Path) -> std::path::PathBuf {
    let original = repo().join(case.config);
    let text = std::fs::read_to_string(&original).expect("config");
    // The locales folder is relative to the config file: make it absolute.
    let text: String = text
        .lines()
        .map(|l| match l.split_once('=') {
            Some((k, v)) if k.trim() == "locales" => {
                let rel = v.split('#').next().unwrap_or("").trim().trim_matches('"');
                let abs = original.parent().expect("dir").join(rel);
                format!("locales = {:?}\n", abs.display().to_string())
            }
            _ => format!("{l}\n"),
        })
        .collect::<String>()
        + "\n[web]\nlisten = \"127.0.0.1:0\"\n[web.open311]\njurisdiction_id = \"town.example\"\n[web.open311.clients]\ncity-app = \"PLAZA_TEST_OPEN311_KEY\"\n";
    let path = dir.join("town.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn post(base: &str, fmt: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/open311/v2/requests.{fmt}"))
        .form(fields)
        .send()
        .await
        .expect("POST requests");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn open311_post(case: &Case) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = with_open311_client(case, dir.path());
    let (_plaza, base) = serve_with(&cfg, &dir.path().join("p.db"), &[("PLAZA_TEST_OPEN311_KEY", KEY)]);
    let good = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![("api_key", KEY), ("service_code", case.service), ("address_string", case.street)];
        f.extend_from_slice(extra);
        f
    };

    // Keys: none, wrong → 403, in the spec's error shape.
    let (st, body) = post(&base, "json", &[("service_code", case.service), ("lat", "37.1"), ("long", "-3.5")]).await;
    assert_eq!(st, 403, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
    assert_eq!(v[0]["code"], 403);
    let (st, body) = post(&base, "xml", &[("api_key", "wrong-key-0123456789"), ("service_code", case.service)]).await;
    assert_eq!(st, 403);
    assert!(body.starts_with("<?xml") && body.contains("<errors><error><code>403</code>"), "{body}");
    // Bad input: 400 / 404 with the reason.
    for (fields, want, why) in [
        (vec![("api_key", KEY), ("address_string", case.street)], 400, "service_code is required"),
        (
            vec![("api_key", KEY), ("service_code", "no-such-thing"), ("address_string", case.street)],
            404,
            "unknown service_code",
        ),
        (vec![("api_key", KEY), ("service_code", case.service)], 400, "a location is required"),
        (vec![("api_key", KEY), ("service_code", case.service), ("lat", "95"), ("long", "1")], 400, "lat and long"),
        (vec![("api_key", KEY), ("service_code", case.service), ("lat", "37.1")], 400, "lat and long go together"),
        (good(&[("media_url", "javascript:alert(1)")]), 400, "media_url"),
        (good(&[("jurisdiction_id", "elsewhere")]), 404, "jurisdiction"),
    ] {
        let (st, body) = post(&base, "json", &fields).await;
        assert_eq!(st, want, "{fields:?}: {body}");
        assert!(body.contains(why), "{fields:?}: {body}");
    }

    // A good request: a number and a token; the requester's details never come back.
    let personal = [
        ("email", "maria.lopez@example.org"),
        ("first_name", "María"),
        ("last_name", "López Zamora"),
        ("phone", "+34 612 345 678"),
        ("description", case.public),
        ("attribute[urgent]", "yes"),
        ("media_url", "https://photos.example.org/p/1.jpg"),
    ];
    let (st, body) = post(&base, "json", &good(&personal)).await;
    assert_eq!(st, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let id = v[0]["service_request_id"].as_str().expect("an id").to_owned();
    let token = v[0]["token"].as_str().expect("a token").to_owned();
    let one =
        reqwest::get(format!("{base}/open311/v2/requests/{id}.json")).await.expect("GET").text().await.expect("body");
    let r: serde_json::Value = serde_json::from_str(&one).expect("JSON");
    assert_eq!(r[0]["service_code"], case.service, "{one}");
    assert_eq!(r[0]["status"], "open");
    for (k, secret) in &personal[..4] {
        for page in [&one, &body] {
            assert!(!page.contains(secret), "the requester's {k} came back: {page}");
        }
    }
    let board = reqwest::get(format!("{base}/?status=all")).await.expect("board").text().await.expect("body");
    assert!(board.contains(&format!("/tasks/{id}?")), "a posted request is on the board like a chat report");
    for (k, secret) in &personal[..4] {
        assert!(!board.contains(secret), "the requester's {k} is on the board");
    }
    let t = reqwest::get(format!("{base}/open311/v2/tokens/{token}.json")).await.expect("GET").text().await.expect("b");
    let tv: serde_json::Value = serde_json::from_str(&t).expect("JSON");
    assert_eq!(tv[0]["service_request_id"], id.as_str(), "{t}");
    let r = reqwest::get(format!("{base}/open311/v2/tokens/nonexistent.xml")).await.expect("GET");
    assert_eq!(r.status(), 404);

    // The same request again from the same person: the same report, not a second one.
    let (st, again) = post(&base, "json", &good(&personal)).await;
    assert_eq!(st, 201, "{again}");
    let av: serde_json::Value = serde_json::from_str(&again).expect("JSON");
    assert_eq!(av[0]["service_request_id"], id.as_str(), "a repeat made another request: {again}");

    // XML, the key in the query string, lat/long.
    let r = reqwest::Client::new()
        .post(format!("{base}/open311/v2/requests.xml?api_key={KEY}"))
        .form(&[("service_code", case.service), ("lat", "37.1234"), ("long", "-3.5678"), ("description", "x y z")])
        .send()
        .await
        .expect("POST xml");
    assert_eq!(r.status(), 201);
    let xml = r.text().await.expect("body");
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><service_requests><request>")
            && xml.contains("<service_request_id>")
            && xml.contains("<token>")
            && xml.ends_with("</request></service_requests>"),
        "{xml}"
    );

    // A private matter under a public code: taken, private, found nowhere public.
    let (st, body) = post(&base, "json", &good(&[("description", case.private), ("email", "b@example.org")])).await;
    assert_eq!(st, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(v[0].get("service_request_id").is_none(), "a private request got a public number: {body}");
    let token = v[0]["token"].as_str().expect("token");
    let r = reqwest::get(format!("{base}/open311/v2/tokens/{token}.json")).await.expect("GET");
    assert_eq!(r.status(), 404, "a private request is found by its token");
    let all = reqwest::get(format!("{base}/open311/v2/requests.json")).await.expect("GET").text().await.expect("b");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&all).expect("JSON");
    assert_eq!(listed.len(), 2, "only the two public requests: {all}");
    assert!(!all.contains(case.private.split_whitespace().nth(2).unwrap_or("")), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_post_in_jun() {
    open311_post(&JUN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_post_in_kilbride() {
    open311_post(&KILBRIDE).await;
}

/// A client named in the config without its key in the environment: Plaza does not
/// start, and says which key and which variable.
#[test]
fn open311_client_without_a_key_stops_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = with_open311_client(&JUN, dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_plaza"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--db")
        .arg(dir.path().join("p.db"))
        .env_remove("PLAZA_TEST_OPEN311_KEY")
        .output()
        .expect("plaza serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("web.open311.clients.city-app") && err.contains("PLAZA_TEST_OPEN311_KEY"), "{err}");
}

/// The newcomer's command as the README gives it: `plaza serve` with every default (the
/// Jun config, port 8080, the 1-second page cache). The chat answers, and a new report
/// is on the board within the cache's second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaza_serve_with_every_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plaza"));
    cmd.current_dir(repo()).args(["serve", "--db"]).arg(dir.path().join("p.db")).env("RUST_LOG", "warn");
    let (_plaza, rest) = start_script(cmd, "Plaza is on the web: open ", "plaza serve (port 8080 must be free)");
    assert!(rest.starts_with("http://127.0.0.1:8080/chat "), "{rest}");
    let base = "http://127.0.0.1:8080";
    let board = reqwest::get(format!("{base}/")).await.expect("board").text().await.expect("body");
    assert!(!board.contains("/tasks/1?"), "a new store has no task");
    let mut ana = Person::new(base);
    ana.page().await;
    let (status, _) = ana.post(&[("text", JUN.public)]).await;
    assert_eq!(status, 303);
    let began = std::time::Instant::now();
    loop {
        let board = reqwest::get(format!("{base}/")).await.expect("board").text().await.expect("body");
        if board.contains("/tasks/1?") {
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(3), "the board still shows the old page after 3 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One Plaza per database: a console started beside a running server on the same file is
/// refused with a clear answer (two engines would number two tasks alike); once the
/// server stops, the console continues the same town.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_plaza_on_the_same_database_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("p.db");
    let (plaza, base) = serve(&repo().join(JUN.config), &db);
    let mut ana = Person::new(&base);
    ana.page().await;
    ana.post(&[("text", JUN.public)]).await;
    let console = |input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plaza"))
            .args(["console", "--echo", "--config"])
            .arg(repo().join(JUN.config))
            .arg("--db")
            .arg(&db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("console");
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("input");
        child.wait_with_output().expect("console ran")
    };
    let out = console("luis in electricians: tomo #1\n");
    assert!(!out.status.success(), "a console ran beside the server on one database");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is in use by another Plaza"), "{err}");
    drop(plaza);
    let out = console("luis in electricians: tomo #1\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.lines().any(|l| l.starts_with("electricians <- ") && l.contains("#1") && l.contains("en curso")),
        "the console continues the server's town: {stdout}"
    );
}

/// A script that drops its cookie to start a new conversation each time (and so get past
/// the per-resident report limit) is stopped at the default 30 new conversations an hour
/// per address; a resident it already knows is never refused; behind the town's local
/// reverse proxy each visitor's address counts apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_conversations_are_limited_per_address_at_the_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_plaza, base) = serve(&repo().join(JUN.config), &dir.path().join("p.db"));
    let mut known = Person::new(&base);
    known.page().await;
    for i in 1..30 {
        let r = reqwest::get(format!("{base}/chat")).await.expect("GET");
        assert_eq!(r.status(), 200, "new conversation {i}");
    }
    let r =
        reqwest::Client::new().post(format!("{base}/chat")).form(&[("text", JUN.public)]).send().await.expect("POST");
    assert_eq!(r.status(), 429, "the 31st new conversation in the hour");
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.expect("JSON");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    let (status, _) = known.post(&[("text", JUN.public)]).await;
    assert_eq!(status, 303, "a resident already known is never refused");
    let r = reqwest::Client::new()
        .get(format!("{base}/chat"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200, "another visitor behind the local proxy");
}
