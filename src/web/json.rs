//! The tasks list as JSON, written by hand: the JSON API's hottest answer. Through serde, a
//! page of 50 tasks spent most of its time escaping the same field names and formatting
//! timestamps and durations through `fmt`; here field names are written as they are, and
//! values through small writers. The output is byte for byte what `serde_json` writes for
//! `Page<TaskInfo>` (a test compares them), so clients cannot tell.

use std::io::Write as _;

use jiff::Timestamp;

use crate::scheduler::{LastRun, Page, TaskInfo, TaskOptions};
use crate::views::fragments::Fragments;

/// `page` as JSON, copying each task's object from `kept` where it is still right.
pub(crate) fn task_page(page: &Page<TaskInfo>, kept: Option<&Fragments>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + page.items.len() * 640);
    out.extend_from_slice(b"{\"items\":[");
    match kept {
        Some(k) => k.with_slots(&page.items, |slots| {
            for (i, (slot, t)) in slots.iter().zip(&page.items).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(k.json(slot, |o| task_info(o, t)));
            }
        }),
        None => {
            for (i, t) in page.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                task_info(&mut out, t);
            }
        }
    }
    let _ = write!(
        out,
        "],\"total\":{},\"page\":{},\"per_page\":{}}}",
        page.total, page.page, page.per_page
    );
    out
}

fn task_info(out: &mut Vec<u8>, t: &TaskInfo) {
    let task = &t.task;
    out.extend_from_slice(b"{\"task\":{\"id\":");
    string(out, &task.id);
    out.extend_from_slice(b",\"name\":");
    string(out, &task.name);
    out.extend_from_slice(b",\"job\":");
    string(out, &task.job);
    out.extend_from_slice(b",\"trigger\":");
    // Small, and an enum with optional parts: serde writes it.
    let _ = serde_json::to_writer(&mut *out, &task.trigger);
    out.extend_from_slice(b",\"args\":");
    let _ = serde_json::to_writer(&mut *out, &task.args);
    out.extend_from_slice(b",\"options\":");
    options(out, &task.options);
    out.extend_from_slice(b",\"paused\":");
    boolean(out, task.paused);
    out.extend_from_slice(b"},\"state\":\"");
    out.extend_from_slice(t.state.as_str().as_bytes());
    out.extend_from_slice(b"\",\"trigger_kind\":\"");
    out.extend_from_slice(t.trigger_kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"trigger_text\":");
    string(out, &t.trigger_text);
    out.extend_from_slice(b",\"next_fire\":");
    opt_timestamp(out, t.next_fire);
    out.extend_from_slice(b",\"last_run\":");
    match &t.last_run {
        Some(l) => last_run(out, l),
        None => out.extend_from_slice(b"null"),
    }
    let _ = write!(out, ",\"running\":{},\"created_at\":", t.running);
    timestamp(out, t.created_at);
    out.extend_from_slice(b",\"updated_at\":");
    timestamp(out, t.updated_at);
    out.extend_from_slice(b",\"job_registered\":");
    boolean(out, t.job_registered);
    out.push(b'}');
}

fn options(out: &mut Vec<u8>, o: &TaskOptions) {
    let _ = write!(out, "{{\"max_instances\":{},\"coalesce\":", o.max_instances);
    boolean(out, o.coalesce);
    out.extend_from_slice(b",\"misfire_grace\":");
    duration(out, o.misfire_grace);
    out.extend_from_slice(b",\"jitter\":");
    duration(out, o.jitter);
    if let Some(t) = o.timeout {
        out.extend_from_slice(b",\"timeout\":");
        duration(out, t);
    }
    let _ = write!(out, ",\"retries\":{},\"retry_backoff\":", o.retries);
    duration(out, o.retry_backoff);
    out.extend_from_slice(b",\"retry_backoff_max\":");
    duration(out, o.retry_backoff_max);
    out.push(b'}');
}

fn last_run(out: &mut Vec<u8>, l: &LastRun) {
    let _ = write!(out, "{{\"run_id\":{},\"status\":\"", l.run_id);
    out.extend_from_slice(l.status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"scheduled_at\":");
    timestamp(out, l.scheduled_at);
    out.extend_from_slice(b",\"finished_at\":");
    opt_timestamp(out, l.finished_at);
    out.extend_from_slice(b",\"error\":");
    match &l.error {
        Some(e) => string(out, e),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

fn duration(out: &mut Vec<u8>, d: std::time::Duration) {
    out.push(b'"');
    out.extend_from_slice(crate::scheduler::format_duration(d).as_bytes());
    out.push(b'"');
}

fn timestamp(out: &mut Vec<u8>, t: Timestamp) {
    out.push(b'"');
    let _ = jiff::fmt::temporal::DateTimePrinter::new().print_timestamp(&t, &mut *out);
    out.push(b'"');
}

fn opt_timestamp(out: &mut Vec<u8>, t: Option<Timestamp>) {
    match t {
        Some(t) => timestamp(out, t),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string, escaped as `serde_json` escapes: `"`, `\` and control characters.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..0x20 => {
                out.extend_from_slice(&bytes[last..i]);
                let _ = write!(out, "\\u{b:04x}");
                last = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[last..i]);
        out.extend_from_slice(esc);
        last = i + 1;
    }
    out.extend_from_slice(&bytes[last..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::scheduler::{RunStatus, Task, TaskRecord, Trigger};

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
                page: 3,
                per_page: 50,
            };
            let want = serde_json::to_string(&page).unwrap();
            let ours = String::from_utf8(task_page(&page, None)).unwrap();
            assert_eq!(ours, want);
            // Made afresh, then copied from what was kept.
            let kept = Fragments::default();
            for _ in 0..2 {
                let ours = String::from_utf8(task_page(&page, Some(&kept))).unwrap();
                assert_eq!(ours, want);
            }
        }
    }
}
