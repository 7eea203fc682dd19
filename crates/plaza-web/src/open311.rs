//! Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), read side: discovery,
//! services, service definitions, requests (list and one), in JSON and XML exactly as
//! the spec's clients expect. Only public tasks exist here: a private task is 404 by id
//! and absent from every list.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plaza_core::PublicTask;
use plaza_core::model::{Status, TaskId, Timestamp};
use plaza_core::store::TaskQuery;
use serde_json::{Value, json};

use crate::{Shared, lang_of, time};

/// The spec's defaults: the last 90 days, at most 1,000 requests.
const DEFAULT_DAYS: i64 = 90;
const MAX_REQUESTS: u32 = 1000;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Xml,
}

/// "requests.json" → ("requests", Json).
fn split(file: &str) -> Option<(&str, Format)> {
    if let Some(stem) = file.strip_suffix(".json") {
        Some((stem, Format::Json))
    } else {
        file.strip_suffix(".xml").map(|stem| (stem, Format::Xml))
    }
}

/// An error as the spec gives it: `[{"code", "description"}]` / `<errors><error>`.
fn error(status: StatusCode, fmt: Format, description: &str) -> Response {
    match fmt {
        Format::Json => {
            (status, axum::Json(json!([{"code": status.as_u16(), "description": description}]))).into_response()
        }
        Format::Xml => {
            let body = format!(
                "{}<errors><error><code>{}</code><description>{}</description></error></errors>",
                XML_DECL,
                status.as_u16(),
                esc(description)
            );
            xml_response(status, body)
        }
    }
}

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";

fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// A JSON value written as XML elements: objects as their fields in order, arrays as
/// repeated `item` elements (named by the caller), null as an empty element.
fn xml_fields(v: &Value) -> String {
    let mut out = String::new();
    if let Value::Object(m) = v {
        for (k, v) in m {
            match v {
                Value::Null => out.push_str(&format!("<{k}/>")),
                Value::String(s) => out.push_str(&format!("<{k}>{}</{k}>", esc(s))),
                Value::Array(items) => {
                    let inner: String = items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => format!("<{}>{}</{}>", singular(k), esc(s), singular(k)),
                            other => format!("<{}>{}</{}>", singular(k), xml_fields(other), singular(k)),
                        })
                        .collect();
                    out.push_str(&format!("<{k}>{inner}</{k}>"));
                }
                Value::Object(_) => out.push_str(&format!("<{k}>{}</{k}>", xml_fields(v))),
                other => out.push_str(&format!("<{k}>{other}</{k}>")),
            }
        }
    }
    out
}

fn singular(k: &str) -> &str {
    match k {
        "endpoints" => "endpoint",
        "formats" => "format",
        "attributes" => "attribute",
        "values" => "value",
        _ => k,
    }
}

/// A list: `[…]` or `<root><item>…</item></root>` (`<root/>` when empty).
fn list(fmt: Format, root: &str, item: &str, items: Vec<Value>) -> Response {
    match fmt {
        Format::Json => axum::Json(Value::Array(items)).into_response(),
        Format::Xml if items.is_empty() => xml_response(StatusCode::OK, format!("{XML_DECL}<{root}/>")),
        Format::Xml => {
            let inner: String = items.iter().map(|i| format!("<{item}>{}</{item}>", xml_fields(i))).collect();
            xml_response(StatusCode::OK, format!("{XML_DECL}<{root}>{inner}</{root}>"))
        }
    }
}

/// `jurisdiction_id`: an empty one is as if absent; another town's is unknown here
/// (the answer is that 404).
fn check_jurisdiction(s: &Shared, q: &HashMap<String, String>, fmt: Format) -> Option<Response> {
    let asked = q.get("jurisdiction_id").map(|j| j.trim()).filter(|j| !j.is_empty())?;
    (s.settings.jurisdiction_id.as_deref() != Some(asked))
        .then(|| error(StatusCode::NOT_FOUND, fmt, &format!("unknown jurisdiction_id: {asked}")))
}

