//! `/metrics` in the Prometheus text format (admin bearer token) and `/readyz`. Labels are
//! route templates and reason codes only: never an id, a partner, or anything from an entry.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Upper bounds (seconds) of the request latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// (method, route template, status) → requests.
type RouteCounts = BTreeMap<(&'static str, String, u16), u64>;
/// (method, route template) → latency histogram.
type RouteLatency = BTreeMap<(&'static str, String), Histogram>;

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Requests at or under each of `BUCKETS` (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request counts by method, route template and status, and latency histograms by method and
/// route template. Every label comes from a closed set: the method from [`method_label`], the
/// route from the router's templates (or `unmatched`), the status from the answers the server
/// gives. Nothing a client sends becomes a label (M3: a unique method per request once grew
/// `/metrics` to 289 MB).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    counts: Mutex<RouteCounts>,
    latency: Mutex<RouteLatency>,
}

/// The method as a label: the standard methods by name, anything else `other`.
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let t0 = Instant::now();
    let resp = next.run(req).await;
    let secs = t0.elapsed().as_secs_f64();
    *s.http
        .counts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry((method, route.clone(), resp.status().as_u16()))
        .or_default() += 1;
    let mut lat = s.http.latency.lock().unwrap_or_else(|e| e.into_inner());
    let h = lat.entry((method, route)).or_default();
    if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
        h.buckets[i] += 1;
    }
    h.count += 1;
    h.sum += secs;
    resp
}

/// The request counters and latency histograms in the Prometheus text format.
fn render_http(m: &HttpMetrics, out: &mut String) {
    use std::fmt::Write;
    let counts = m.counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let latency = m.latency.lock().unwrap_or_else(|e| e.into_inner()).clone();
    out.push_str("# HELP entente_http_requests_total HTTP requests by method, route and status.\n# TYPE entente_http_requests_total counter\n");
    for ((m, r, st), n) in &counts {
        let _ = writeln!(
            out,
            "entente_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{st}\"}} {n}"
        );
    }
    out.push_str("# HELP entente_http_request_duration_seconds Time spent answering, by method and route.\n# TYPE entente_http_request_duration_seconds histogram\n");
    for ((m, r), h) in &latency {
        let mut cumulative = 0;
        for (b, n) in BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "entente_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{b}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "entente_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "entente_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {:.6}",
            h.sum
        );
        let _ = writeln!(
            out,
            "entente_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {}",
            h.count
        );
    }
}

