//! Prometheus metrics, kept with atomics (no registry dependency).

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS_MS: [f64; 10] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0,
];

/// A latency histogram.
#[derive(Default)]
struct Histogram {
    counts: [u64; 11],
    sum_ms: f64,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    /// Push requests answered, by outcome.
    pub pushes: AtomicU64,
    /// Pull requests answered.
    pub pulls: AtomicU64,
    /// Requests answered with an error status.
    pub errors: AtomicU64,
    /// Changes that changed a stored record.
    pub changes_ingested: AtomicU64,
    /// WebSockets authenticated and open.
    pub ws_connections: AtomicU64,
    /// `sync-available` messages sent.
    pub notifications: AtomicU64,
    push_latency: Mutex<Histogram>,
    pull_latency: Mutex<Histogram>,
}

impl Metrics {
    /// Records a push's latency.
    pub fn observe_push(&self, d: Duration) {
        observe(&self.push_latency, d);
    }

    /// Records a pull's latency.
    pub fn observe_pull(&self, d: Duration) {
        observe(&self.pull_latency, d);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "fieldsync_push_requests_total",
                "Push requests answered.",
                &self.pushes,
            ),
            (
                "fieldsync_pull_requests_total",
                "Pull requests answered.",
                &self.pulls,
            ),
            (
                "fieldsync_error_responses_total",
                "Requests answered with an error.",
                &self.errors,
            ),
            (
                "fieldsync_changes_ingested_total",
                "Pushed changes that changed a record.",
                &self.changes_ingested,
            ),
            (
                "fieldsync_notifications_total",
                "sync-available messages sent.",
                &self.notifications,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP fieldsync_websocket_connections Open authenticated WebSockets.\n# TYPE fieldsync_websocket_connections gauge\nfieldsync_websocket_connections {}",
            self.ws_connections.load(Ordering::Relaxed)
        );
        render_histogram(
            &mut out,
            "fieldsync_push_duration_ms",
            "Push latency.",
            &self.push_latency,
        );
        render_histogram(
            &mut out,
            "fieldsync_pull_duration_ms",
            "Pull latency.",
            &self.pull_latency,
        );
        out
    }
}

fn observe(histogram: &Mutex<Histogram>, d: Duration) {
    let ms = d.as_secs_f64() * 1000.0;
    let slot = BUCKETS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(BUCKETS_MS.len());
    if let Ok(mut h) = histogram.lock() {
        h.counts[slot] += 1;
        h.sum_ms += ms;
    }
}

fn render_histogram(out: &mut String, name: &str, help: &str, histogram: &Mutex<Histogram>) {
    let Ok(h) = histogram.lock() else { return };
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut cumulative = 0;
    for (i, bound) in BUCKETS_MS.iter().enumerate() {
        cumulative += h.counts[i];
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    cumulative += h.counts[BUCKETS_MS.len()];
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {cumulative}\n{name}_sum {}\n{name}_count {cumulative}",
        h.sum_ms
    );
}
