//! The public board and the Open311 GeoReport v2 API over real HTTP (axum on a loopback
//! port), on the real engine and store, in Jun and in a second town (Kilbride, English):
//! every endpoint in both formats, bad input, and private tasks appearing nowhere.

use std::sync::Arc;

use plaza_core::channel::Chat;
use plaza_core::model::Identity;
use serde_json::Value;

use crate::harness::{Bot, Town, fast_tempdir};
use crate::repo;

/// A town's texts for the test: a public report (with a phone number), its category
/// (id, Open311 service code, name), a private report and its category (id, code).
struct Case {
    file: &'static str,
    public: &'static str,
    public_cat: &'static str,
    public_code: &'static str,
    public_name: &'static str,
    private: &'static str,
    private_cat: &'static str,
    private_code: &'static str,
    board_title: &'static str,
}

const JUN: Case = Case {
    file: "config/jun.toml",
    public: "La farola de la calle Real 3 está apagada, llamadme al 612 345 678",
    public_cat: "lighting",
    // Jun gives its categories Open311 codes of its own.
    public_code: "001",
    public_name: "Alumbrado público",
    private: "Un coche sospechoso lleva horas merodeando en la calle Luna 4",
    private_cat: "security",
    private_code: "006",
    board_title: "Avisos de la ciudad",
};

const KILBRIDE: Case = Case {
    file: "tests/towns/kilbride.toml",
    public: "The streetlight on Harbour Road 3 is out, ring me on 07700 900123",
    public_cat: "streetlights",
    // Kilbride sets none: the ids are the codes.
    public_code: "streetlights",
    public_name: "",
    private: "A suspicious man is trying car doors on Mill Lane 4",
    private_cat: "antisocial",
    private_code: "antisocial",
    board_title: "Town reports",
};

struct Site {
    base: String,
    http: reqwest::Client,
    _bot: Bot,
    _dir: tempfile::TempDir,
}

impl Site {
    async fn get(&self, path: &str) -> (u16, String, String) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.expect("GET");
        let status = r.status().as_u16();
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        (status, ct, r.text().await.expect("body"))
    }
    async fn json(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.get(path).await;
        (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}")))
    }
}

/// A town with one public and one private task, its web on a free port.
async fn site(case: &Case) -> Site {
    let town = Arc::new(Town::load(&repo().join(case.file)));
    let dir = fast_tempdir("plaza-web");
    let mut bot = Bot::start(&town, dir.path()).await;
    let ana = Identity::new("console", "ana");
    let bea = Identity::new("console", "bea");
    bot.say(&ana, Chat::Direct, None, case.public.to_owned()).await;
    bot.say(&bea, Chat::Direct, None, case.private.to_owned()).await;
    let t1 = bot.engine.task(plaza_core::model::TaskId(1)).expect("task 1");
    let t2 = bot.engine.task(plaza_core::model::TaskId(2)).expect("task 2");
    assert_eq!(t1.category.as_deref(), Some(case.public_cat), "{t1:?}");
    assert_eq!(t2.category.as_deref(), Some(case.private_cat), "{t2:?}");
    serve(bot, dir).await
}

