//! Builds a running Plaza from a config file: config, locales, plugins, store, engine,
//! channels.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use plaza_core::clock::{Clock, ShiftedClock, SystemClock};
use plaza_core::{Channel, ChannelKind, Config, Dispatcher, Engine, Locales, Plugin, Runtime, Store};
use plaza_store::{PgStore, SqliteStore, StoreSettings};
use tracing::{error, info, warn};

use crate::console::ConsoleChannel;
use crate::registry::{BUILT_IN, Registry};

/// A messenger the config names, with its section.
pub type Messenger = (Arc<dyn ChannelKind>, toml::Table);

/// A checked config with what it names.
pub struct Loaded {
    pub cfg: Arc<Config>,
    pub locales: Arc<Locales>,
    pub plugins: Vec<Arc<dyn Plugin>>,
    /// The messengers the config names, each with its section (without `trust_ids`,
    /// which is the binary's).
    pub channels: Vec<Messenger>,
    pub web: Option<plaza_web::WebSettings>,
    /// `[store]`: the town's data on PostgreSQL (None: one SQLite file, `--db`).
    pub store: Option<StoreSettings>,
}

/// A channel's section, parsed; its problems located in the file.
fn section<T>(
    cfg: &Config,
    table: &Option<toml::Table>,
    problems: &mut Vec<plaza_core::ConfigError>,
    parse: impl Fn(&toml::Table) -> Result<T, Vec<plaza_core::config::section::Problem>>,
) -> Option<T> {
    match parse(table.as_ref()?) {
        Ok(s) => Some(s),
        Err(ps) => {
            problems.extend(ps.into_iter().map(|(k, m)| cfg.error_at(&k, m)));
            None
        }
    }
}

/// The messengers a config names, each with its section without `trust_ids` (the
/// binary's key), and the messengers whose ids the town trusts.
fn messengers<'r>(reg: &'r Registry, cfg: &Config) -> (Vec<Messenger>, Vec<&'r str>) {
    let mut channels = Vec::new();
    let mut trusted = Vec::new();
    for (name, table) in &cfg.channels {
        let Some(kind) = reg.kind(name) else { continue };
        let mut table = table.clone();
        if table.remove("trust_ids").and_then(|v| v.as_bool()) == Some(true) {
            trusted.push(kind.name());
        }
        channels.push((kind.clone(), table));
    }
    (channels, trusted)
}

/// What the registry's messengers find wrong in a config: unknown sections, each
/// section's own problems, people's identities, rooms with no home.
fn messenger_problems(reg: &Registry, cfg: &Config) -> Vec<plaza_core::config::section::Problem> {
    let mut problems = Vec::new();
    for (name, table) in &cfg.channels {
        if reg.kind(name).is_none() {
            problems.push((
                name.clone(),
                format!(
                    "unknown section `[{name}]`: not a part of a town's file, nor a messenger this Plaza has (messengers: {})",
                    reg.channel_names()
                ),
            ));
        } else if table.get("trust_ids").is_some_and(|v| !v.is_bool()) {
            problems.push((format!("{name}.trust_ids"), "must be true or false".into()));
        }
    }
    let (channels, trusted) = messengers(reg, cfg);
    for (kind, table) in &channels {
        problems.extend(kind.check(table, cfg));
    }
    // People: an identity of a messenger this Plaza has, in its shape; staff only where
    // the messenger vouches for its ids, or the town says it trusts them.
    for (key, who) in cfg.people() {
        let ch = who.channel();
        match reg.kind(ch) {
            Some(kind) => {
                if let Err(m) = kind.check_identity(who.id()) {
                    problems.push((key, m));
                } else if !kind.authenticated_ids() && !trusted.contains(&ch) {
                    problems.push((
                        key,
                        format!(
                            "`{who}`: anyone can take a name on {ch}, so crew and dispatcher powers on it need the town's word: `trust_ids = true` in [{ch}]"
                        ),
                    ));
                }
            }
            None if BUILT_IN.contains(&ch) => {}
            None => problems.push((
                key,
                format!(
                    "`{who}`: no messenger `{ch}` in this Plaza (messengers: {}, {})",
                    BUILT_IN[0],
                    reg.channel_names()
                ),
            )),
        }
    }
    // With a messenger configured, every room needs a home on one of them.
    if let Some((first, _)) = channels.first() {
        let hosted: Vec<String> = channels.iter().flat_map(|(k, t)| k.hosted_rooms(t)).collect();
        let mut addresses: Vec<&str> = channels.iter().map(|(k, _)| k.room_address()).collect();
        addresses.dedup();
        let what = if channels.len() > 1 {
            format!("{} (on any messenger)", addresses.join(" or "))
        } else {
            first.room_address().to_owned()
        };
        for r in cfg.room_names() {
            if !hosted.contains(&r) {
                problems.push((format!("{}.rooms", first.name()), format!("no {what} for the room `{r}`")));
            }
        }
    }
    problems
}

