//! The outbox dispatcher: delivers what the engine committed, per channel, oldest first,
//! with retries and backoff, and records the platform ids it gets back.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::{debug, info, warn};

use crate::channel::{Channel, ChannelError, Destination, Inbound, Inbox};
use crate::engine::{Engine, EngineError};
use crate::model::Timestamp;
use crate::store::{DeliveryOutcome, PostRecord, StoreError};

/// Give up on a message after this many failed attempts (network errors).
const MAX_ATTEMPTS: u32 = 12;
const BATCH: u32 = 200;

pub struct Dispatcher {
    engine: Arc<Engine>,
    channels: Vec<Arc<dyn Channel>>,
}

impl Dispatcher {
    pub fn new(engine: Arc<Engine>, channels: Vec<Arc<dyn Channel>>) -> Self {
        Dispatcher { engine, channels }
    }

    pub fn channels(&self) -> &[Arc<dyn Channel>] {
        &self.channels
    }

    /// Delivers what is due on one channel. Returns how many rows it attempted.
    pub async fn deliver_due(&self, ch: &dyn Channel) -> Result<usize, StoreError> {
        let store = self.engine.store().clone();
        let now = self.engine.now();
        let rows = store.due_outbox(ch.name(), now, BATCH).await?;
        let n = rows.len();
        // A destination that had to wait keeps its later messages waiting too, in order.
        let mut blocked: HashSet<Destination> = HashSet::new();
        for row in rows {
            if blocked.contains(&row.message.to) {
                continue;
            }
            let out = self.engine.outgoing(&row);
            let span = tracing::debug_span!("deliver", channel = ch.name(), outbox = row.id, task = ?row.message.task);
            let _g = span.enter();
            let outcome = match ch.send(&out).await {
                Ok(d) => {
                    let post = match (row.message.post, row.message.task, &row.message.to) {
                        (Some(kind), Some(task), Destination::Room(room)) => Some(PostRecord {
                            channel: ch.name().to_owned(),
                            room: room.clone(),
                            kind,
                            task,
                            message_id: d.message_id.clone(),
                        }),
                        _ => None,
                    };
                    if let Some(p) = &post {
                        self.engine.record_post(p.clone());
                    }
                    DeliveryOutcome::Delivered { message_id: d.message_id, post }
                }
                Err(ChannelError::RetryAfter(wait)) => {
                    blocked.insert(row.message.to.clone());
                    debug!(?wait, "rate limited; kept queued");
                    DeliveryOutcome::Retry {
                        at: now.plus_millis(wait.as_millis() as i64),
                        error: "rate limited".into(),
                    }
                }
                Err(ChannelError::Network(e)) if row.attempts + 1 < MAX_ATTEMPTS => {
                    blocked.insert(row.message.to.clone());
                    let backoff = (1_000i64 << row.attempts.min(8)).min(300_000);
                    warn!(error = %e, attempt = row.attempts + 1, "delivery failed; will retry");
                    DeliveryOutcome::Retry { at: now.plus_millis(backoff), error: e }
                }
                Err(e) => {
                    warn!(error = %e, "delivery failed for good");
                    DeliveryOutcome::Failed { error: e.to_string() }
                }
            };
            store.record_delivery(row.id, outcome, self.engine.now()).await?;
        }
        Ok(n)
    }

    /// Delivers until nothing is due on any channel (messages waiting for a retry later
    /// stay queued).
    pub async fn settle(&self) {
        loop {
            let mut total = 0;
            for ch in &self.channels {
                match self.deliver_due(ch.as_ref()).await {
                    Ok(n) => total += n,
                    Err(e) => warn!(error = %e, channel = ch.name(), "outbox read failed"),
                }
            }
            if total == 0 {
                break;
            }
        }
    }

    /// Delivers one channel's outbox forever: wakes when the engine commits, when a retry
    /// falls due, and once a second in any case.
    pub async fn run_channel(self: Arc<Self>, ch: Arc<dyn Channel>) {
        let mut signal = self.engine.outbox_signal();
        loop {
            let attempted = match self.deliver_due(ch.as_ref()).await {
                Ok(n) => n,
                Err(e) => {
                    warn!(error = %e, channel = ch.name(), "outbox read failed");
                    0
                }
            };
            if attempted > 0 {
                continue;
            }
            let mut wait = Duration::from_secs(1);
            if let Ok(Some(at)) = self.engine.store().next_retry(ch.name()).await {
                let ms = at.since(self.engine.now()).max(10);
                wait = wait.min(Duration::from_millis(ms as u64));
            }
            tokio::select! {
                r = signal.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// An engine with its dispatcher: what a channel hands its events to.
pub struct Runtime {
    pub engine: Arc<Engine>,
    pub dispatcher: Arc<Dispatcher>,
}

#[async_trait]
impl Inbox for Runtime {
    async fn deliver(&self, inbound: Inbound) -> Result<(), EngineError> {
        self.engine.handle(inbound).await.map(|_| ())
    }
    async fn settle(&self) {
        self.dispatcher.settle().await
    }
    fn now(&self) -> Timestamp {
        self.engine.now()
    }
}

impl Runtime {
    /// Runs every channel's receive loop and its outbox delivery until all receive loops
    /// have ended, then delivers what is left.
    pub async fn serve(self: Arc<Self>) -> Result<(), crate::channel::ChannelError> {
        let mut delivery = Vec::new();
        for ch in self.dispatcher.channels() {
            delivery.push(tokio::spawn(self.dispatcher.clone().run_channel(ch.clone())));
        }
        let mut loops = Vec::new();
        for ch in self.dispatcher.channels().to_vec() {
            let inbox: Arc<dyn Inbox> = self.clone();
            info!(channel = ch.name(), "channel started");
            loops.push(tokio::spawn(async move { ch.run(inbox).await }));
        }
        let mut result = Ok(());
        for l in loops {
            match l.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => result = Err(crate::channel::ChannelError::Other(e.to_string())),
            }
        }
        for d in delivery {
            d.abort();
        }
        self.dispatcher.settle().await;
        result
    }
}
