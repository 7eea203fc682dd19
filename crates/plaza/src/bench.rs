//! `plaza bench`: a town's traffic through the real engine and store, then its delivery
//! to a channel that takes every message at once (no platform's limits), on SQLite or
//! PostgreSQL. The traffic, in the town's own words (its config): residents' reports,
//! one in ten at the place of an earlier one, and the crew marking each task done a
//! little later, as many closed as received. Each report is classified, routed, and
//! written with its event and three outbox rows (acknowledgement, crew card, public
//! post); each "done" with its event and the card, post and resident's notice, in the
//! store's group-committed transactions. One JSON object on stdout; progress on a
//! terminal. In the same run, on the same database: the ceiling, plain batched multi-row
//! inserts of equally sized rows through sqlx (a task row and three outbox rows per
//! message), and Plaza's ratio to it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_trait::async_trait;
use plaza_core::channel::{
    Capabilities, Channel, ChannelError, Chat, Delivered, Inbound, InboundKind, Inbox, Limits, Outgoing,
};
use plaza_core::clock::{Clock, SystemClock};
use plaza_core::model::Identity;
use plaza_core::{Dispatcher, Engine, Store};
use plaza_store::{PgStore, SqliteStore};
use serde_json::json;

pub struct Options {
    pub config: PathBuf,
    /// "sqlite", or a postgres:// URL.
    pub backend: String,
    /// The SQLite file (new); none: a file in a temporary folder.
    pub db: Option<PathBuf>,
    pub reports: usize,
    /// How many different residents write (each report's sender is one of them).
    pub residents: Option<usize>,
    pub concurrency: usize,
    /// Reports offered per second; none: as fast as the engine takes them.
    pub rate: Option<f64>,
}

/// The bench's messenger: rooms everywhere, every message taken at once.
struct Sink {
    rooms: Vec<String>,
    sent: AtomicUsize,
}

#[async_trait]
impl Channel for Sink {
    fn name(&self) -> &str {
        "bench"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            threads: true,
            buttons: true,
            edits: true,
            reactions: false,
            location: false,
            one_way: false,
            authenticated_ids: true,
            idempotent_sends: false,
        }
    }
    fn limits(&self) -> Limits {
        Limits { concurrent_chats: 16, ..Limits::default() }
    }
    fn rooms(&self) -> Vec<String> {
        self.rooms.clone()
    }
    async fn run(&self, _inbox: Arc<dyn Inbox>) -> Result<(), ChannelError> {
        std::future::pending().await
    }
    async fn send(&self, _out: &Outgoing) -> Result<Delivered, ChannelError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(Delivered { message_id: format!("m{n}") })
    }
}

enum Backend {
    /// The store, and the temporary folder its file is in (removed at the end).
    Sqlite(Arc<SqliteStore>, #[allow(dead_code)] Option<tempfile::TempDir>),
    Postgres(Arc<PgStore>),
}

impl Backend {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(s, _) => s.clone(),
            Backend::Postgres(s) => s.clone(),
        }
    }

    /// Tasks in the store, how many of them are joined to another as duplicates, and
    /// how many are resolved.
    async fn counts(&self) -> Result<(i64, i64, i64)> {
        const SQL: &str = "SELECT COUNT(*), COUNT(duplicate_of), COALESCE(SUM(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END), 0) FROM tasks";
        Ok(match self {
            Backend::Sqlite(s, _) => sqlx::query_as(SQL).fetch_one(s.pool()).await?,
            Backend::Postgres(s) => sqlx::query_as(SQL).fetch_one(s.pool()).await?,
        })
    }
}

