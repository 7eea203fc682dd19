//! `plaza bench`: reports per second through the real engine and store, no messenger.
//! Each report is classified, routed, and written with its event and three outbox rows
//! (acknowledgement, crew card, public post) in the store's group-committed transactions.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use plaza_core::channel::{Chat, Inbound, InboundKind};
use plaza_core::clock::{Clock, SystemClock};
use plaza_core::model::Identity;
use plaza_core::{Engine, Store};
use plaza_store::SqliteStore;

pub struct Figures {
    pub reports: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub outbox_rows: i64,
}

pub async fn run(config: &Path, db: &Path, reports: usize, concurrency: usize) -> Result<Figures> {
    let crate::wiring::Loaded { cfg, locales, plugins, .. } = crate::wiring::load_or_fail(config)?;
    if db.exists() {
        anyhow::bail!("{} exists: the benchmark wants a new database file", db.display());
    }
    let sqlite = Arc::new(SqliteStore::open(db).await.context("opening the database")?);
    let store: Arc<dyn Store> = sqlite.clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rooms = cfg.room_names();
    let engine = Engine::start(cfg, locales, store, clock, plugins, &[("bench".to_owned(), rooms)]).await?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let engine = engine.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= reports {
                    break;
                }
                let inbound = Inbound {
                    channel: "bench".into(),
                    message_id: format!("b{i}"),
                    sender: Identity::new("bench", format!("r{i}")),
                    sender_name: None,
                    chat: Chat::Direct,
                    kind: InboundKind::Text { text: format!("La farola de la calle Prueba{i} {i} está apagada") },
                    reply_to: None,
                };
                let t = Instant::now();
                engine.handle(inbound).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, plaza_core::EngineError>(lat)
        }));
    }
    let mut lat = Vec::with_capacity(reports);
    for w in workers {
        lat.extend(w.await??);
    }
    let elapsed = start.elapsed();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    let outbox_rows: i64 = sqlx_count(&sqlite).await?;
    Ok(Figures { reports, elapsed, p50: pct(0.50), p99: pct(0.99), outbox_rows })
}

async fn sqlx_count(s: &SqliteStore) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(s.pool()).await?)
}

/// `plaza bench-seed`: fills a new database with `tasks` tasks spread over three years,
/// as a town's history looks (most resolved, a few open, one in ten private, each with
/// its events), written through the store's own batches: the data the board, the stats
/// and the Open311 API are measured on.
pub async fn seed(config: &Path, db: &Path, tasks: usize) -> Result<()> {
    use plaza_core::model::{
        CloseReason, EventKind, GeoPoint, Place, Status, Task, TaskEvent, TaskId, Timestamp, Visibility,
    };
    use plaza_core::store::Batch;
    let crate::wiring::Loaded { cfg, .. } = crate::wiring::load_or_fail(config)?;
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
