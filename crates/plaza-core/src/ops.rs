//! What operations watch: Prometheus metrics (counters and a latency histogram kept as
//! things happen, gauges read from the store when scraped) and each channel's health.
//! One [`Ops`] per engine, its own registry (no global state), served by `plaza-web` at
//! `/metrics` and `/health`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use crate::model::Timestamp;

/// A channel as the dispatcher and its receive loop last saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelHealth {
    /// Since when sending has failed for the network, and the last error; `None`: fine.
    pub sending_down: Option<(Timestamp, String)>,
    /// Since when the receive loop has been restarting, and why; `None`: running.
    pub receiving_down: Option<(Timestamp, String)>,
    /// The last message delivered on it.
    pub last_delivery: Option<Timestamp>,
}

impl ChannelHealth {
    pub fn is_up(&self) -> bool {
        self.sending_down.is_none() && self.receiving_down.is_none()
    }
}

/// The metrics and the channels' health of one engine.
pub struct Ops {
    registry: Registry,
    /// Events received, by channel and kind (`text`, `button`, `service_request`...).
    pub inbound: IntCounterVec,
    /// Seconds from an event's arrival to its effects stored, by channel.
    pub handling: HistogramVec,
    /// Delivery attempts by channel and outcome (`delivered`, `retry`, `failed`).
    pub deliveries: IntCounterVec,
    /// Gauges set from the store at each scrape.
    tasks: IntGaugeVec,
    outbox_pending: IntGaugeVec,
    outbox_oldest: IntGaugeVec,
    channels: Mutex<BTreeMap<String, ChannelHealth>>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").finish_non_exhaustive()
    }
}

impl Default for Ops {
    fn default() -> Self {
        Ops::new()
    }
}

/// The names are fixed and valid: building a metric cannot fail.
fn built<T>(r: Result<T, prometheus::Error>) -> T {
    r.expect("a valid metric definition")
}

impl Ops {
    pub fn new() -> Ops {
        let registry = Registry::new();
        let inbound = built(IntCounterVec::new(
            Opts::new("plaza_inbound_total", "Events received from residents, crews and API clients"),
            &["channel", "kind"],
        ));
        let handling = built(HistogramVec::new(
            HistogramOpts::new("plaza_handling_seconds", "Time from an event's arrival to its effects stored")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["channel"],
        ));
        let deliveries = built(IntCounterVec::new(
            Opts::new("plaza_deliveries_total", "Delivery attempts of outgoing messages"),
            &["channel", "outcome"],
        ));
        let tasks = built(IntGaugeVec::new(
            Opts::new("plaza_tasks", "Tasks by status and category (private categories counted as `private`)"),
            &["status", "category"],
        ));
        let outbox_pending =
            built(IntGaugeVec::new(Opts::new("plaza_outbox_pending", "Messages waiting to be sent"), &["channel"]));
        let outbox_oldest = built(IntGaugeVec::new(
            Opts::new("plaza_outbox_oldest_seconds", "Age of the oldest message waiting to be sent"),
            &["channel"],
        ));
        for c in [
            Box::new(inbound.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(handling.clone()),
            Box::new(deliveries.clone()),
            Box::new(tasks.clone()),
            Box::new(outbox_pending.clone()),
            Box::new(outbox_oldest.clone()),
        ] {
            built(registry.register(c));
        }
        Ops {
            registry,
            inbound,
            handling,
            deliveries,
            tasks,
            outbox_pending,
            outbox_oldest,
            channels: Mutex::new(BTreeMap::new()),
        }
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ChannelHealth>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a channel as known (healthy until told otherwise).
    pub fn channel_started(&self, channel: &str) {
        self.channels().entry(channel.to_owned()).or_default().receiving_down = None;
    }
    pub fn delivered(&self, channel: &str, at: Timestamp) {
        self.deliveries.with_label_values(&[channel, "delivered"]).inc();
        let mut all = self.channels();
        let h = all.entry(channel.to_owned()).or_default();
        h.sending_down = None;
        h.last_delivery = Some(at);
    }
    pub fn delivery_retried(&self, channel: &str) {
        self.deliveries.with_label_values(&[channel, "retry"]).inc();
    }
    pub fn delivery_failed(&self, channel: &str) {
        self.deliveries.with_label_values(&[channel, "failed"]).inc();
    }
    pub fn sending_down(&self, channel: &str, at: Timestamp, error: &str) {
        let mut all = self.channels();
        let h = all.entry(channel.to_owned()).or_default();
        if h.sending_down.is_none() {
            h.sending_down = Some((at, error.to_owned()));
        }
    }
    pub fn receiving_down(&self, channel: &str, at: Timestamp, error: &str) {
        let mut all = self.channels();
        let h = all.entry(channel.to_owned()).or_default();
        if h.receiving_down.is_none() {
            h.receiving_down = Some((at, error.to_owned()));
        }
    }
    /// Every channel's health, by name.
    pub fn channel_health(&self) -> BTreeMap<String, ChannelHealth> {
        self.channels().clone()
    }

    /// The Prometheus text exposition of everything, with the store's figures as given.
    pub fn render(&self, store: &crate::store::OpsFigures, now: Timestamp) -> String {
        self.tasks.reset();
        for (status, category, n) in &store.tasks {
            self.tasks.with_label_values(&[status.as_str(), category.as_str()]).set(*n as i64);
        }
        self.outbox_pending.reset();
        self.outbox_oldest.reset();
        for (channel, n, oldest) in &store.outbox {
            self.outbox_pending.with_label_values(&[channel.as_str()]).set(*n as i64);
            let age = oldest.map(|o| now.since(o).max(0) / 1000).unwrap_or(0);
            self.outbox_oldest.with_label_values(&[channel.as_str()]).set(age);
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics could not be written");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_the_text_format() {
        let ops = Ops::new();
        ops.inbound.with_label_values(&["telegram", "text"]).inc();
        ops.handling.with_label_values(&["telegram"]).observe(0.012);
        ops.delivered("telegram", Timestamp(1_000));
        let figures = crate::store::OpsFigures {
            tasks: vec![("open".into(), "lighting".into(), 3), ("open".into(), "private".into(), 1)],
            outbox: vec![("telegram".into(), 2, Some(Timestamp(1_000)))],
        };
        let text = ops.render(&figures, Timestamp(61_000));
        assert!(text.contains("plaza_inbound_total{channel=\"telegram\",kind=\"text\"} 1"), "{text}");
        assert!(text.contains("plaza_handling_seconds_bucket{channel=\"telegram\",le=\"0.025\"} 1"), "{text}");
        assert!(text.contains("plaza_tasks{category=\"lighting\",status=\"open\"} 3"), "{text}");
        assert!(text.contains("plaza_outbox_oldest_seconds{channel=\"telegram\"} 60"), "{text}");
        assert!(text.contains("plaza_deliveries_total{channel=\"telegram\",outcome=\"delivered\"} 1"), "{text}");
    }

    #[test]
    fn a_channel_is_down_from_the_first_failure_until_a_delivery() {
        let ops = Ops::new();
        ops.sending_down("matrix", Timestamp(5), "timeout");
        ops.sending_down("matrix", Timestamp(9), "timeout again");
        assert_eq!(ops.channel_health()["matrix"].sending_down, Some((Timestamp(5), "timeout".into())));
        ops.delivered("matrix", Timestamp(10));
        assert!(ops.channel_health()["matrix"].is_up());
    }
}
