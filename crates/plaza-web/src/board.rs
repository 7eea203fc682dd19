//! The public board: what was reported, who is on it and how fast the town answers.
//! Server-rendered HTML (maud escapes everything by default), no JavaScript, readable on
//! a phone.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use plaza_core::PublicTask;
use plaza_core::model::{Status, TaskId, Timestamp};
use plaza_core::store::TaskQuery;

use crate::{Shared, lang_of};

const PAGE: u32 = 50;

const STYLE: &str = "body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:0.75rem;\
color:#1a1a1a}table{border-collapse:collapse;width:100%}td,th{padding:.35rem .4rem;border-bottom:1px solid #ddd;\
text-align:start;vertical-align:top}th{font-size:14px}a{color:#0645ad}form{display:flex;flex-wrap:wrap;gap:.5rem;\
margin:.5rem 0}select,button{font-size:16px}.st{white-space:nowrap}@media(max-width:40rem){.wide{display:none}}\
nav{display:flex;gap:1rem;margin-top:1rem}h1{font-size:1.4rem}.scroll{overflow-x:auto;max-width:100%}\
svg{max-width:100%;height:auto}";

pub(crate) fn page(lang: &str, title: &str, body: Markup) -> Html<String> {
    page_with_style(lang, title, "", body)
}

/// A page with more style rules after the common ones.
pub(crate) fn page_with_style(lang: &str, title: &str, more_style: &str, body: Markup) -> Html<String> {
    let dir = if lang == "ar" { "rtl" } else { "ltr" };
    Html(
        html! {
            (DOCTYPE)
            html lang=(lang) dir=(dir) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) }
                    style { (maud::PreEscaped(STYLE)) (maud::PreEscaped(more_style)) }
                }
                body { (body) }
            }
        }
        .into_string(),
    )
}

/// "3 h", "2 d": how long, for a phone-sized column.
pub(crate) fn span(ms: i64) -> String {
    let min = ms.max(0) / 60_000;
    match min {
        0 => "<1 min".into(),
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} d", m / (24 * 60)),
    }
}

fn since(a: Timestamp, b: Option<Timestamp>) -> String {
    b.map(|b| span(b.0 - a.0)).unwrap_or_else(|| "—".into())
}

