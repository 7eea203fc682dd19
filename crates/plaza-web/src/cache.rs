//! A short-lived cache of the public pages and the Open311 reads (`[web] cache_seconds`,
//! 1 by default; 0 turns it off): at a city's size, a burst of visitors asking for the
//! same page costs one rendering a second instead of one each. When a page is older than
//! that, the next visitor renders it afresh while the others still get the page just
//! before (never older than one rendering), so nobody queues behind a slow page. The
//! router puts only the public pages and the Open311 reads behind it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Shared;

/// Entries kept at most; past it the cache starts again empty.
const MAX_ENTRIES: usize = 2_000;
/// A response bigger than this is not kept.
const MAX_BODY: usize = 8 * 1024 * 1024;

#[derive(Clone)]
struct Cached {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

impl Cached {
    fn response(self) -> Response {
        let mut r = Response::new(Body::from(self.body));
        *r.status_mut() = self.status;
        if let Some(ct) = self.content_type {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        r
    }
}

struct Entry {
    /// None until the first rendering is done.
    value: Option<Cached>,
    fresh_until: Instant,
    /// Someone is rendering it: the others get `value` meanwhile, or wait for the first.
    refreshing: bool,
    rendered: Arc<tokio::sync::Notify>,
}

pub(crate) struct Cache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Cache {
    pub(crate) fn new(ttl: Duration) -> Cache {
        Cache { ttl, entries: Mutex::new(HashMap::new()) }
    }
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) async fn layer(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    serve_cached(&s.cache, req, next).await
}

async fn serve_cached(cache: &Cache, req: Request, next: Next) -> Response {
    // The router puts only the public pages and Open311 behind this layer; of those,
    // only reads are kept (an Open311 POST files a request).
    if cache.ttl.is_zero() || req.method() != Method::GET {
        return next.run(req).await;
    }
    // The page differs by its address and by the visitor's language.
    let lang = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let key = format!("{}\u{0}{lang}", req.uri());
    loop {
        let wait = {
            let mut entries = cache.entries();
            let now = Instant::now();
            match entries.get_mut(&key) {
                Some(Entry { value: Some(v), fresh_until, refreshing, .. }) if now < *fresh_until || *refreshing => {
                    return v.clone().response();
                }
                // Being rendered for the first time: wait for that rendering.
                Some(Entry { value: None, refreshing: true, rendered, .. }) => {
                    let n = rendered.clone();
                    Box::pin(async move { n.notified_owned().await })
                }
                Some(e) => {
                    e.refreshing = true;
                    break;
                }
                None => {
                    entries.insert(
                        key.clone(),
                        Entry { value: None, fresh_until: now, refreshing: true, rendered: Default::default() },
                    );
                    break;
                }
            }
        };
        // Whoever was rendering may have gone away: look again after a while in any case.
        let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
    }
    // This request renders the page (the first one, or the first after it went stale).
    // If it fails or is dropped half-way (the visitor went away), the next one renders.
    let guard = Refreshing { cache, key: &key };
    let r = next.run(req).await;
    let status = r.status();
    let content_type = r.headers().get(header::CONTENT_TYPE).cloned();
    if status.is_server_error() {
        return r;
    }
    let body = match axum::body::to_bytes(r.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "the page is too big to send").into_response(),
    };
    let value = Cached { status, content_type, body };
    let now = Instant::now();
    let mut entries = cache.entries();
    if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
        entries.retain(|_, e| now < e.fresh_until || e.refreshing);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
    }
    let rendered = match entries.get(&key) {
        Some(e) => e.rendered.clone(),
        None => Default::default(),
    };
    entries.insert(
        key.clone(),
        Entry {
            value: Some(value.clone()),
            fresh_until: now + cache.ttl,
            refreshing: false,
            rendered: rendered.clone(),
        },
    );
    drop(entries);
    drop(guard);
    rendered.notify_waiters();
    value.response()
}

/// Clears an entry's `refreshing` mark however the rendering ends.
struct Refreshing<'a> {
    cache: &'a Cache,
    key: &'a str,
}

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        let mut entries = self.cache.entries();
        if let Some(e) = entries.get_mut(self.key)
            && e.refreshing
        {
            e.refreshing = false;
            // Those waiting for a first rendering try again (one of them renders).
            e.rendered.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::Router;
    use axum::routing::get;

    use super::*;

    /// A page that counts its renderings and takes `slow` to render, behind the cache.
    async fn site(ttl: Duration, slow: Duration) -> (String, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let cache = Arc::new(Cache::new(ttl));
        let app = Router::new()
            .route(
                "/stats",
                get(move || {
                    let c = c.clone();
                    async move {
                        tokio::time::sleep(slow).await;
                        c.fetch_add(1, Ordering::SeqCst).to_string()
                    }
                }),
            )
            .layer(axum::middleware::from_fn(move |req: Request, next: Next| {
                let cache = cache.clone();
                async move { serve_cached(&cache, req, next).await }
            }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, count)
    }

    async fn get_text(url: &str) -> String {
        reqwest::get(url).await.expect("GET").text().await.expect("body")
    }

    #[tokio::test]
    async fn a_page_is_rendered_once_a_period_and_nobody_waits_for_the_refresh() {
        let (base, count) = site(Duration::from_millis(400), Duration::from_millis(300)).await;
        let url = format!("{base}/stats");
        assert_eq!(get_text(&url).await, "0");
        assert_eq!(get_text(&url).await, "0", "within the period: the same rendering");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(450)).await;
        // Stale: one request renders afresh (300 ms); another meanwhile gets the page
        // before at once.
        let renderer = tokio::spawn({
            let url = url.clone();
            async move { get_text(&url).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let began = Instant::now();
        assert_eq!(get_text(&url).await, "0");
        assert!(began.elapsed() < Duration::from_millis(200), "a visitor waited for the refresh");
        assert_eq!(renderer.await.expect("renderer"), "1");
        assert_eq!(get_text(&url).await, "1");
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn visitors_arriving_together_at_a_new_page_wait_for_one_rendering() {
        let (base, count) = site(Duration::from_secs(5), Duration::from_millis(200)).await;
        let url = format!("{base}/stats");
        let all: Vec<_> = (0..8)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { get_text(&url).await })
            })
            .collect();
        for a in all {
            assert_eq!(a.await.expect("visitor"), "0");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1, "each visitor rendered the page");
    }

    #[tokio::test]
    async fn a_refresh_abandoned_half_way_does_not_freeze_the_page() {
        let (base, count) = site(Duration::from_millis(100), Duration::from_millis(300)).await;
        let url = format!("{base}/stats");
        assert_eq!(get_text(&url).await, "0");
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The visitor who would refresh it goes away before it is rendered.
        let gone = reqwest::Client::builder().timeout(Duration::from_millis(50)).build().expect("client");
        assert!(gone.get(&url).send().await.is_err());
        tokio::time::sleep(Duration::from_millis(400)).await;
        let began = Instant::now();
        let mut last = String::new();
        while began.elapsed() < Duration::from_secs(3) {
            last = get_text(&url).await;
            if last != "0" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_ne!(last, "0", "the page stayed as it was ({} renderings)", count.load(Ordering::SeqCst));
    }
}
