//! Time, injected: the engine asks a [`Clock`], so tests and scripted conversations can
//! say "three minutes later".

use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::Timestamp;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

fn system_now() -> Timestamp {
    let ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    Timestamp(ms)
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        system_now()
    }
}

/// The wall clock moved forward by an adjustable offset (console `~ 3m`).
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl ShiftedClock {
    pub fn advance_millis(&self, ms: i64) {
        let _ = self.offset_ms.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| Some(o.saturating_add(ms)));
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        system_now().plus_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// A clock that only moves when told (unit tests).
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    pub fn at(t: Timestamp) -> Self {
        ManualClock { now_ms: AtomicI64::new(t.0) }
    }
    pub fn advance_millis(&self, ms: i64) {
        let _ = self.now_ms.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| Some(o.saturating_add(ms)));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now_ms.load(Ordering::SeqCst))
    }
}
