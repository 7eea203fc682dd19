//! `plaza bench` as CI runs it: a small count, on SQLite and on a real PostgreSQL
//! server. Never a timing assertion: the JSON's shape, and that its counts add up.

use std::process::Command;

use serde_json::Value;

use crate::postgres::database;
use crate::repo;

fn bench(backend: &str, reports: usize) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_plaza"))
        .current_dir(repo())
        .args(["bench", "--reports", &reports.to_string(), "--concurrency", "16", "--backend", backend])
        .output()
        .expect("plaza bench");
    assert!(out.status.success(), "plaza bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one JSON object on stdout, nothing else: {text}");
    serde_json::from_str(lines[0]).expect("JSON")
}

fn counts_add_up(v: &Value, backend: &str, reports: u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
    assert_eq!(v["backend"], backend);
    assert_eq!(n("reports"), reports);
    // The crew marks done every task but the last `2 × concurrency + 100` (16 here).
    let crew = n("crew_actions");
    assert_eq!(crew, reports - (2 * 16 + 100), "{v}");
    assert_eq!(n("messages"), reports + crew, "{v}");
    // Every report is a task; one in ten is at the place of an earlier one (a duplicate,
    // closed at once: a "done" for it is refused).
    assert_eq!(n("tasks_created"), reports, "{v}");
    let dups = n("duplicates");
    assert_eq!(dups, reports / 10, "one in ten reports repeats a place: {v}");
    let resolved = n("resolved");
    assert!(resolved <= crew && resolved + dups >= crew, "{v}");
    // What stays open is what the crew has not reached yet; in memory, that and at most
    // the default 1,000 closed tasks.
    assert_eq!(n("open_at_end"), reports - resolved - dups, "{v}");
    assert!(n("in_memory_at_end") <= n("open_at_end") + 1_000, "{v}");
    // Delivered in full: the acknowledgement of each report, a card and a post for each
    // new place, and for each task done at least the resident's notice.
    assert_eq!(n("delivery_left"), 0, "{v}");
    assert!(n("delivered") >= reports + 2 * (reports - dups) + resolved, "{v}");
    for k in [
        "reports_per_sec",
        "messages_per_sec",
        "delivered_per_sec",
        "ceiling_per_sec",
        "ratio",
        "peak_rss_mb",
        "peak_rss_mb_intake",
        "peak_rss_mb_delivery",
    ] {
        assert!(v[k].as_f64().is_some_and(|x| x > 0.0), "{k} missing or zero: {v}");
    }
    let l = &v["latency_ms"];
    let p = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("latency_ms.{k}: {v}"));
    assert!(p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("max"), "{v}");
}

#[test]
fn bench_on_sqlite_reports_what_it_did() {
    counts_add_up(&bench("sqlite", 400), "sqlite", 400);
}

#[test]
fn bench_speaks_a_second_towns_words() {
    let out = Command::new(env!("CARGO_BIN_EXE_plaza"))
        .current_dir(repo())
        .args(["bench", "--reports", "300", "--concurrency", "16", "--config", "tests/towns/kilbride.toml"])
        .output()
        .expect("plaza bench");
    assert!(out.status.success(), "plaza bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    counts_add_up(&v, "sqlite", 300);
}

#[test]
fn bench_on_postgres_reports_what_it_did() {
    let db = database();
    counts_add_up(&bench(&db.url, 400), "postgres", 400);
}