async fn open(o: &Options) -> Result<Backend> {
    if o.backend.starts_with("postgres://") || o.backend.starts_with("postgresql://") {
        let pg = PgStore::open(&o.backend).await.context("opening the PostgreSQL database")?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tasks").fetch_one(pg.pool()).await?;
        if n > 0 {
            anyhow::bail!("the benchmark wants an empty database: this one has {n} tasks");
        }
        return Ok(Backend::Postgres(Arc::new(pg)));
    }
    if o.backend != "sqlite" {
        anyhow::bail!("--backend is `sqlite` or a postgres:// URL, not `{}`", o.backend);
    }
    let (db, tmp) = match &o.db {
        Some(db) => (db.clone(), None),
        None => {
            let tmp = tempfile::tempdir().context("a temporary folder")?;
            (tmp.path().join("bench.db"), Some(tmp))
        }
    };
    if db.exists() {
        anyhow::bail!("{} exists: the benchmark wants a new database file", db.display());
    }
    Ok(Backend::Sqlite(Arc::new(SqliteStore::open(&db).await.context("opening the database")?), tmp))
}

/// The most this process has held in memory (MB), from the kernel.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// What the bench says, in the town's own words: a report of its first public category
/// that has a crew with members (its first keyword in the town's language, at a street
/// written the way the town writes its streets), and that crew's first member.
struct Script {
    keyword: String,
    /// A street with `{}` where its name goes: "calle B{}" or "B{} Road".
    street: String,
    crew: String,
    member: Identity,
}

impl Script {
    fn of(cfg: &plaza_core::Config) -> Result<Script> {
        let lang = &cfg.town.default_language;
        let (cat, crew) = cfg
            .categories
            .iter()
            .filter(|c| c.visibility == plaza_core::model::Visibility::Public)
            .find_map(|c| {
                let crew = cfg.crew(&c.crew).filter(|k| !k.members.is_empty())?;
                c.keywords.get(lang).and_then(|k| k.first()).map(|_| (c, crew))
            })
            .context("the benchmark needs a public category with keywords and a crew with members")?;
        // The town's street type ("calle", "Road"), in the order its streets are written.
        let forms: Vec<String> = cfg
            .places
            .streets
            .iter()
            .take(1)
            .flat_map(|s| {
                let w: Vec<&str> = s.split_whitespace().collect();
                [format!("{} B{{}}", w.first().unwrap_or(&"calle")), format!("B{{}} {}", w.last().unwrap_or(&"Road"))]
            })
            .chain(["calle B{}".to_owned(), "B{} Road".to_owned()])
            .collect();
        let street = forms
            .into_iter()
            .find(|f| plaza_core::text::find_street(&f.replace("{}", "7")).is_some_and(|(_, k)| k.contains("b7")))
            .context("no street form the town's parser reads")?;
        Ok(Script {
            keyword: cat.keywords[lang][0].clone(),
            street,
            crew: crew.id.clone(),
            member: crew.members[0].clone(),
        })
    }

    /// Report `i`: at its own street, except one in ten, at the street of a report a
    /// few before it (a neighbour's duplicate).
    fn report(&self, i: usize, residents: usize) -> Inbound {
        let place = if i % 10 == 9 { i - 5 } else { i };
        let street = self.street.replace("{}", &place.to_string());
        self.inbound(
            format!("b{i}"),
            Identity::new("bench", format!("r{}", i % residents)),
            Chat::Direct,
            format!("{}, {street} {}", self.keyword, place % 90 + 1),
        )
    }

    /// The crew marks task `n` done in its room.
    fn done(&self, n: usize) -> Inbound {
        self.inbound(format!("c{n}"), self.member.clone(), Chat::Room(self.crew.clone()), format!("done #{n}"))
    }

    fn inbound(&self, message_id: String, sender: Identity, chat: Chat, text: String) -> Inbound {
        Inbound {
            channel: "bench".into(),
            message_id,
            sender,
            sender_name: None,
            chat,
            kind: InboundKind::Text { text },
            reply_to: None,
            unverified: false,
        }
    }
}

/// Latencies in microseconds, counted in buckets of at most 1/256 of their value
/// (exact below 256 µs; the maximum exact): the bench's own memory stays the same
/// whatever the number of messages (a value each was 8 MB at a million reports, and
/// twice that while the workers' lists were put together, in the figure measured).
struct Latencies {
    buckets: Vec<AtomicU64>,
    max: AtomicU64,
}

