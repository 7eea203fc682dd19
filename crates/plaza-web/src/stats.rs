//! `/stats`: how fast the town answers, as SVG charts drawn on the server (no script, no
//! CDN) with the numbers beside them in tables. Private categories are counted together,
//! never named or described.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use plaza_core::model::{Timestamp, Visibility};

use crate::board::{page, span};
use crate::{Shared, lang_of};

const DAYS: i64 = 30;
const DAY: i64 = 86_400_000;

/// A bar chart: one bar per value, labels under the first and last. Bars are placed in
/// percentages of the width and text in pixels, so labels stay readable (14 px) however
/// narrow the screen.
fn bars(values: &[(String, u64)], title: &str) -> Markup {
    let h = 160.0_f64;
    let max = values.iter().map(|v| v.1).max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(1) as f64;
    let bw = 100.0 / n;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width="100%" height=(format!("{}", h + 50.0)) role="img" aria-label=(title) {
            title { (title) }
            @for (i, (label, v)) in values.iter().enumerate() {
                @let bh = (*v as f64) / max * h;
                rect x=(format!("{:.3}%", i as f64 * bw)) y=(format!("{:.1}", h - bh + 22.0))
                    width=(format!("{bw:.3}%")) height=(format!("{bh:.1}")) fill="#3b6fb6" stroke="#fff" stroke-width="1" {
                    title { (label) ": " (v) }
                }
            }
            @if let (Some(first), Some(last)) = (values.first(), values.last()) {
                text x="0" y=(h + 44.0) font-size="14" { (first.0) }
                @if values.len() > 1 {
                    text x="100%" y=(h + 44.0) font-size="14" text-anchor="end" { (last.0) }
                }
            }
            text x="0" y="16" font-size="14" { (max as u64) }
        }
    }
}

fn percentile(v: &mut [i64], q: f64) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[((v.len() - 1) as f64 * q).round() as usize])
}

fn day_label(day: i64) -> String {
    crate::time::format(Timestamp(day * DAY)).get(5..10).unwrap_or("").to_owned()
}