/// Loads and checks everything a config names. Returns every problem as a line.
fn load(reg: &Registry, path: &Path) -> Result<Loaded, Vec<String>> {
    let cfg = Config::load_with(path, &|cfg| messenger_problems(reg, cfg))
        .map_err(|e| e.to_string().lines().map(str::to_owned).collect::<Vec<_>>())?;
    let file = path.display().to_string();
    let mut problems: Vec<plaza_core::ConfigError> = Vec::new();

    let mut plugins = Vec::new();
    for (name, table) in &cfg.plugins {
        if table.get("enabled").and_then(|v| v.as_bool()) == Some(false) {
            continue;
        }
        match reg.plugins.iter().find(|p| p.name() == name) {
            Some(p) => {
                problems.extend(p.check(&cfg, table).into_iter().map(|(k, m)| cfg.error_at(&k, m)));
                plugins.push(p.clone())
            }
            None => problems.push(cfg.error_at(
                &format!("plugins.{name}"),
                format!(
                    "unknown plugin (known: {})",
                    reg.plugins.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    let (channels, _) = messengers(reg, &cfg);
    let web = section(&cfg, &cfg.web, &mut problems, plaza_web::WebSettings::parse);
    let store = section(&cfg, &cfg.store, &mut problems, StoreSettings::parse);
    let mut lines: Vec<String> = problems.iter().map(|e| format!("{file}: {e}")).collect();
    let extra: Vec<&str> = plugins.iter().flat_map(|p| p.messages()).collect();
    let locales = match Locales::load(&cfg.locales_dir(), &cfg.town.languages, &cfg.town.default_language, &extra) {
        Ok(l) => Some(l),
        Err(errs) => {
            lines.extend(errs.into_iter().map(|e| e.to_string()));
            None
        }
    };
    match locales {
        Some(l) if lines.is_empty() => {
            Ok(Loaded { cfg: Arc::new(cfg), locales: Arc::new(l), plugins, channels, web, store })
        }
        _ => Err(lines),
    }
}

/// `plaza check` without the printing: every problem with a config (`FILE: line N: KEY:
/// message`), or nothing.
pub fn check_config(reg: &Registry, path: &Path) -> Result<(), Vec<String>> {
    load(reg, path).map(|_| ())
}

/// Loads a config, or fails with every problem found.
pub fn load_or_fail(reg: &Registry, path: &Path) -> Result<Loaded> {
    load(reg, path).map_err(|errors| anyhow::anyhow!(errors.join("\n")))
}

pub fn check(reg: &Registry, path: &Path) -> Result<ExitCode> {
    match load(reg, path) {
        Ok(l) => {
            let cfg = &l.cfg;
            let mut channels = vec!["console".to_owned()];
            for (kind, table) in &l.channels {
                channels.push(kind.name().to_owned());
                for m in kind.notes(table, cfg) {
                    println!("note: {m}");
                }
            }
            if let Some(s) = &l.store
                && let Err((_, m)) = s.postgres_url()
            {
                println!("note: {m}");
            }
            if let Some(w) = &l.web {
                channels.push("web".into());
                if let Err((_, m)) = w.api_keys() {
                    println!("note: {m}");
                }
            }
            println!(
                "{}: OK — {}: {} categories, {} crews, languages {}, plugins: {}, channels: {}",
                path.display(),
                cfg.town.name,
                cfg.categories.len(),
                cfg.crews.len(),
                cfg.town.languages.join(", "),
                if l.plugins.is_empty() {
                    "none".to_owned()
                } else {
                    l.plugins.iter().map(|p| p.name().to_owned()).collect::<Vec<_>>().join(", ")
                },
                channels.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                println!("{e}");
            }
            println!("{} problem{} found", errors.len(), if errors.len() == 1 { "" } else { "s" });
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_problems(errors: Vec<String>) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    ExitCode::from(2)
}

/// The town's store: PostgreSQL when `[store]` names one, else the SQLite file `db`.
async fn open_store(l: &Loaded, db: &Path) -> Result<Arc<dyn Store>> {
    Ok(match open_postgres(l).await? {
        Some(pg) => pg,
        None => {
            Arc::new(SqliteStore::open(db).await.with_context(|| format!("opening the database {}", db.display()))?)
        }
    })
}

async fn open_postgres(l: &Loaded) -> Result<Option<Arc<PgStore>>> {
    let Some(settings) = &l.store else { return Ok(None) };
    let url = settings.postgres_url().map_err(|(k, m)| anyhow::anyhow!("{}", l.cfg.error_at(&k, m)))?;
    // The URL may carry a password: never in a message.
    let shown = url.rsplit_once('@').map_or("the database".to_owned(), |(_, host)| host.to_owned());
    Ok(Some(Arc::new(PgStore::open(&url).await.with_context(|| format!("opening the PostgreSQL database {shown}"))?)))
}

/// What keeps this process the only one running a town's engine on its store.
enum Lease {
    File(#[allow(dead_code)] std::fs::File),
    Postgres,
}

/// Opens the store for the one process that runs the engine: an OS lock on the SQLite
/// file, or the leader's lease on PostgreSQL (`standby`: wait for it; a leader that
/// loses it stops, so that two never run at once).
async fn open_leading(l: &Loaded, db: &Path, standby: bool) -> Result<(Arc<dyn Store>, Lease)> {
    let Some(pg) = open_postgres(l).await? else {
        let lock = lock_database(db)?;
        return Ok((open_store(l, db).await?, Lease::File(lock)));
    };
    if standby {
        info!("standby: waiting to take over from the running Plaza");
    }
    if !pg.lead(standby).await? {
        anyhow::bail!(
            "another Plaza is running on this database: stop it first, or start this one with --standby to take over when it stops"
        );
    }
    info!("leading: this Plaza runs the town on its database");
    let watch = pg.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            if !watch.still_leading().await {
                error!(
                    "lost the leader's lease on the database (it restarted or cannot be reached); stopping, a standby takes over"
                );
                std::process::exit(3);
            }
        }
    });
    Ok((pg, Lease::Postgres))
}

/// One running Plaza per database: an engine keeps the town's working state in memory
/// and numbers tasks from it, so a second one on the same file (a console beside a
/// server) would give two tasks one number and undo the other's changes. The lock is
/// the operating system's (`<db>.lock`), released however the process ends.
fn lock_database(db: &Path) -> Result<std::fs::File> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let path = db.with_extension("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(anyhow::anyhow!(
            "{} is in use by another Plaza (plaza serve or plaza console): stop that one first, or give this one its own --db",
            db.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

pub async fn console(reg: &Registry, config: &Path, db: &Path, echo: bool, start: Option<&str>) -> Result<ExitCode> {
    let l = match load(reg, config) {
        Ok(x) => x,
        Err(errors) => return Ok(print_problems(errors)),
    };
    let (store, _lease) = open_leading(&l, db, false).await?;
    let clock = Arc::new(ShiftedClock::default());
    if let Some(s) = start {
        let at: jiff::Timestamp =
            s.parse().map_err(|e| anyhow::anyhow!("--clock {s}: not a time such as 2030-01-07T09:00:00Z ({e})"))?;
        clock.advance_millis(at.as_millisecond() - clock.now().0);
    }
    let rooms = l.cfg.room_names();
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdin());
    if interactive {
        eprintln!(
            "Plaza console — {}. Write `NAME: message` (a resident), `NAME in ROOM: message`, `NAME in ROOM re #N: reply`, `NAME at LAT,LON`. Rooms: {}. Ctrl-D to quit.",
            l.cfg.town.name,
            rooms.join(", ")
        );
    }
    let input = Box::new(tokio::io::BufReader::new(tokio::io::stdin()));
    let channel: Arc<dyn Channel> =
        Arc::new(ConsoleChannel::new(rooms.clone(), input, Box::new(std::io::stdout()), echo, clock.clone()));
    let clock: Arc<dyn Clock> = clock;
    let engine =
        Engine::start(l.cfg, l.locales, store, clock, l.plugins, &[(channel.name().to_owned(), rooms)]).await?;
    let dispatcher = Arc::new(Dispatcher::new(engine.clone(), vec![channel.clone()]));
    let runtime = Arc::new(Runtime { engine, dispatcher });
    channel.run(runtime.clone()).await?;
    plaza_core::Inbox::settle(runtime.as_ref()).await;
    Ok(ExitCode::SUCCESS)
}

/// `plaza classify`: what the classifier makes of a sentence, with the keywords alone and
/// with what the dispatchers taught it; or, with no sentence, what it learned.
pub async fn classify(reg: &Registry, config: &Path, db: &Path, text: Option<&str>) -> Result<ExitCode> {
    use plaza_core::classify::{Classifier, Learned};
    let l = match load(reg, config) {
        Ok(x) => x,
        Err(errors) => return Ok(print_problems(errors)),
    };
    let store = open_store(&l, db).await?;
    let keywords = Classifier::new(&l.cfg);
    let mut learned = Learned::new(&l.cfg);
    for (t, c) in store.assignments(20_000).await? {
        if l.cfg.category(&c).is_some() {
            learned.learn(&t, &c);
        }
    }
    println!("learned from {} assignments by dispatchers ({})", learned.learned, db.display());
    match text {
        Some(t) => {
            match keywords.private_match(t) {
                Some(m) => println!("privacy:  private ({m:?}) — goes to the private crew or triage whatever else"),
                None => println!("privacy:  nothing private"),
            }
            println!("keywords: {:?}", keywords.classify(t));
            match learned.predict(t) {
                Some((c, p)) => println!(
                    "learned:  {c} ({:.0} %; used when the keywords do not decide and it reaches {:.0} %)",
                    p * 100.0,
                    l.cfg.engine.confidence_threshold * 100.0
                ),
                None => println!("learned:  no known words"),
            }
        }
        None => {
            for (c, n, words) in learned.summary(8) {
                let ws: Vec<String> = words.iter().map(|(w, k)| format!("{w} ({k})")).collect();
                println!("{c}: {n} examples (keywords included) — {}", ws.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The web's settings: `[web]`, with `--listen` overriding its address.
fn web_settings(l: &Loaded, listen: Option<&str>) -> Result<Option<plaza_web::WebSettings>, ExitCode> {
    let mut web = l.web.clone();
    if let Some(addr) = listen {
        let Ok(a) = addr.parse() else {
            return Err(print_problems(vec![format!("--listen: not an address and port like 127.0.0.1:8080: {addr}")]));
        };
        let mut w = web.unwrap_or_default();
        if l.web.as_ref().is_none_or(|w| w.public_url == format!("http://{}", w.listen)) {
            w.public_url = format!("http://{addr}");
        }
        w.listen = a;
        web = Some(w);
    }
    Ok(web)
}

/// Binds the web's address and says where it is; an address that cannot be had is a
/// problem said to the town, not a crash.
async fn bind_web(w: &plaza_web::WebSettings) -> Result<tokio::net::TcpListener, ExitCode> {
    match tokio::net::TcpListener::bind(w.listen).await {
        Ok(l) => Ok(l),
        Err(e) => Err(print_problems(vec![format!("web: cannot listen on {}: {e}", w.listen)])),
    }
}

/// `plaza web`: a web-only process for a city: the board and the Open311 API, read from
/// PostgreSQL, beside the leading `plaza serve` (any number of them, behind a load
/// balancer). What it is given to handle (an Open311 POST) goes to the leader through
/// the database's inbox; the web chat stays with the leader.
pub async fn web_only(reg: &Registry, config: &Path, listen: Option<&str>) -> Result<ExitCode> {
    let l = match load(reg, config) {
        Ok(x) => x,
        Err(errors) => return Ok(print_problems(errors)),
    };
    let w = match web_settings(&l, listen) {
        Ok(w) => w.unwrap_or_default(),
        Err(code) => return Ok(code),
    };
    if let Err((k, m)) = w.api_keys() {
        return Ok(print_problems(vec![format!("{}: {}", config.display(), l.cfg.error_at(&k, m))]));
    }
    let Some(store) = open_postgres(&l).await? else {
        return Ok(print_problems(vec![format!(
            "{}: plaza web serves beside a leading plaza serve on PostgreSQL ([store] url_env); on SQLite, plaza serve alone serves the web",
            config.display()
        )]));
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // The rooms are the leader's to host.
    let rooms = vec![("leader".to_owned(), l.cfg.room_names())];
    let engine = Engine::start(l.cfg, l.locales, store, clock, l.plugins, &rooms).await?;
    engine.forward_to_leader();
    let listener = match bind_web(&w).await {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let addr = listener.local_addr()?;
    println!(
        "Plaza's board is on the web: http://{addr}/ (Open311: http://{addr}/open311/v2/services.json); the leading plaza serve handles what is posted"
    );
    let app = plaza_web::router(engine, w, None);
    plaza_web::serve(listener, app, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// `plaza serve`: runs the town on the messengers its config names, and its web, until
/// `shutdown` resolves (Ctrl-C or SIGTERM for the binary).
pub async fn serve_until(
    reg: &Registry,
    config: &Path,
    db: &Path,
    listen: Option<&str>,
    standby: bool,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<ExitCode> {
    let l = match load(reg, config) {
        Ok(x) => x,
        Err(errors) => return Ok(print_problems(errors)),
    };
    // The web (board, Open311): from `[web]`, or `--listen` which overrides its address.
    let mut web = match web_settings(&l, listen) {
        Ok(w) => w,
        Err(code) => return Ok(code),
    };
    let mut channels: Vec<Arc<dyn Channel>> = Vec::new();
    for (kind, table) in &l.channels {
        match kind.build(table, &l.cfg).await {
            Ok(ch) if ch.name() == kind.name() => channels.push(ch),
            Ok(ch) => anyhow::bail!(
                "the messenger `{}` built a channel named `{}`: they must be the same",
                kind.name(),
                ch.name()
            ),
            Err(plaza_core::ChannelError::Setting(k, m)) => {
                return Ok(print_problems(vec![format!("{}: {}", config.display(), l.cfg.error_at(&k, m))]));
            }
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", kind.name())),
        }
    }
    if channels.is_empty() && web.is_none() {
        // No messenger: Plaza runs on the web alone (the chat and the board), at the
        // defaults of `[web]`.
        web = Some(plaza_web::WebSettings::default());
    }
    let (store, lease) = open_leading(&l, db, standby).await?;
    // With the web on, residents can also write from a browser (`/chat`), and API
    // clients post service requests (Open311) with their keys.
    let chat = match &web {
        Some(w) => {
            if let Err((k, m)) = w.api_keys() {
                return Ok(print_problems(vec![format!("{}: {}", config.display(), l.cfg.error_at(&k, m))]));
            }
            channels.push(Arc::new(plaza_web::Requesters));
            let chat = Arc::new(
                plaza_web::chat::WebChat::open(
                    store.as_ref(),
                    w.public_url.starts_with("https:"),
                    w.new_chats_per_hour,
                )
                .await?,
            );
            channels.push(chat.clone());
            Some(chat)
        }
        None => None,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rooms: Vec<(String, Vec<String>)> = channels.iter().map(|c| (c.name().to_owned(), c.rooms())).collect();
    let engine = Engine::start(l.cfg, l.locales, store, clock, l.plugins, &rooms).await?;
    let (stop_web, web_stopped) = tokio::sync::oneshot::channel::<()>();
    let web_task = match web {
        Some(w) => {
            let listener = match bind_web(&w).await {
                Ok(l) => l,
                Err(code) => return Ok(code),
            };
            let addr = listener.local_addr()?;
            println!(
                "Plaza is on the web: open http://{addr}/chat to report a problem, http://{addr}/ for the public board (Open311: http://{addr}/open311/v2/services.json)"
            );
            tracing::info!(%addr, "web listening");
            let app = plaza_web::router(engine.clone(), w, chat);
            Some(tokio::spawn(plaza_web::serve(listener, app, async {
                let _ = web_stopped.await;
            })))
        }
        None => None,
    };
    if matches!(lease, Lease::Postgres) {
        // What web-only processes (`plaza web`) hand over.
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = engine.clone().serve_inbox().await {
                    warn!(error = %e, "the inbox of web processes could not be read; trying again");
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }
    tracing::info!(db = %db.display(), "plaza serving");
    let dispatcher = Arc::new(Dispatcher::new(engine.clone(), channels));
    let runtime = Arc::new(Runtime { engine, dispatcher });
    runtime.serve(shutdown).await?;
    let _ = stop_web.send(());
    if let Some(t) = web_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), t).await;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