impl Latencies {
    const SUB_BITS: u32 = 8;

    fn new() -> Latencies {
        let n = ((64 - Self::SUB_BITS as usize) + 1) << Self::SUB_BITS;
        Latencies { buckets: (0..n).map(|_| AtomicU64::new(0)).collect(), max: AtomicU64::new(0) }
    }

    fn bucket(us: u64) -> usize {
        let sub = 1u64 << Self::SUB_BITS;
        if us < sub {
            return us as usize;
        }
        let e = 63 - us.leading_zeros();
        let top = us >> (e - Self::SUB_BITS);
        (((e - Self::SUB_BITS + 1) as u64) << Self::SUB_BITS) as usize + (top - sub) as usize
    }

    /// The middle of bucket `b`'s values.
    fn value(b: usize) -> u64 {
        let sub = 1usize << Self::SUB_BITS;
        if b < sub {
            return b as u64;
        }
        let e = (b >> Self::SUB_BITS) as u32 + Self::SUB_BITS - 1;
        let top = (sub + (b & (sub - 1))) as u64;
        let width = 1u64 << (e - Self::SUB_BITS);
        (top << (e - Self::SUB_BITS)) + width / 2
    }

    fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket(us)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    /// The value at quantile `p` (the `floor(n·p)`-th smallest, as a sorted list gives).
    fn percentile(&self, p: f64) -> u64 {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let n: u64 = counts.iter().sum();
        let max = self.max.load(Ordering::Relaxed);
        if n == 0 {
            return 0;
        }
        let rank = ((n as f64 * p) as u64).min(n - 1);
        let mut seen = 0;
        for (b, c) in counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                return Self::value(b).min(max);
            }
        }
        max
    }
}

/// How long the delivery phase runs at most.
const DELIVERY_FOR: Duration = Duration::from_secs(60);

/// How far behind the latest report the crew's "done" comes: far enough that the task
/// exists whatever the concurrency.
fn crew_lag(concurrency: usize) -> usize {
    2 * concurrency + 100
}