pub async fn stats(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&s.engine, &q, &headers);
    let e = &s.engine;
    let t = |k: &str| e.text(&lang, k);
    let now = e.now();
    let since = Timestamp((now.0 / DAY - DAYS + 1) * DAY);
    let st = match e.store().stats(since, now).await {
        Ok(v) => v,
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "the store did not answer").into_response(),
    };
    let cfg = e.config();
    // Every day of the period, with zeros where nothing came.
    let counts: HashMap<i64, u64> = st.per_day.iter().copied().collect();
    let days: Vec<(String, u64)> =
        (since.0 / DAY..=now.0 / DAY).map(|d| (day_label(d), counts.get(&d).copied().unwrap_or(0))).collect();
    let total: u64 = days.iter().map(|d| d.1).sum();
    let backlog: Vec<(String, u64)> = st.backlog.iter().map(|(d, n)| (day_label(*d), *n)).collect();
    // Categories: public ones by name; private ones together; triage apart.
    let mut cats: Vec<(String, u64, u64, u64)> = Vec::new();
    let (mut private, mut triage) = (0u64, 0u64);
    for (cat, n, open, metoo) in &st.per_category {
        match cat.as_deref().and_then(|c| cfg.category(c)) {
            Some(c) if c.visibility == Visibility::Private => private += n,
            Some(c) => cats.push((cfg.name_in(&c.name, &lang).to_owned(), *n, *open, *metoo)),
            None => triage += n,
        }
    }
    // Per crew: median and 90th percentile to acknowledge and to resolve.
    let mut per_crew: HashMap<String, (usize, Vec<i64>, Vec<i64>)> = HashMap::new();
    for (crew, ack, res) in &st.durations {
        let e = per_crew.entry(crew.clone()).or_default();
        e.0 += 1;
        e.1.extend(ack.filter(|v| *v >= 0));
        e.2.extend(res.filter(|v| *v >= 0));
    }
    let mut crews: Vec<(String, usize, [Option<i64>; 4])> = per_crew
        .into_iter()
        .map(|(crew, (n, mut a, mut r))| {
            let name = cfg.crew(&crew).map(|c| cfg.name_in(&c.name, &lang).to_owned()).unwrap_or(crew);
            (
                name,
                n,
                [percentile(&mut a, 0.5), percentile(&mut a, 0.9), percentile(&mut r, 0.5), percentile(&mut r, 0.9)],
            )
        })
        .collect();
    crews.sort_by(|a, b| a.0.cmp(&b.0));
    // Per crew: what residents said of the fixes — mean rating, and how many of the
    // tasks marked done a resident reopened ("it is not fixed").
    let mut said: HashMap<String, (u64, u64, u64, u64)> = HashMap::new();
    for (crew, rating, reopens) in &st.feedback {
        let e = said.entry(crew.clone()).or_default();
        e.0 += 1;
        if let Some(r) = rating {
            e.1 += 1;
            e.2 += u64::from(*r);
        }
        if *reopens > 0 {
            e.3 += 1;
        }
    }
    let crew_name = |id: &str| cfg.crew(id).map(|c| cfg.name_in(&c.name, &lang).to_owned()).unwrap_or(id.to_owned());
    let mut satisfaction: Vec<(String, u64, String, String)> = said
        .into_iter()
        .map(|(crew, (done, rated, sum, reopened))| {
            let mean = if rated > 0 { format!("{:.1} ({rated})", sum as f64 / rated as f64) } else { "—".into() };
            let rate = format!("{:.0} % ({reopened})", reopened as f64 * 100.0 / done.max(1) as f64);
            (crew_name(&crew), done, mean, rate)
        })
        .collect();
    satisfaction.sort();
    let dur = |v: Option<i64>| v.map(span).unwrap_or_else(|| "—".into());
    let cat_bars: Vec<(String, u64)> = cats.iter().map(|c| (c.0.clone(), c.1)).collect();
    let body = html! {
        p { a href=(format!("/?lang={lang}")) { "← " (t("web-board-title")) } }
        h1 { (t("web-stats-title")) " · " (cfg.town.name) }
        p.headline {
            strong { (format!("{:.1}", total as f64 / DAYS as f64)) } " " (t("web-stats-per-day-average"))
            " · " strong { (e.tasks_so_far()) } " " (t("web-stats-coordinated"))
        }
        p { (t("web-stats-period")) ": " (total) " " (t("web-stats-reports")) }
        h2 { (t("web-stats-per-day")) }
        (bars(&days, &t("web-stats-per-day")))
        h2 { (t("web-stats-per-category")) }
        (bars(&cat_bars, &t("web-stats-per-category")))
        div.scroll { table {
            thead { tr { th { (t("web-col-category")) } th { (t("web-stats-reports")) } th { (t("web-filter-open")) } th { (t("web-metoo")) } } }
            tbody {
                @for (name, n, open, metoo) in &cats { tr { td { (name) } td { (n) } td { (open) } td { (metoo) } } }
                @if private > 0 { tr { td { (t("web-stats-private")) } td { (private) } td { "—" } td { "—" } } }
                @if triage > 0 { tr { td { (t("web-stats-triage")) } td { (triage) } td { "—" } td { "—" } } }
            }
        } }
        h2 { (t("web-stats-per-crew")) }
        div.scroll { table {
            thead { tr {
                th { (t("web-stats-crew")) } th { (t("web-stats-reports")) }
                th { (t("web-col-ack")) " (p50)" } th { "p90" } th { (t("web-col-resolved")) " (p50)" } th { "p90" }
            } }
            tbody {
                @for (name, n, p) in &crews {
                    tr { td { (name) } td { (n) } td { (dur(p[0])) } td { (dur(p[1])) } td { (dur(p[2])) } td { (dur(p[3])) } }
                }
            }
        } }
        h2 { (t("web-stats-satisfaction")) }
        div.scroll { table.satisfaction {
            thead { tr {
                th { (t("web-stats-crew")) } th { (t("web-stats-fixed")) } th { (t("web-stats-rating")) } th { (t("web-stats-reopened")) }
            } }
            tbody {
                @for (name, done, mean, rate) in &satisfaction {
                    tr { td { (name) } td { (done) } td { (mean) } td { (rate) } }
                }
            }
        } }
        h2 { (t("web-stats-backlog")) }
        (bars(&backlog, &t("web-stats-backlog")))
        div.scroll { table {
            thead { tr { th { (t("web-stats-day")) } th { (t("web-stats-reports")) } th { (t("web-stats-backlog")) } } }
            tbody {
                @for (i, (d, n)) in days.iter().enumerate() {
                    tr { td { (d) } td { (n) } td { (backlog.get(i).map(|b| b.1).unwrap_or(0)) } }
                }
            }
        } }
    };
    page(&lang, &t("web-stats-title"), body).into_response()
}