pub async fn discovery(
    State(s): State<Arc<Shared>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(("discovery", fmt)) = split(&file) else { return StatusCode::NOT_FOUND.into_response() };
    let _ = lang_of(&s.engine, &q, &headers);
    let base = format!("{}/open311/v2", s.settings.public_url.trim_end_matches('/'));
    let v = json!({
        "changeset": time::format(s.started),
        "contact": s.engine.config().town.name,
        "key_service": "",
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": base,
            "changeset": time::format(s.started),
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    });
    match fmt {
        Format::Json => axum::Json(v).into_response(),
        Format::Xml => xml_response(StatusCode::OK, format!("{XML_DECL}<discovery>{}</discovery>", xml_fields(&v))),
    }
}

pub async fn services(
    State(s): State<Arc<Shared>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(("services", fmt)) = split(&file) else { return requests_or_404(s, file, headers, q).await };
    if let Some(r) = check_jurisdiction(&s, &q, fmt) {
        return r;
    }
    let lang = lang_of(&s.engine, &q, &headers);
    let items = s
        .engine
        .public_categories(&lang)
        .into_iter()
        .map(|(code, name, crew)| {
            json!({
                "service_code": code,
                "service_name": name,
                "description": name,
                "metadata": false,
                "type": "realtime",
                "keywords": "",
                "group": crew,
            })
        })
        .collect();
    list(fmt, "services", "service", items)
}

/// `/open311/v2/requests.json` shares the path shape of `services.json`.
async fn requests_or_404(s: Arc<Shared>, file: String, headers: HeaderMap, q: HashMap<String, String>) -> Response {
    match split(&file) {
        Some(("requests", fmt)) => requests(s, fmt, headers, q).await,
        Some((_, fmt)) => error(StatusCode::NOT_FOUND, fmt, "no such resource"),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub async fn service_definition(
    State(s): State<Arc<Shared>>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((code, fmt)) = split(&file) else { return StatusCode::NOT_FOUND.into_response() };
    if let Some(r) = check_jurisdiction(&s, &q, fmt) {
        return r;
    }
    if !s.engine.public_categories("").iter().any(|(c, _, _)| c == code) {
        return error(StatusCode::NOT_FOUND, fmt, &format!("unknown service_code: {code}"));
    }
    let v = json!({"service_code": code, "attributes": []});
    match fmt {
        Format::Json => axum::Json(v).into_response(),
        Format::Xml => xml_response(
            StatusCode::OK,
            format!("{XML_DECL}<service_definition>{}</service_definition>", xml_fields(&v)),
        ),
    }
}

/// "open" is anything not yet resolved; "closed" is resolved or closed.
fn statuses(word: &str) -> Option<Vec<Status>> {
    let mut out = Vec::new();
    for w in word.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        match w {
            "open" => out.extend([Status::Open, Status::Acknowledged, Status::InProgress]),
            "closed" => out.extend([Status::Resolved, Status::Closed(plaza_core::model::CloseReason::Other)]),
            _ => return None,
        }
    }
    Some(out)
}

fn open311_status(s: Status) -> &'static str {
    if s.is_active() { "open" } else { "closed" }
}

/// One request; `task` is the stored task `t` was made from (not read again).
async fn request_json(s: &Shared, task: &plaza_core::model::Task, t: &PublicTask, lang: &str) -> Value {
    let events = s.engine.store().events(t.id).await.unwrap_or_default();
    let notes: Vec<String> = s.engine.public_history(task, &events, lang).into_iter().filter_map(|e| e.note).collect();
    json!({
        "service_request_id": t.id.0.to_string(),
        "status": open311_status(t.status),
        "status_notes": notes.last(),
        "service_name": t.category,
        "service_code": t.category_code,
        "description": t.description,
        "agency_responsible": t.crew,
        "service_notice": t.status_label,
        "requested_datetime": time::format(t.created_at),
        "updated_datetime": time::format(t.updated_at),
        "expected_datetime": Value::Null,
        "address": t.street,
        "address_id": Value::Null,
        "zipcode": Value::Null,
        "lat": t.point.map(|p| p.0),
        "long": t.point.map(|p| p.1),
        "media_url": Value::Null,
    })
}