pub async fn run(reg: &crate::Registry, o: Options) -> Result<serde_json::Value> {
    let crate::wiring::Loaded { cfg, locales, plugins, .. } = crate::wiring::load_or_fail(reg, &o.config)?;
    let backend = open(&o).await?;
    let store = backend.store();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let script = Arc::new(Script::of(&cfg)?);
    let rooms = cfg.room_names();
    let engine =
        Engine::start(cfg, locales, store.clone(), clock, plugins, &[("bench".to_owned(), rooms.clone())]).await?;
    let sink = Arc::new(Sink { rooms, sent: AtomicUsize::new(0) });
    let dispatcher = Arc::new(Dispatcher::new(engine.clone(), vec![sink.clone()]));

    // A town's day: each report, and the crew closing an earlier one (as many closed as
    // received, so what is open stays bounded), in alternation.
    let reports = o.reports;
    let lag = crew_lag(o.concurrency.max(1));
    let crew_actions = reports.saturating_sub(lag);
    let messages = reports + crew_actions;
    let residents = o.residents.unwrap_or(reports).max(1);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let progress = progress(done.clone(), messages);
    let lat = Arc::new(Latencies::new());
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..o.concurrency.max(1) {
        let (engine, next, done, rate, script, lat) =
            (engine.clone(), next.clone(), done.clone(), o.rate, script.clone(), lat.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages {
                    break;
                }
                // The first `lag` messages are reports; then a report and the crew's
                // done of the task `lag` reports before it, in alternation.
                let inbound = match i.checked_sub(lag) {
                    None => script.report(i, residents),
                    Some(j) if j % 2 == 0 => script.report(lag + j / 2, residents),
                    Some(j) => script.done(j / 2 + 1),
                };
                // At a given rate, report i is offered at i / rate seconds: its latency
                // counts from then, waiting included.
                let offered = match rate {
                    Some(r) => {
                        let at = start + Duration::from_secs_f64(i as f64 / r);
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    None => Instant::now(),
                };
                engine.handle(inbound).await?;
                lat.record(offered.elapsed());
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, plaza_core::EngineError>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = start.elapsed();
    let working_set = engine.working_set();
    let peak_rss_intake = peak_rss_mb();
    // Then delivery, on its own (a sink with no platform limits would otherwise compete
    // with the reports for the store's writer at rates no messenger allows): until the
    // outbox is empty.
    let drain = Instant::now();
    let delivery = tokio::spawn(dispatcher.clone().run_channel(sink.clone()));
    // At most a minute of it: a rate, not the whole of a million reports' backlog.
    // Asked often, but never for more than a tenth of the time: on PostgreSQL, counting
    // a backlog of 200,000 rows takes ~100 ms, and asking every 20 ms took a core from
    // the delivery it measures.
    let delivery_left = loop {
        let asked = Instant::now();
        let pending: u64 = store.outbox_figures().await?.iter().map(|(_, n, _)| *n).sum();
        if pending == 0 || drain.elapsed() >= DELIVERY_FOR {
            break pending;
        }
        tokio::time::sleep((asked.elapsed() * 9).max(Duration::from_millis(20))).await;
    };
    let delivered_in = drain.elapsed();
    delivery.abort();
    progress.abort();
    let delivered = sink.sent.load(Ordering::Relaxed);
    let peak_rss_delivery = peak_rss_mb();
    let ms = |p: f64| (lat.percentile(p) as f64 / 100.0).round() / 10.0;
    let (tasks_created, duplicates, resolved) = backend.counts().await?;
    let reports_per_sec = reports as f64 / elapsed.as_secs_f64();
    let messages_per_sec = messages as f64 / elapsed.as_secs_f64();
    let ceiling_per_sec = ceiling(&backend, messages.min(200_000)).await?;
    Ok(json!({
        "backend": if matches!(backend, Backend::Sqlite(..)) { "sqlite" } else { "postgres" },
        "reports": reports,
        "residents": residents,
        "concurrency": o.concurrency,
        "rate": o.rate,
        "crew_actions": crew_actions,
        "messages": messages,
        "tasks_created": tasks_created,
        "duplicates": duplicates,
        "resolved": resolved,
        "open_at_end": working_set.active_tasks,
        "in_memory_at_end": working_set.tasks,
        "reports_per_sec": reports_per_sec.round(),
        "messages_per_sec": messages_per_sec.round(),
        "latency_ms": { "p50": ms(0.50), "p90": ms(0.90), "p99": ms(0.99), "max": ms(1.0) },
        "delivered": delivered,
        "delivery_left": delivery_left,
        "delivered_per_sec": (delivered as f64 / delivered_in.as_secs_f64()).round(),
        "peak_rss_mb": peak_rss_mb().round(),
        "peak_rss_mb_intake": peak_rss_intake.round(),
        "peak_rss_mb_delivery": peak_rss_delivery.round(),
        "ceiling_per_sec": ceiling_per_sec.round(),
        "ratio": ((messages_per_sec / ceiling_per_sec) * 10_000.0).round() / 10_000.0,
    }))
}

/// Reports done so far, on stderr, while it is a terminal.
fn progress(done: Arc<AtomicUsize>, total: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let n = done.load(Ordering::Relaxed);
            let width = 40;
            let filled = n * width / total.max(1);
            eprint!("\r[{}{}] {n}/{total}", "#".repeat(filled), ".".repeat(width - filled));
            if n >= total {
                eprintln!();
                return;
            }
        }
    })
}

