//! The tasks list as JSON, written by hand: the JSON API's hottest answer. Each task's object
//! comes from [`TaskInfo::write_json`] (beside the type it mirrors), or from the kept copy
//! while the task is unchanged. The output is byte for byte what `serde_json` writes for
//! `Page<TaskInfo>` (a test compares them), so clients cannot tell.

use std::io::Write as _;

use crate::policy::Redaction;
use crate::scheduler::{Page, TaskInfo, TaskQuery};
use crate::views::fragments::Fragments;

/// `page` as JSON, copying each task's object from `kept` where it is still right.
/// With the query, the answer also says where the pages around it start: `next_after` and
/// `prev_before`, the `after=` and `before=` values that ask for them.
pub(crate) fn task_page(
    page: &Page<TaskInfo>,
    kept: Option<&Fragments>,
    query: Option<&TaskQuery>,
    redaction: &Redaction,
) -> Vec<u8> {
    // Each object is written redacted; a kept one was (the dashboard's redaction never
    // changes), so the kept copy is the redacted one.
    let write = |t: &TaskInfo, out: &mut Vec<u8>| {
        let mut t = std::borrow::Cow::Borrowed(t);
        let task = &t.task;
        let mut shown = task.clone();
        redaction.task(&mut shown);
        if !std::sync::Arc::ptr_eq(&shown, task) {
            t.to_mut().task = shown;
        }
        t.write_json(out)
    };
    let mut out = Vec::with_capacity(256 + page.items.len() * 640);
    out.extend_from_slice(b"{\"items\":[");
    match kept {
        Some(k) => k.with_slots(&page.items, |slots| {
            for (i, (slot, t)) in slots.iter().zip(&page.items).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(k.json(slot, |o| write(t, o)));
            }
        }),
        None => {
            for (i, t) in page.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(t, &mut out);
            }
        }
    }
    let _ = write!(
        out,
        "],\"total\":{},\"estimated\":{},\"page\":{},\"per_page\":{}",
        page.total, page.estimated, page.page, page.per_page
    );
    if let Some(q) = query {
        let sort = q.sort;
        for (name, cursor) in [
            ("next_after", page.next_cursor(sort, q.cursor.as_ref())),
            ("prev_before", page.prev_cursor(sort, q.cursor.as_ref())),
        ] {
            let _ = write!(out, ",\"{name}\":");
            let _ = serde_json::to_writer(&mut out, &cursor.map(|c| c.encode(sort)));
        }
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use jiff::Timestamp;

    use super::*;
    use crate::scheduler::{LastRun, RunStatus, Task, TaskRecord, Trigger};

    fn info(task: Task, last: Option<LastRun>, registered: bool) -> TaskInfo {
        let at: Timestamp = "2026-03-01T10:00:00.25Z".parse().unwrap();
        let trigger = Trigger::new(&task.trigger, &jiff::tz::TimeZone::UTC).unwrap();
        let paused = task.paused;
        TaskInfo::new(
            TaskRecord {
                task: Arc::new(task),
                trigger,
                anchor: at,
                created_at: at,
                updated_at: at + Duration::from_secs(5),
                next_fire: (!paused).then(|| at + Duration::from_millis(90_500)),
                last_run: last,
                running: 2,
            },
            registered,
        )
    }

    #[test]
    fn same_bytes_as_serde_json() {
        let at: Timestamp = "2026-03-01T09:59:00Z".parse().unwrap();
        let mut odd = Task::new("odd-1", "job")
            .name("quote \" backslash \\ tab\t nl\n bell\u{7} del\u{7f} é ✓ </script>")
            .args(serde_json::json!({"to": ["a", "b"], "n": 1.5, "nested": {"x": null}}))
            .retries(3)
            .timeout(Duration::from_millis(1500))
            .jitter(Duration::from_secs(3725));
        odd.paused = true;
        let items = [
            info(Task::new("plain", "job"), None, true),
            info(
                Task::new("cron", "job")
                    .cron_in("0 30 3 * * *", "Europe/Berlin")
                    .unwrap(),
                Some(LastRun {
                    run_id: 7,
                    status: RunStatus::TimedOut,
                    scheduled_at: at,
                    finished_at: Some(at + Duration::from_secs(61)),
                    error: Some("timed out after 1m \"really\"".into()),
                }),
                false,
            ),
            info(
                odd,
                Some(LastRun {
                    run_id: 8,
                    status: RunStatus::Succeeded,
                    scheduled_at: at,
                    finished_at: None,
                    error: None,
                }),
                true,
            ),
            info(
                Task::new("date", "job").at(at + Duration::from_secs(86_400)),
                None,
                true,
            ),
        ];
        for n in [0, 1, items.len()] {
            let page = Page {
                items: items[..n].to_vec(),
                total: 1234,
                estimated: n == 1,
                page: 3,
                per_page: 50,
                more: None,
            };
            let want = serde_json::to_string(&page).unwrap();
            let ours =
                String::from_utf8(task_page(&page, None, None, &Redaction::default())).unwrap();
            assert_eq!(ours, want);
            // Made afresh, then copied from what was kept.
            let kept = Fragments::default();
            for _ in 0..2 {
                let ours =
                    String::from_utf8(task_page(&page, Some(&kept), None, &Redaction::default()))
                        .unwrap();
                assert_eq!(ours, want);
            }
        }
    }
}
