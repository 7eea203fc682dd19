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