/// The web of `bot`'s town on a loopback port.
async fn serve(bot: Bot, dir: tempfile::TempDir) -> Site {
    let settings = plaza_web::WebSettings::default();
    let app = plaza_web::router(bot.engine.clone(), settings, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(plaza_web::serve(listener, app, std::future::pending()));
    Site { base, http: reqwest::Client::new(), _bot: bot, _dir: dir }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().expect("a list").iter().map(|r| r["service_request_id"].as_str().unwrap_or("").to_owned()).collect()
}

async fn board_and_open311(case: &Case) {
    let s = site(case).await;
    let phone_digits = |t: &str| t.contains("345 678") || t.contains("900123");

    // The board: the public task, never the private one, never the reporter or the phone.
    let (status, ct, board) = s.get("/").await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(board.contains(case.board_title), "{board}");
    assert!(board.contains("/tasks/1"), "{board}");
    assert!(!board.contains("/tasks/2"), "a private task on the board");
    assert!(board.contains("name=\"viewport\""), "not readable on a phone");
    let (_, _, page) = s.get("/tasks/1").await;
    assert!(!phone_digits(&page), "a phone number on the task page: {page}");
    assert!(!page.contains("ana"), "the reporter on the task page");
    let (private_status, _, private_page) = s.get("/tasks/2").await;
    let (none_status, _, none_page) = s.get("/tasks/999").await;
    assert_eq!((private_status, none_status), (404, 404));
    assert_eq!(private_page, none_page, "a private task must look exactly like no task");
    for q in ["?status=open", "?status=closed", &format!("?category={}", case.public_cat), "?page=2"] {
        let (st, _, b) = s.get(&format!("/{q}")).await;
        assert_eq!(st, 200, "{q}");
        assert!(!b.contains("/tasks/2"), "{q}");
    }
    let (st, _, _) = s.get(&format!("/?category={}", case.private_cat)).await;
    assert_eq!(st, 400, "a private category as a board filter");

    // Open311: services list public categories only.
    let (st, services) = s.json("/open311/v2/services.json").await;
    assert_eq!(st, 200);
    let codes: Vec<&str> =
        services.as_array().expect("list").iter().filter_map(|v| v["service_code"].as_str()).collect();
    assert!(codes.contains(&case.public_code), "{codes:?}");
    assert!(!codes.contains(&case.private_code), "a private category is a service: {codes:?}");
    if !case.public_name.is_empty() {
        assert!(services.to_string().contains(case.public_name));
    }
    let (st, ct, xml) = s.get("/open311/v2/services.xml").await;
    assert_eq!(st, 200);
    assert!(ct.starts_with("text/xml"), "{ct}");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service>"), "{xml}");
    let (st, def) = s.json(&format!("/open311/v2/services/{}.json", case.public_code)).await;
    assert_eq!((st, def["service_code"].as_str()), (200, Some(case.public_code)));
    for code in [case.private_code, case.private_cat, "no-such-service"] {
        let (st, err) = s.json(&format!("/open311/v2/services/{code}.json")).await;
        assert_eq!(st, 404, "{code}");
        assert_eq!(err[0]["code"], 404, "{err}");
        let (st, _, xml) = s.get(&format!("/open311/v2/services/{code}.xml")).await;
        assert_eq!(st, 404);
        assert!(xml.contains("<errors><error><code>404</code>"), "{xml}");
    }

    // Requests: lists, one by id, filters — the private task nowhere.
    let (st, all) = s.json("/open311/v2/requests.json").await;
    assert_eq!(st, 200);
    assert_eq!(ids(&all), ["1"], "{all}");
    let r = &all[0];
    assert_eq!(r["status"], "open");
    assert_eq!(r["service_code"], case.public_code);
    assert!(!phone_digits(&r.to_string()), "a phone number in Open311: {r}");
    assert!(r["requested_datetime"].as_str().unwrap_or("").ends_with("+00:00"), "{r}");
    for (q, want) in [
        ("service_request_id=2", vec![]),
        ("service_request_id=1,2", vec!["1"]),
        ("service_request_id=1&status=closed", vec!["1"]),
        ("status=open", vec!["1"]),
        ("status=closed", vec![]),
        ("status=open,closed", vec!["1"]),
        (&format!("service_code={}", case.public_code), vec!["1"]),
        ("start_date=2000-01-01T00:00:00Z&end_date=2001-01-01T00:00:00Z", vec![]),
        ("start_date=2000-01-01T00:00:00Z", vec!["1"]),
        ("jurisdiction_id=", vec!["1"]),
    ] {
        let (st, v) = s.json(&format!("/open311/v2/requests.json?{q}")).await;
        assert_eq!(st, 200, "{q}: {v}");
        assert_eq!(ids(&v), want, "{q}");
    }
    for (q, code) in [
        ("status=pending", 400),
        ("start_date=yesterday", 400),
        ("end_date=2026-13-01", 400),
        ("start_date=2026-02-01&end_date=2026-01-01", 400),
        ("service_code=no-such-service", 400),
        (&format!("service_code={}", case.private_code), 400),
        ("service_request_id=abc", 400),
        ("jurisdiction_id=elsewhere.gov", 404),
    ] {
        let (st, v) = s.json(&format!("/open311/v2/requests.json?{q}")).await;
        assert_eq!(st, code, "{q}: {v}");
        assert_eq!(v[0]["code"], code, "{q}: {v}");
    }
    let (st, one) = s.json("/open311/v2/requests/1.json").await;
    assert_eq!((st, ids(&one)), (200, vec!["1".to_owned()]), "a single request is still a list");
    let (st, _, xml) = s.get("/open311/v2/requests/1.xml").await;
    assert_eq!(st, 200);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><service_requests><request>"), "{xml}");
    assert!(xml.contains("<service_request_id>1</service_request_id>"), "{xml}");
    let (st, _, xml) = s.get("/open311/v2/requests.xml?status=closed").await;
    assert_eq!((st, xml.as_str()), (200, "<?xml version=\"1.0\" encoding=\"utf-8\"?><service_requests/>"));
    let (p_st, private) = s.json("/open311/v2/requests/2.json").await;
    let (n_st, none) = s.json("/open311/v2/requests/999.json").await;
    assert_eq!((p_st, n_st), (404, 404));
    assert_eq!(private[0]["code"], none[0]["code"]);
    assert!(!private.to_string().contains(case.private_cat), "{private}");
    let (st, disc) = s.json("/open311/discovery.json").await;
    assert_eq!(st, 200);
    assert_eq!(disc["endpoints"][0]["specification"], "http://wiki.open311.org/GeoReport_v2");
    let (st, _, health) = s.get("/health").await;
    assert_eq!(st, 200, "{health}");

    // Stats: charts drawn on the server, numbers beside them; the private report counted
    // among "private reports", its category never named.
    let (st, _, stats) = s.get("/stats").await;
    assert_eq!(st, 200);
    assert!(stats.contains("<svg") && stats.contains("</svg>"), "no chart");
    assert!(!stats.contains("<script"), "a script on the stats page");
    let cfg = &s._bot.engine.config();
    let lang = &cfg.town.default_language;
    let public_name = cfg.name_in(&cfg.category(case.public_cat).expect("cat").name, lang).to_owned();
    let private_name = cfg.name_in(&cfg.category(case.private_cat).expect("cat").name, lang).to_owned();
    assert!(stats.contains(&public_name), "{public_name} missing from the stats");
    assert!(!stats.contains(&private_name), "a private category named on the stats page");
    assert!(stats.contains(&s._bot.engine.text(lang, "web-stats-private")), "private reports not counted");
    // The mayor's headline figures: reports a day over the period, tasks coordinated
    // (both reports, the private one counted).
    assert!(stats.contains("<strong>0.1</strong>"), "2 reports in 30 days is 0.1 a day");
    assert!(stats.contains(&format!("<strong>2</strong> {}", s._bot.engine.text(lang, "web-stats-coordinated"))));
    // Each crew's count is of its tasks, answered or not (the crew of its district, where
    // the district has its own: Kilbride's harbour lights).
    let t1 = s._bot.engine.task(plaza_core::model::TaskId(1)).expect("task 1");
    let crew_id = cfg.crew_for(case.public_cat, t1.place.district.as_deref()).expect("crew");
    assert_eq!(t1.crew.as_deref(), Some(crew_id));
    let crew = cfg.crew(crew_id).expect("crew");
    let crew_row = format!("<td>{}</td><td>1</td>", cfg.name_in(&crew.name, lang));
    assert!(stats.contains(&crew_row), "{crew_row} not in the stats");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_and_open311_in_jun() {
    board_and_open311(&JUN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_and_open311_in_a_second_town() {
    board_and_open311(&KILBRIDE).await;
}

/// The page's language: `?lang=`, else Accept-Language, else the town's first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_speaks_the_visitors_language() {
    let s = site(&JUN).await;
    let (_, _, es) = s.get("/").await;
    assert!(es.contains("Avisos de la ciudad") && es.contains("lang=\"es\""));
    let (_, _, en) = s.get("/?lang=en").await;
    assert!(en.contains("Town reports") && en.contains("lang=\"en\""), "{en}");
    let r = s.http.get(format!("{}/", s.base)).header("accept-language", "ar-MA,ar;q=0.9").send().await.expect("GET");
    let ar = r.text().await.expect("body");
    assert!(ar.contains("dir=\"rtl\"") && ar.contains("بلاغات المدينة"), "{ar}");
    let (_, _, fallback) = s.get("/?lang=de").await;
    assert!(fallback.contains("lang=\"es\""), "an unknown language falls back to the town's first");
}

/// Markup in a report is text on the web, never markup (the template escapes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_report_is_shown_as_text() {
    let town = Arc::new(Town::load(&repo().join("config/jun.toml")));
    let dir = fast_tempdir("plaza-web");
    let mut bot = Bot::start(&town, dir.path()).await;
    let ana = Identity::new("console", "ana");
    let text = "La farola de la calle Real 5 está apagada <img src=x onerror=alert(1)><script>alert(2)</script>";
    bot.say(&ana, Chat::Direct, None, text.to_owned()).await;
    let app = plaza_web::router(bot.engine.clone(), plaza_web::WebSettings::default(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(plaza_web::serve(listener, app, std::future::pending()));
    let page = reqwest::get(format!("{base}/tasks/1")).await.expect("GET").text().await.expect("body");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"), "{page}");
    assert!(!page.contains("<img") && !page.contains("<script>alert"), "markup from a report reached the page");
    let xml = reqwest::get(format!("{base}/open311/v2/requests/1.xml")).await.expect("GET").text().await.expect("body");
    assert!(xml.contains("&lt;img") && !xml.contains("<img"), "{xml}");
}

/// A town's districts as the board filter: by street in both towns (Jun by street and by
/// area; Kilbride by street only), a private task in no filtered list, an unknown
/// district refused.
struct Districts {
    file: &'static str,
    /// (report, district id, district name) — the first two public, in two districts.
    a: (&'static str, &'static str, &'static str),
    b: (&'static str, &'static str),
    private: &'static str,
    /// A report with no street, then a shared location in district `b`.
    located: Option<(&'static str, f64, f64)>,
}

async fn board_by_district(case: &Districts) {
    let town = Arc::new(Town::load(&repo().join(case.file)));
    let dir = fast_tempdir("plaza-web");
    let mut bot = Bot::start(&town, dir.path()).await;
    let who = |n: &str| Identity::new("console", n);
    bot.say(&who("ana"), Chat::Direct, None, case.a.0.to_owned()).await;
    bot.say(&who("bea"), Chat::Direct, None, case.b.0.to_owned()).await;
    bot.say(&who("cai"), Chat::Direct, None, case.private.to_owned()).await;
    let engine = bot.engine.clone();
    let t = |n: i64| engine.task(plaza_core::model::TaskId(n)).expect("task");
    assert_eq!(t(1).place.district.as_deref(), Some(case.a.1), "{:?}", t(1).place);
    assert_eq!(t(2).place.district.as_deref(), Some(case.b.1), "{:?}", t(2).place);
    assert_eq!(t(3).visibility, plaza_core::model::Visibility::Private);
    if let Some((text, lat, lon)) = case.located {
        bot.say(&who("dan"), Chat::Direct, None, text.to_owned()).await;
        let point = plaza_core::model::GeoPoint { lat, lon };
        bot.send(&who("dan"), Chat::Direct, None, plaza_core::channel::InboundKind::Location { point }).await;
        assert_eq!(t(4).place.district.as_deref(), Some(case.b.1), "a shared location in the area: {:?}", t(4).place);
    }
    let settings = plaza_web::WebSettings::default();
    let app = plaza_web::router(bot.engine.clone(), settings, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(plaza_web::serve(listener, app, std::future::pending()));
    let get = |q: String| {
        let base = base.clone();
        async move {
            let r = reqwest::get(format!("{base}{q}")).await.expect("GET");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    let (st, a) = get(format!("/?district={}", case.a.1)).await;
    assert_eq!(st, 200);
    assert!(a.contains("/tasks/1?") && !a.contains("/tasks/2?") && !a.contains("/tasks/3?"), "{a}");
    assert!(a.contains(&format!("<option value=\"{}\" selected>", case.a.1)), "the filter shows what is chosen");
    let (_, b) = get(format!("/?district={}", case.b.1)).await;
    assert!(b.contains("/tasks/2?") && !b.contains("/tasks/1?") && !b.contains("/tasks/3?"), "{b}");
    if case.located.is_some() {
        assert!(b.contains("/tasks/4?"), "the located task is in its district's list");
    }
    let (_, page) = get("/tasks/1".into()).await;
    assert!(page.contains(case.a.2), "the task page names its district");
    let (st, _) = get("/?district=nowhere".into()).await;
    assert_eq!(st, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_by_district_in_jun() {
    board_by_district(&Districts {
        file: "config/jun.toml",
        a: ("La farola de la calle Real 3 está apagada", "casco", "Casco antiguo"),
        b: ("La farola de la calle Granada 8 está apagada", "barrio-alto"),
        private: "Un coche sospechoso lleva horas merodeando en la calle Luna 4",
        located: Some(("Hay una farola apagada", 37.147, -3.495)),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_by_district_in_a_second_town() {
    board_by_district(&Districts {
        file: "tests/towns/kilbride.toml",
        a: ("The streetlight on Harbour Road 3 is out", "harbour", "Harbour ward"),
        b: ("The streetlight on Oak Road 5 is out", "hillside"),
        private: "A suspicious man is trying car doors on Mill Lane 4",
        located: None,
    })
    .await;
}

/// Issue 12: what residents said of the fixes, per crew, on the stats page: tasks marked
/// done, the mean of the ratings given (and how many), and how many a resident reopened.
async fn stats_of_what_residents_said(case: &Case) {
    let town = Arc::new(Town::load(&repo().join(case.file)));
    let dir = fast_tempdir("plaza-web-said");
    let mut bot = Bot::start(&town, dir.path()).await;
    let cfg = town.cfg.clone();
    let people: Vec<Identity> = (0..3).map(|i| Identity::new("console", format!("r{i}"))).collect();
    for (i, who) in people.iter().enumerate() {
        // Three places in one street (house numbers differ): three tasks.
        let text = case.public.replacen(" 3", &format!(" {}", 10 + i), 1);
        bot.say(who, Chat::Direct, None, text).await;
    }
    // The crew the street's district gives them.
    let crew_id = bot.engine.task(plaza_core::model::TaskId(1)).and_then(|t| t.crew).expect("a crew");
    let crew = cfg.crew(&crew_id).expect("crew").clone();
    let member = crew.members[0].clone();
    let room = Chat::Room(crew.id.clone());
    for i in 1..=3 {
        bot.say(&member, room.clone(), None, format!("done #{i}")).await;
    }
    // #1: fixed, rated 5. #2: not fixed, done again, fixed, rated 3. #3: no answer.
    bot.say(&people[0], Chat::Direct, None, "1".into()).await;
    bot.say(&people[0], Chat::Direct, None, "5".into()).await;
    bot.say(&people[1], Chat::Direct, None, "2".into()).await;
    let t2 = bot.engine.task(plaza_core::model::TaskId(2)).expect("task 2");
    assert_eq!((t2.status, t2.feedback.reopens), (plaza_core::model::Status::Open, 1), "{t2:?}");
    bot.say(&member, room.clone(), None, "done #2".into()).await;
    bot.say(&people[1], Chat::Direct, None, "1".into()).await;
    bot.say(&people[1], Chat::Direct, None, "3".into()).await;
    let s = serve(bot, dir).await;
    let (st, _, stats) = s.get("/stats").await;
    assert_eq!(st, 200);
    let lang = &cfg.town.default_language;
    assert!(stats.contains(&s._bot.engine.text(lang, "web-stats-satisfaction")), "{stats}");
    let row = format!("<td>{}</td><td>3</td><td>4.0 (2)</td><td>33 % (1)</td>", cfg.name_in(&crew.name, lang));
    assert!(stats.contains(&row), "{row} not in the stats: {stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_of_what_residents_said_in_jun() {
    stats_of_what_residents_said(&JUN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_of_what_residents_said_in_a_second_town() {
    stats_of_what_residents_said(&KILBRIDE).await;
}
