//! This process's counters and histograms, and the Prometheus text they are written in.
//!
//! Two kinds of figures, kept apart by name so that no one adds up the wrong kind:
//! - `taskdeck_*` without `cluster`: what **this process** did since it started (fires it
//!   handled, runs it finished, HTTP requests it answered, …). Every replica exports its own;
//!   `sum()` over replicas is the whole cluster's.
//! - `taskdeck_cluster_*`: read from the shared store, the same on every replica (tasks by
//!   state, runs going, replicas). Take `max()` over replicas, never `sum()`.
//!
//! With the `metrics` feature each per-process figure also goes to the `metrics` facade, so
//! an application's own recorder (a Prometheus exporter, StatsD, OpenTelemetry) gets it
//! under the same name.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// A histogram over fixed upper bounds, in seconds, updated without locks.
#[derive(Debug)]
pub(crate) struct Hist {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); longer observations only count in `count` and `sum`.
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Hist {
    pub(crate) fn new(bounds: &'static [f64]) -> Hist {
        Hist {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|le| secs <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Release);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Upper bounds of the start-lateness histogram, seconds.
pub(crate) const LATENESS_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0, 60.0,
];

/// Prometheus text exposition format, version 0.0.4.
#[derive(Debug, Default)]
pub(crate) struct Text(pub(crate) String);

impl Text {
    /// `# HELP` and `# TYPE` of a family.
    pub(crate) fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample: `labels` as `(name, value)` pairs, values escaped here.
    pub(crate) fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A histogram's samples (`_bucket`, `_sum`, `_count`) under `labels`.
    pub(crate) fn hist(&mut self, name: &str, labels: &[(&str, &str)], h: &Hist) {
        let bucket = format!("{name}_bucket");
        // Read while others observe: the count first, and no bucket above it, so the buckets
        // never exceed +Inf (an observation in flight shows up at the next scrape).
        let count = h.count.load(Ordering::Acquire);
        let mut cumulative = 0;
        for (le, n) in h.bounds.iter().zip(&h.buckets) {
            cumulative = (cumulative + n.load(Ordering::Relaxed)).min(count);
            let le = le.to_string();
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(&bucket, &l, cumulative);
        }
        let mut l = labels.to_vec();
        l.push(("le", "+Inf"));
        self.sample(&bucket, &l, count);
        let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, count);
    }
}

/// A label value as the text format wants it.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains(['\\', '"', '\n']) {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .into()
    } else {
        v.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let h = Hist::new(&[0.1, 1.0]);
        h.observe(std::time::Duration::from_millis(50));
        h.observe(std::time::Duration::from_millis(500));
        h.observe(std::time::Duration::from_secs(3));
        let mut t = Text::default();
        t.family("x_seconds", "histogram", "X.");
        t.hist("x_seconds", &[("job", "a\"b\\c\nd")], &h);
        let job = r#"job="a\"b\\c\nd""#;
        assert!(
            t.0.contains(&format!("x_seconds_bucket{{{job},le=\"0.1\"}} 1\n")),
            "{}",
            t.0
        );
        assert!(
            t.0.contains(&format!("x_seconds_bucket{{{job},le=\"1\"}} 2\n")),
            "{}",
            t.0
        );
        assert!(
            t.0.contains(&format!("x_seconds_bucket{{{job},le=\"+Inf\"}} 3\n")),
            "{}",
            t.0
        );
        assert!(
            t.0.contains(&format!("x_seconds_sum{{{job}}} 3.55\n")),
            "{}",
            t.0
        );
        assert!(
            t.0.contains(&format!("x_seconds_count{{{job}}} 3\n")),
            "{}",
            t.0
        );
    }
}
