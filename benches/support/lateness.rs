//! What the lateness benches share: every succeeded run's start lateness, sorted.

use taskdeck::{RunQuery, RunStatus, Scheduler};

/// Start lateness (start − scheduled) of every kept succeeded run, in microseconds, sorted.
pub(crate) async fn sorted_lateness(s: &Scheduler) -> Vec<i64> {
    let mut late: Vec<i64> = Vec::new();
    let mut page = 1;
    loop {
        let runs = s
            .runs(&RunQuery {
                status: Some(RunStatus::Succeeded),
                page,
                per_page: 500,
                ..RunQuery::default()
            })
            .await
            .expect("runs");
        if runs.items.is_empty() {
            break;
        }
        late.extend(runs.items.iter().filter_map(|r| {
            let st = r.started_at?;
            i64::try_from(st.duration_since(r.scheduled_at).as_micros()).ok()
        }));
        page += 1;
    }
    late.sort_unstable();
    late
}

/// The `p`th percentile (nearest rank) of sorted values.
pub(crate) fn percentile(sorted: &[i64], p: usize) -> i64 {
    sorted[(p * sorted.len()).div_ceil(100).max(1) - 1]
}