async fn requests(s: Arc<Shared>, fmt: Format, headers: HeaderMap, q: HashMap<String, String>) -> Response {
    if let Some(r) = check_jurisdiction(&s, &q, fmt) {
        return r;
    }
    let lang = lang_of(&s.engine, &q, &headers);
    let mut query =
        TaskQuery { public_only: true, newest_first: true, limit: Some(MAX_REQUESTS), ..TaskQuery::default() };
    let ids = q.get("service_request_id").map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(ids) = ids {
        // A list of ids overrides every other filter.
        for id in ids.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            match id.parse::<i64>() {
                Ok(n) if n > 0 => query.ids.push(TaskId(n)),
                _ => return error(StatusCode::BAD_REQUEST, fmt, &format!("service_request_id is not a number: {id}")),
            }
        }
    } else {
        if let Some(code) = q.get("service_code").map(|c| c.trim()).filter(|c| !c.is_empty()) {
            if !s.engine.public_categories("").iter().any(|(c, _, _)| c == code) {
                return error(StatusCode::BAD_REQUEST, fmt, &format!("unknown service_code: {code}"));
            }
            query.category = Some(code.to_owned());
        }
        if let Some(st) = q.get("status").map(|c| c.trim()).filter(|c| !c.is_empty()) {
            match statuses(st) {
                Some(v) => query.statuses = v,
                None => return error(StatusCode::BAD_REQUEST, fmt, "status must be open or closed"),
            }
        }
        let date = |key: &str| -> Result<Option<Timestamp>, String> {
            match q.get(key).map(|d| d.trim()).filter(|d| !d.is_empty()) {
                None => Ok(None),
                Some(d) => time::parse(d).map(Some).ok_or_else(|| format!("{key} is not an ISO 8601 date-time: {d}")),
            }
        };
        let (start, end) = match (date("start_date"), date("end_date")) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(why), _) | (_, Err(why)) => return error(StatusCode::BAD_REQUEST, fmt, &why),
        };
        if let (Some(a), Some(b)) = (start, end)
            && a > b
        {
            return error(StatusCode::BAD_REQUEST, fmt, "start_date is after end_date");
        }
        let day = 24 * 60 * 60 * 1000;
        query.created_from = match (start, end) {
            (Some(a), _) => Some(a),
            (None, Some(b)) => Some(Timestamp(b.0 - DEFAULT_DAYS * day)),
            (None, None) => Some(Timestamp(s.engine.now().0 - DEFAULT_DAYS * day)),
        };
        query.created_before = end.map(|b| Timestamp(b.0 + 1));
    }
    let tasks = match s.engine.store().tasks(&query).await {
        Ok(t) => t,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, fmt, &format!("the store did not answer: {e}")),
    };
    let mut items = Vec::new();
    for t in &tasks {
        if let Some(p) = s.engine.public_task(t, &lang) {
            items.push(request_json(&s, t, &p, &lang).await);
        }
    }
    list(fmt, "service_requests", "request", items)
}

pub async fn request_by_id(
    State(s): State<Arc<Shared>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((id, fmt)) = split(&file) else { return StatusCode::NOT_FOUND.into_response() };
    if let Some(r) = check_jurisdiction(&s, &q, fmt) {
        return r;
    }
    let lang = lang_of(&s.engine, &q, &headers);
    let not_found = || error(StatusCode::NOT_FOUND, fmt, &format!("no service request {id}"));
    let Ok(n) = id.parse::<i64>() else { return not_found() };
    let task = match s.engine.store().task(TaskId(n)).await {
        Ok(Some(t)) => t,
        Ok(None) => return not_found(),
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, fmt, &format!("the store did not answer: {e}")),
    };
    // A private task is, here, a task that does not exist.
    match s.engine.public_task(&task, &lang) {
        Some(p) => list(fmt, "service_requests", "request", vec![request_json(&s, &task, &p, &lang).await]),
        None => not_found(),
    }
}