pub async fn board(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&s.engine, &q, &headers);
    let e = &s.engine;
    let t = |k: &str| e.text(&lang, k);
    let status = q.get("status").map(String::as_str).unwrap_or("all");
    let category = q.get("category").filter(|c| !c.is_empty()).cloned();
    let district = q.get("district").filter(|d| !d.is_empty()).cloned();
    let districts = e.districts(&lang);
    let page_no: u32 = q.get("page").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1);
    let cats = e.public_categories(&lang);
    let mut query = TaskQuery {
        public_only: true,
        newest_first: true,
        offset: (page_no - 1) * PAGE,
        limit: Some(PAGE + 1),
        ..TaskQuery::default()
    };
    query.statuses = match status {
        "open" => vec![Status::Open, Status::Acknowledged, Status::InProgress],
        "closed" => vec![Status::Resolved, Status::Closed(plaza_core::model::CloseReason::Other)],
        _ => vec![],
    };
    // Only public categories and the town's districts can be asked for.
    let known_category = category.as_ref().is_none_or(|c| cats.iter().any(|(code, _, _)| code == c));
    let known_district = district.as_ref().is_none_or(|d| districts.iter().any(|(id, _)| id == d));
    if !known_category || !known_district {
        return (StatusCode::BAD_REQUEST, page(&lang, &t("web-board-title"), html! { p { (t("web-bad-filter")) } }))
            .into_response();
    }
    query.category = category.clone();
    query.district = district.clone();
    let tasks = match e.store().tasks(&query).await {
        Ok(v) => v,
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "the store did not answer").into_response(),
    };
    let more = tasks.len() > PAGE as usize;
    let rows: Vec<PublicTask> =
        tasks.iter().take(PAGE as usize).filter_map(|task| e.public_task(task, &lang)).collect();
    let now = e.now();
    let link = |p: u32| {
        let mut l = format!("/?lang={lang}&status={status}&page={p}");
        if let Some(c) = &category {
            l.push_str(&format!("&category={c}"));
        }
        if let Some(d) = &district {
            l.push_str(&format!("&district={d}"));
        }
        l
    };
    let body = html! {
        h1 { (t("web-board-title")) " · " (e.config().town.name) }
        p { a href=(format!("/stats?lang={lang}")) { (t("web-stats-title")) } }
        form method="get" action="/" {
            input type="hidden" name="lang" value=(lang);
            label { (t("web-filter-status")) " "
                select name="status" {
                    option value="all" selected[status == "all"] { (t("web-filter-all")) }
                    option value="open" selected[status == "open"] { (t("web-filter-open")) }
                    option value="closed" selected[status == "closed"] { (t("web-filter-closed")) }
                }
            }
            label { (t("web-filter-category")) " "
                select name="category" {
                    option value="" { (t("web-filter-all")) }
                    @for (code, name, _) in &cats {
                        option value=(code) selected[category.as_deref() == Some(code.as_str())] { (name) }
                    }
                }
            }
            @if !districts.is_empty() {
                label { (t("web-filter-district")) " "
                    select name="district" {
                        option value="" { (t("web-filter-all")) }
                        @for (id, name) in &districts {
                            option value=(id) selected[district.as_deref() == Some(id.as_str())] { (name) }
                        }
                    }
                }
            }
            button type="submit" { (t("web-filter-apply")) }
        }
        table {
            thead { tr {
                th { "#" } th { (t("web-col-category")) } th { (t("web-col-place")) } th { (t("web-col-status")) }
                th.wide { (t("web-col-age")) } th.wide { (t("web-col-ack")) } th.wide { (t("web-col-resolved")) }
            } }
            tbody {
                @for r in &rows {
                    tr {
                        td { a href=(format!("/tasks/{}?lang={lang}", r.id.0)) { "#" (r.id.0) } }
                        td { (r.category) }
                        td { (r.street.clone().unwrap_or_default()) }
                        td.st { (r.status_label) }
                        td.wide { (span(now.0 - r.created_at.0)) }
                        td.wide { (since(r.created_at, r.acknowledged_at)) }
                        td.wide { (since(r.created_at, r.resolved_at)) }
                    }
                }
            }
        }
        @if rows.is_empty() { p { (t("web-empty")) } }
        nav {
            @if page_no > 1 { a href=(link(page_no - 1)) { "← " (t("web-prev")) } }
            @if more { a href=(link(page_no + 1)) { (t("web-next")) " →" } }
        }
    };
    page(&lang, &t("web-board-title"), body).into_response()
}

pub async fn task(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let lang = lang_of(&s.engine, &q, &headers);
    let e = &s.engine;
    let t = |k: &str| e.text(&lang, k);
    let not_found = || {
        (StatusCode::NOT_FOUND, page(&lang, &t("web-not-found"), html! { p { (t("web-not-found")) } })).into_response()
    };
    let Ok(n) = id.trim_start_matches('#').parse::<i64>() else { return not_found() };
    let Ok(Some(task)) = e.store().task(TaskId(n)).await else { return not_found() };
    // A private task is, to the web, a task that does not exist.
    let Some(p) = e.public_task(&task, &lang) else { return not_found() };
    let events = e.store().events(task.id).await.unwrap_or_default();
    let history = e.public_history(&task, &events, &lang);
    let body = html! {
        p { a href=(format!("/?lang={lang}")) { "← " (t("web-board-title")) } }
        h1 { "#" (p.id.0) " · " (p.category) }
        dl {
            dt { (t("web-col-place")) } dd { (p.place) @if let Some(d) = &p.district { " · " (d) } }
            dt { (t("web-col-status")) } dd { (p.status_label) " · " (p.crew) }
            dt { (t("web-metoo")) } dd { (p.me_too) }
            dt { (t("web-col-ack")) } dd { (since(p.created_at, p.acknowledged_at)) }
            dt { (t("web-col-resolved")) } dd { (since(p.created_at, p.resolved_at)) }
        }
        blockquote { (p.description) }
        h2 { (t("web-history")) }
        ol {
            @for ev in &history {
                li {
                    time datetime=(crate::time::format(ev.at)) { (crate::time::format(ev.at).get(..16).unwrap_or("").replace('T', " ")) }
                    " · " (ev.text)
                    @if let Some(n) = &ev.note { ": «" (n) "»" }
                }
            }
        }
    };
    page(&lang, &format!("#{} · {}", p.id.0, p.category), body).into_response()
}