/// Admin only: the counters come from every log this node holds, including logs whose
/// audience leaves out whoever might scrape an open endpoint, so their counts are not public.
pub async fn metrics(
    State(s): State<AppState>,
    crate::extract::Auth(p): crate::extract::Auth,
) -> Response {
    if let Err(e) = p.require(entente_domain::Role::Admin, "read metrics") {
        return crate::ApiError::from(e).into_response();
    }
    let mut out = String::new();
    render_http(&s.http, &mut out);
    let c = s.node.sync_counters();
    out.push_str("# HELP entente_sync_entries_applied_total Entries received from peers and applied.\n# TYPE entente_sync_entries_applied_total counter\n");
    out.push_str(&format!(
        "entente_sync_entries_applied_total {}\n",
        c.applied.load(std::sync::atomic::Ordering::Relaxed)
    ));
    out.push_str("# HELP entente_sync_duplicates_total Entries received again and skipped.\n# TYPE entente_sync_duplicates_total counter\n");
    out.push_str(&format!(
        "entente_sync_duplicates_total {}\n",
        c.duplicates.load(std::sync::atomic::Ordering::Relaxed)
    ));
    out.push_str("# HELP entente_sync_rejected_total Sync pages rejected, by reason.\n# TYPE entente_sync_rejected_total counter\n");
    for (reason, n) in c.rejected() {
        out.push_str(&format!(
            "entente_sync_rejected_total{{reason=\"{reason}\"}} {n}\n"
        ));
    }
    out.push_str("# HELP entente_fed_requests_refused_total Signed federation requests refused, by reason (replayed, stale, bad_signature, unknown_peer, missing, tls_identity).\n# TYPE entente_fed_requests_refused_total counter\n");
    for (reason, n) in c
        .fed_refused
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        out.push_str(&format!(
            "entente_fed_requests_refused_total{{reason=\"{reason}\"}} {n}\n"
        ));
    }
    out.push_str("# HELP entente_http_connections_refused_total Connections closed before being served, by reason (total_cap, client_cap, tls_handshake, tls_timeout).\n# TYPE entente_http_connections_refused_total counter\n");
    for (reason, n) in c
        .connections_refused
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        out.push_str(&format!(
            "entente_http_connections_refused_total{{reason=\"{reason}\"}} {n}\n"
        ));
    }
    out.push_str(&format!(
        "# HELP entente_http_accept_errors_total Failed accept calls (out of file descriptors and the like); the listener backs off after each.\n# TYPE entente_http_accept_errors_total counter\nentente_http_accept_errors_total {}\n",
        c.accept_errors.load(std::sync::atomic::Ordering::Relaxed)
    ));
    out.push_str(&format!(
        "# HELP entente_attachments_quarantined_total Files received from peers that the malware scanner flagged (held aside, never served).\n# TYPE entente_attachments_quarantined_total counter\nentente_attachments_quarantined_total {}\n",
        c.attachments_quarantined.load(std::sync::atomic::Ordering::Relaxed)
    ));
    for (name, help, v) in [
        ("audit_records", "Audit records written.", &c.audit_records),
        (
            "audit_commits",
            "Transactions that wrote audit records (several records each under load).",
            &c.audit_commits,
        ),
        (
            "audit_failures",
            "Audit records that could not be written (the store failed; see the error log).",
            &c.audit_failures,
        ),
    ] {
        out.push_str(&format!(
            "# HELP entente_{name}_total {help}\n# TYPE entente_{name}_total counter\nentente_{name}_total {}\n",
            v.load(std::sync::atomic::Ordering::Relaxed)
        ));
    }
    out.push_str("# HELP entente_rate_limited_total Requests refused by a rate limit, by limit (user, peer, login).\n# TYPE entente_rate_limited_total counter\n");
    for (limit, n) in c.rate_limited() {
        out.push_str(&format!(
            "entente_rate_limited_total{{limit=\"{limit}\"}} {n}\n"
        ));
    }
    out.push_str(&format!(
        "# HELP entente_http_header_timeouts_total Connections closed because the client did not finish a request's headers in time.\n# TYPE entente_http_header_timeouts_total counter\nentente_http_header_timeouts_total {}\n",
        c.header_timeouts.load(std::sync::atomic::Ordering::Relaxed)
    ));
    if let Ok(w) = s.node.witnesses().await {
        let me = s.node.partner();
        let ours = w.iter().filter(|w| &w.origin == me).count();
        out.push_str(&format!("# HELP entente_checkpoint_witnesses Peers whose cosignature on one of this node's checkpoints is held.\n# TYPE entente_checkpoint_witnesses gauge\nentente_checkpoint_witnesses {ours}\n"));
        out.push_str(&format!("# HELP entente_checkpoints_witnessed Peers whose checkpoint this node verified and cosigned.\n# TYPE entente_checkpoints_witnessed gauge\nentente_checkpoints_witnessed {}\n", w.len() - ours));
    }
    if let Ok(forks) = s.node.forks().await {
        out.push_str(&format!("# HELP entente_forks Fork evidence held.\n# TYPE entente_forks gauge\nentente_forks {}\n", forks.len()));
    }
    if let Ok(overdue) = s.node.overdue_alerts().await {
        let n: usize = overdue.iter().map(|(_, p)| p.len()).sum();
        out.push_str(&format!("# HELP entente_alerts_overdue Overdue acknowledgements on alerts this node holds.\n# TYPE entente_alerts_overdue gauge\nentente_alerts_overdue {n}\n"));
    }
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// Ready when the store answers.
pub async fn readyz(State(s): State<AppState>) -> Response {
    match s.node.store().logs().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(%e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}