/// What the database itself takes: per message one task-sized row and three
/// outbox-sized rows, in transactions of 1,000 messages with multi-row INSERTs (the
/// store's own shape), same durability. Messages per second.
async fn ceiling(backend: &Backend, reports: usize) -> Result<f64> {
    // A task row holds ~30 columns (~350 bytes); an outbox row, its message as JSON.
    let description = "x".repeat(350);
    let message = "x".repeat(420);
    macro_rules! measure {
        ($pool:expr, $db:ty, $setup:expr) => {{
            let pool = $pool;
            for sql in $setup {
                sqlx::query(sql).execute(pool).await?;
            }
            let start = Instant::now();
            for first in (0..reports).step_by(1000) {
                let n = 1000.min(reports - first);
                let mut tx = pool.begin().await?;
                for chunk in (0..n).collect::<Vec<_>>().chunks(400) {
                    let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO bench_ceiling_tasks (description, at) ");
                    q.push_values(chunk, |mut r, i| {
                        r.push_bind(description.clone()).push_bind((first + i) as i64);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                let rows: Vec<usize> = (0..3 * n).collect();
                for chunk in rows.chunks(400) {
                    let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO bench_ceiling_outbox (message, at) ");
                    q.push_values(chunk, |mut r, i| {
                        r.push_bind(message.clone()).push_bind((first + i) as i64);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            let rate = reports as f64 / start.elapsed().as_secs_f64();
            sqlx::query("DROP TABLE bench_ceiling_tasks").execute(pool).await?;
            sqlx::query("DROP TABLE bench_ceiling_outbox").execute(pool).await?;
            rate
        }};
    }
    Ok(match backend {
        Backend::Sqlite(s, _) => measure!(
            s.pool(),
            sqlx::Sqlite,
            [
                "CREATE TABLE bench_ceiling_tasks (id INTEGER PRIMARY KEY, description TEXT NOT NULL, at INTEGER NOT NULL)",
                "CREATE TABLE bench_ceiling_outbox (id INTEGER PRIMARY KEY, message TEXT NOT NULL, at INTEGER NOT NULL)"
            ]
        ),
        Backend::Postgres(s) => measure!(
            s.pool(),
            sqlx::Postgres,
            [
                "CREATE TABLE bench_ceiling_tasks (id BIGSERIAL PRIMARY KEY, description TEXT NOT NULL, at BIGINT NOT NULL)",
                "CREATE TABLE bench_ceiling_outbox (id BIGSERIAL PRIMARY KEY, message TEXT NOT NULL, at BIGINT NOT NULL)"
            ]
        ),
    })
}

/// `plaza bench-seed`: fills a new database with `tasks` tasks spread over three years,
/// as a town's history looks (most resolved, a few open, one in ten private, each with
/// its events), written through the store's own batches: the data the board, the stats
/// and the Open311 API are measured on.
pub async fn seed(reg: &crate::Registry, config: &Path, db: &Path, tasks: usize) -> Result<()> {
    use plaza_core::model::{
        CloseReason, EventKind, GeoPoint, Place, Status, Task, TaskEvent, TaskId, Timestamp, Visibility,
    };
    use plaza_core::store::Batch;
    let crate::wiring::Loaded { cfg, .. } = crate::wiring::load_or_fail(reg, config)?;
    if db.exists() {
        anyhow::bail!("{} exists: seeding wants a new database file", db.display());
    }
    let store = SqliteStore::open(db).await.context("opening the database")?;
    let now = SystemClock.now().0;
    let span: i64 = 3 * 365 * 86_400_000;
    let step = (span / tasks.max(1) as i64).max(1);
    let cats = cfg.categories.clone();
    let lang = cfg.town.default_language.clone();
    let started = Instant::now();
    let mut batch = Batch::default();
    for i in 0..tasks {
        let id = i as i64 + 1;
        let created = now - span + id * step;
        let cat = &cats[i % cats.len()];
        // Ten in a hundred reports are about private matters, whatever their category.
        let visibility =
            if i % 10 == 7 || cat.visibility == Visibility::Private { Visibility::Private } else { Visibility::Public };
        let age_days = (now - created) / 86_400_000;
        let status = match (age_days, i % 20) {
            (d, _) if d > 30 => {
                if i % 17 == 0 {
                    Status::Closed(CloseReason::Other)
                } else {
                    Status::Resolved
                }
            }
            (_, 0..=4) => Status::Open,
            (_, 5..=8) => Status::Acknowledged,
            (_, 9..=11) => Status::InProgress,
            _ => Status::Resolved,
        };
        let ack = created + 60_000 * (5 + (i % 120) as i64);
        let done = created + 3_600_000 * (1 + (i % 72) as i64);
        let over = !status.is_active();
        let t = Task {
            id: TaskId(id),
            category: Some(cat.id.clone()),
            crew: Some(cat.crew.clone()),
            status,
            visibility,
            description: format!("Aviso de prueba {id}: algo no funciona en la calle Prueba {}", i % 500),
            place: Place {
                street: Some(format!("calle Prueba {}", i % 500)),
                street_key: Some("calle prueba".into()),
                point: Some(GeoPoint { lat: 37.0 + (i % 1000) as f64 / 10_000.0, lon: -3.5 }),
                district: cfg.districts.get(i % cfg.districts.len().max(1)).map(|d| d.id.clone()),
            },
            attachments: vec![],
            reporter: Identity::new("bench", format!("r{}", i % 50_000)),
            reporter_public: false,
            reporter_name: None,
            sealed: visibility == Visibility::Private,
            language: lang.clone(),
            supporters: vec![],
            followers: vec![],
            duplicate_of: None,
            related: vec![],
            assignee: None,
            created_at: Timestamp(created),
            updated_at: Timestamp(if over { done } else { ack }),
            acknowledged_at: (status != Status::Open).then_some(Timestamp(ack)),
            started_at: None,
            resolved_at: (status == Status::Resolved).then_some(Timestamp(done)),
            closed_at: over.then_some(Timestamp(done)),
            feedback: Default::default(),
        };
        let ev = |at: i64, kind: EventKind| TaskEvent { task: TaskId(id), at: Timestamp(at), actor: None, kind };
        batch.events.push(ev(created, EventKind::Created));
        batch.events.push(ev(created, EventKind::Assigned { category: t.category.clone(), crew: t.crew.clone() }));
        if status != Status::Open {
            batch.events.push(ev(ack, EventKind::Status { from: Status::Open, to: Status::Acknowledged, note: None }));
        }
        if over {
            let note = (i % 3 == 0).then(|| "Reparado por la brigada".to_owned());
            batch.events.push(ev(done, EventKind::Status { from: Status::Acknowledged, to: status, note }));
        }
        batch.tasks.push(t);
        if batch.tasks.len() == 10_000 || i + 1 == tasks {
            let b = std::mem::take(&mut batch);
            store.submit(Batch { at: Timestamp(now), ..b }).await.context("the store went away")??;
            if (i + 1) % 100_000 == 0 {
                eprintln!("{} tasks written ({:.0} s)", i + 1, started.elapsed().as_secs_f64());
            }
        }
    }
    eprintln!("{tasks} tasks written to {} in {:.0} s", db.display(), started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod latency_tests {
    use super::*;

    /// Quantiles from the buckets are within 1/256 of a sorted list's, the maximum exact.
    #[test]
    fn buckets_give_the_sorted_lists_quantiles() {
        let lat = Latencies::new();
        // Not in order, with repeats, over six orders of magnitude.
        let mut all: Vec<u64> = (0..200_000u64).map(|i| (i * 7_919) % 3_000_000 / (1 + i % 5)).collect();
        for &us in &all {
            lat.record(Duration::from_micros(us));
        }
        all.sort_unstable();
        for p in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let exact = all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
            let got = lat.percentile(p);
            let err = (got as f64 - exact as f64).abs();
            assert!(err <= (exact as f64 / 256.0).max(0.0) + 1.0, "p{p}: {got} µs, sorted list {exact} µs");
        }
        assert_eq!(lat.percentile(1.0), *all.last().expect("values"));
        assert_eq!(Latencies::new().percentile(0.5), 0);
        // Every bucket's middle falls back into it.
        for b in 0..Latencies::bucket(u64::from(u32::MAX)) {
            assert_eq!(Latencies::bucket(Latencies::value(b)), b);
        }
    }
}