/// Below this much free space for the database, `/health` says so (degraded).
const LOW_DISK: u64 = 100 * 1024 * 1024;
/// A message waiting longer than this to be sent makes `/health` degraded.
const STUCK_OUTBOX_S: i64 = 300;

/// `/health`: whether Plaza can take and deliver messages. 200 with `ok` or `degraded`
/// (a channel down, little disk, messages waiting long: the board still serves), 503
/// with `failing` when the store cannot write (nothing new can be taken).
pub async fn health(State(s): State<Arc<Shared>>) -> Response {
    let e = &s.engine;
    let now = e.now();
    let store = e.store();
    let writable = store.set_cursor("health-probe", &now.0.to_string()).await;
    // Only the outbox: counting every task would read a city's whole table per probe.
    let outbox_figures = store.outbox_figures().await;
    let free = store.free_bytes();
    let mut problems: Vec<String> = Vec::new();
    let mut channels = serde_json::Map::new();
    for (name, h) in e.ops().channel_health() {
        let since = |x: &Option<(Timestamp, String)>| x.as_ref().map(|(t, _)| crate::time::format(*t));
        let why = |x: &Option<(Timestamp, String)>| x.as_ref().map(|(_, w)| w.clone());
        if !h.is_up() {
            problems.push(format!("channel {name} is down"));
        }
        channels.insert(
            name,
            serde_json::json!({
                "up": h.is_up(),
                "sending_down_since": since(&h.sending_down),
                "sending_error": why(&h.sending_down),
                "receiving_down_since": since(&h.receiving_down),
                "receiving_error": why(&h.receiving_down),
                "last_delivery": h.last_delivery.map(crate::time::format),
            }),
        );
    }
    let mut outbox = serde_json::Map::new();
    if let Ok(f) = &outbox_figures {
        for (ch, n, oldest) in f {
            let age = oldest.map(|o| now.since(o).max(0) / 1000).unwrap_or(0);
            if age > STUCK_OUTBOX_S {
                problems.push(format!("messages for {ch} have waited {age} s"));
            }
            outbox.insert(ch.clone(), serde_json::json!({"pending": n, "oldest_seconds": age}));
        }
    }
    if free.is_some_and(|f| f < LOW_DISK) {
        problems.push("little disk space left for the database".into());
    }
    let (code, status) = match (&writable, &outbox_figures) {
        (Err(_), _) | (_, Err(_)) => (StatusCode::SERVICE_UNAVAILABLE, "failing"),
        _ if problems.is_empty() => (StatusCode::OK, "ok"),
        _ => (StatusCode::OK, "degraded"),
    };
    let store_error = writable.err().or(outbox_figures.err()).map(|e| e.to_string());
    if let Some(err) = &store_error {
        problems.insert(0, format!("the store cannot write: {err}"));
    }
    let body = serde_json::json!({
        "status": status,
        "problems": problems,
        "store": {"writable": store_error.is_none(), "error": store_error, "free_bytes": free},
        "channels": channels,
        "outbox": outbox,
    });
    (code, axum::Json(body)).into_response()
}

/// `/metrics`: Prometheus text format (events received, handling latency, deliveries
/// per channel and outcome, tasks by status and category, the outbox's depth and age).
pub async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let figures = match s.engine.store().ops_figures().await {
        Ok(f) => f,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("the store did not answer: {e}")).into_response(),
    };
    let text = s.engine.ops().render(&figures, s.engine.now());
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
