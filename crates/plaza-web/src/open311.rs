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
        .map(|(id, name, crew)| {
            json!({
                "service_code": s.engine.config().service_code_of(&id),
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

/// The public category (its id) an Open311 `service_code` names.
fn public_category(s: &Shared, code: &str) -> Option<String> {
    s.engine.config().open311_category(code).map(|c| c.id.clone())
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
    if public_category(&s, code).is_none() {
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

/// One request; `task` is the stored task `t` was made from (not read again), `events`
/// its events.
fn request_json(
    s: &Shared,
    task: &plaza_core::model::Task,
    t: &PublicTask,
    lang: &str,
    events: &[plaza_core::model::TaskEvent],
) -> Value {
    let notes: Vec<String> = s.engine.public_history(task, events, lang).into_iter().filter_map(|e| e.note).collect();
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
            let Some(id) = public_category(&s, code) else {
                return error(StatusCode::BAD_REQUEST, fmt, &format!("unknown service_code: {code}"));
            };
            query.category = Some(id);
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
    let shown: Vec<(&plaza_core::model::Task, PublicTask)> =
        tasks.iter().filter_map(|t| s.engine.public_task(t, &lang).map(|p| (t, p))).collect();
    // Every listed request's events in one read, not one read per request.
    let ids: Vec<TaskId> = shown.iter().map(|(t, _)| t.id).collect();
    let events = match s.engine.store().events_of(&ids).await {
        Ok(e) => e,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, fmt, &format!("the store did not answer: {e}")),
    };
    let mut by_task: HashMap<TaskId, Vec<plaza_core::model::TaskEvent>> = HashMap::new();
    for e in events {
        by_task.entry(e.task).or_default().push(e);
    }
    let items = shown
        .iter()
        .map(|(t, p)| request_json(&s, t, p, &lang, by_task.get(&t.id).map_or(&[][..], Vec::as_slice)))
        .collect();
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
        Some(p) => {
            let events = s.engine.store().events(task.id).await.unwrap_or_default();
            list(fmt, "service_requests", "request", vec![request_json(&s, &task, &p, &lang, &events)])
        }
        None => not_found(),
    }
}

/// The channel of Open311 requesters: the engine tells them of every step like any
/// resident, and an API client reads those steps back from `requests` (`status`,
/// `status_notes`); nothing is pushed to it, so these messages are delivered to nobody.
#[derive(Debug, Default)]
pub struct Requesters;

/// The channel's name, and the prefix of its requesters' identities.
pub const CHANNEL: &str = "open311";

#[async_trait::async_trait]
impl plaza_core::Channel for Requesters {
    fn name(&self) -> &str {
        CHANNEL
    }
    fn capabilities(&self) -> plaza_core::channel::Capabilities {
        plaza_core::channel::Capabilities { one_way: true, ..Default::default() }
    }
    fn limits(&self) -> plaza_core::channel::Limits {
        plaza_core::channel::Limits { concurrent_chats: 16, ..Default::default() }
    }
    fn rooms(&self) -> Vec<String> {
        vec![]
    }
    async fn run(&self, _inbox: Arc<dyn plaza_core::channel::Inbox>) -> Result<(), plaza_core::channel::ChannelError> {
        std::future::pending::<()>().await;
        Ok(())
    }
    async fn send(
        &self,
        out: &plaza_core::channel::Outgoing,
    ) -> Result<plaza_core::channel::Delivered, plaza_core::channel::ChannelError> {
        tracing::debug!(to = ?out.to, "open311 requester: kept in the task's history, not pushed");
        Ok(plaza_core::channel::Delivered { message_id: String::new() })
    }
}

/// The store key that maps a POST's token to its request.
fn token_key(token: &str) -> String {
    format!("open311-token:{token}")
}

/// Equal without telling by its timing how much of a key was right.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn one(fmt: Format, status: StatusCode, item: Value) -> Response {
    let mut r = list(fmt, "service_requests", "request", vec![item]);
    *r.status_mut() = status;
    r
}

/// `POST /open311/v2/requests.{json,xml}` (form-encoded): a new service request, routed
/// exactly like a chat report. Needs an `api_key` of a configured client (body or
/// query), a public `service_code`, and `lat`+`long` or `address_string`. The
/// requester's email, name and phone are never shown back (nor anywhere public); a hash
/// of the email, phone or device id recognises the same person (limits, repeats).
pub async fn post_request(
    State(s): State<Arc<Shared>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    axum::extract::Form(body): axum::extract::Form<Vec<(String, String)>>,
) -> Response {
    let fmt = match split(&file) {
        Some(("requests", fmt)) => fmt,
        Some((_, fmt)) => return error(StatusCode::NOT_FOUND, fmt, "no such resource"),
        None => return StatusCode::NOT_FOUND.into_response(),
    };
    // A field from the body, else from the query string (api_key may be in either).
    let field = |k: &str| -> Option<String> {
        body.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .or_else(|| q.get(k).cloned())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut both = q.clone();
    if let Some(j) = field("jurisdiction_id") {
        both.insert("jurisdiction_id".into(), j);
    }
    if let Some(r) = check_jurisdiction(&s, &both, fmt) {
        return r;
    }
    if s.keys.is_empty() {
        return error(
            StatusCode::FORBIDDEN,
            fmt,
            "this server takes no service requests (no API client is configured)",
        );
    }
    let Some(key) = field("api_key") else {
        return error(StatusCode::FORBIDDEN, fmt, "api_key is required");
    };
    let Some(client) = s.keys.iter().find(|(_, k)| same_key(k, &key)).map(|(c, _)| c.clone()) else {
        return error(StatusCode::FORBIDDEN, fmt, "api_key is not valid");
    };
    let Some(code) = field("service_code") else {
        return error(StatusCode::BAD_REQUEST, fmt, "service_code is required");
    };
    if public_category(&s, &code).is_none() {
        return error(StatusCode::NOT_FOUND, fmt, &format!("unknown service_code: {code}"));
    }
    let point = match (field("lat"), field("long")) {
        (None, None) => None,
        (Some(lat), Some(lon)) => match (lat.parse::<f64>(), lon.parse::<f64>()) {
            (Ok(lat), Ok(lon)) if (plaza_core::model::GeoPoint { lat, lon }).is_valid() => {
                Some(plaza_core::model::GeoPoint { lat, lon })
            }
            _ => return error(StatusCode::BAD_REQUEST, fmt, "lat and long must be decimal degrees (±90, ±180)"),
        },
        _ => return error(StatusCode::BAD_REQUEST, fmt, "lat and long go together"),
    };
    let address = field("address_string");
    if point.is_none() && address.is_none() {
        return error(StatusCode::BAD_REQUEST, fmt, "a location is required: lat and long, or address_string");
    }
    let max = s.engine.config().engine.max_message_chars;
    let mut description = field("description").unwrap_or_default();
    // Answers to the service's attributes are part of what the crew reads.
    for (n, v) in &body {
        if let Some(name) = n.strip_prefix("attribute[").and_then(|r| r.strip_suffix(']'))
            && !v.trim().is_empty()
        {
            description.push_str(&format!("\n{name}: {}", v.trim()));
        }
    }
    let len = description.chars().count();
    if len > max {
        return error(StatusCode::BAD_REQUEST, fmt, &format!("description is {len} characters; at most {max}"));
    }
    let media_url = field("media_url");
    if let Some(u) = &media_url
        && (!(u.starts_with("https://") || u.starts_with("http://"))
            || u.len() > 2000
            || u.contains(char::is_whitespace))
    {
        return error(StatusCode::BAD_REQUEST, fmt, "media_url must be an http(s) URL");
    }
    let token = crate::new_token();
    // The same person, recognised without keeping who they are.
    let who = ["email", "phone", "device_id", "account_id"]
        .iter()
        .find_map(|k| field(k))
        .map(|v| crate::digest(&v.to_lowercase()))
        .unwrap_or_else(|| token.clone());
    let sender = plaza_core::model::Identity::new(CHANNEL, format!("{client}/{who}"));
    let name = [field("first_name"), field("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let inbound = plaza_core::channel::Inbound {
        channel: CHANNEL.to_owned(),
        message_id: token.clone(),
        sender: sender.clone(),
        sender_name: Some(name).filter(|n| !n.is_empty()),
        chat: plaza_core::channel::Chat::Direct,
        kind: plaza_core::channel::InboundKind::ServiceRequest {
            service_code: code,
            description,
            point,
            address,
            media_url,
        },
        reply_to: None,
        unverified: false,
    };
    let lang = lang_of(&s.engine, &q, &headers);
    let became = match s.engine.service_request(inbound).await {
        Ok((_, became)) => became,
        Err(e @ plaza_core::EngineError::NoLeader) => {
            return error(StatusCode::SERVICE_UNAVAILABLE, fmt, &format!("{e}; do not send it again"));
        }
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, fmt, &format!("not taken, try again: {e}")),
    };
    // The new task, or this requester's open one it repeats (that one stands); none when
    // past the town's hourly limit.
    let Some(id) = became else {
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            fmt,
            &format!(
                "this requester has made {} reports in the last hour, the town's limit; try later",
                s.engine.config().engine.reports_per_hour
            ),
        );
    };
    // Just handled: in the engine's working set, read from disk only if not.
    let task = match s.engine.task(id) {
        Some(t) => Some(t),
        None => s.engine.store().task(id).await.ok().flatten(),
    };
    let Some(task) = task else {
        return error(StatusCode::SERVICE_UNAVAILABLE, fmt, "the request was taken but cannot be read back yet");
    };
    if let Err(e) = s.engine.store().set_cursor(&token_key(&token), &task.id.0.to_string()).await {
        tracing::warn!(error = %e, "open311: a token could not be kept");
    }
    match s.engine.public_task(&task, &lang) {
        Some(p) => one(
            fmt,
            StatusCode::CREATED,
            json!({
                "service_request_id": p.id.0.to_string(),
                "token": token,
                "service_notice": format!("{} · {}", p.status_label, p.crew),
                "account_id": Value::Null,
            }),
        ),
        // Handled in confidence: no number that could be looked up, nothing public.
        None => one(
            fmt,
            StatusCode::CREATED,
            json!({
                "token": token,
                "service_notice": s.engine.text(&lang, "open311-private-notice"),
                "account_id": Value::Null,
            }),
        ),
    }
}

/// `GET /open311/v2/tokens/{token}.{json,xml}`: the request a POST's token became;
/// 404 for an unknown token and for a request that is not public.
pub async fn token(
    State(s): State<Arc<Shared>>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some((token, fmt)) = split(&file) else { return StatusCode::NOT_FOUND.into_response() };
    if let Some(r) = check_jurisdiction(&s, &q, fmt) {
        return r;
    }
    let not_found = || error(StatusCode::NOT_FOUND, fmt, &format!("no token {token}"));
    if token.is_empty() || token.len() > 64 {
        return not_found();
    }
    let id = match s.engine.store().cursor(&token_key(token)).await {
        Ok(Some(v)) => v.parse::<i64>().ok(),
        Ok(None) => None,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, fmt, &format!("the store did not answer: {e}")),
    };
    let Some(id) = id else { return not_found() };
    let task = match s.engine.store().task(TaskId(id)).await {
        Ok(Some(t)) => t,
        _ => return not_found(),
    };
    if !s.engine.is_public(&task) {
        return not_found();
    }
    list(fmt, "service_requests", "request", vec![json!({"service_request_id": id.to_string(), "token": token})])
}
