//! A listing's JSON, written by hand beside the [`TaskInfo`] it mirrors: the JSON API's
//! hottest answer. Through serde, a page of 50 tasks spent most of its time escaping the same
//! field names and formatting timestamps and durations through `fmt`; here field names are
//! written as they are and values through small writers. The output is byte for byte what
//! `serde_json` writes (`web::json`'s test compares them).

use std::io::Write as _;

use jiff::Timestamp;

use super::info::TaskInfo;
use super::model::LastRun;
use super::task::{Task, TaskOptions};

impl TaskInfo {
    /// Appends this listing as JSON, byte for byte what `serde_json` writes for it (a test
    /// compares them), without serde's per-field machinery: the JSON API's hottest answer.
    ///
    /// Every struct is taken apart without `..`, so a new field does not compile until it is
    /// written here too.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        let TaskInfo {
            task,
            state,
            trigger_kind,
            trigger_text,
            next_fire,
            last_run,
            running,
            created_at,
            updated_at,
            job_registered,
        } = self;
        let Task {
            id,
            name,
            job,
            trigger,
            args,
            options,
            paused,
        } = &**task;
        out.extend_from_slice(b"{\"task\":{\"id\":");
        string(out, id);
        out.extend_from_slice(b",\"name\":");
        string(out, name);
        out.extend_from_slice(b",\"job\":");
        string(out, job);
        out.extend_from_slice(b",\"trigger\":");
        // Small, and an enum with optional parts: serde writes it.
        let _ = serde_json::to_writer(&mut *out, trigger);
        out.extend_from_slice(b",\"args\":");
        let _ = serde_json::to_writer(&mut *out, args);
        out.extend_from_slice(b",\"options\":");
        write_options(out, options);
        out.extend_from_slice(b",\"paused\":");
        boolean(out, *paused);
        out.extend_from_slice(b"},\"state\":\"");
        out.extend_from_slice(state.as_str().as_bytes());
        out.extend_from_slice(b"\",\"trigger_kind\":\"");
        out.extend_from_slice(trigger_kind.as_str().as_bytes());
        out.extend_from_slice(b"\",\"trigger_text\":");
        string(out, trigger_text);
        out.extend_from_slice(b",\"next_fire\":");
        opt_timestamp(out, *next_fire);
        out.extend_from_slice(b",\"last_run\":");
        match last_run {
            Some(l) => write_last_run(out, l),
            None => out.extend_from_slice(b"null"),
        }
        let _ = write!(out, ",\"running\":{running},\"created_at\":");
        timestamp(out, *created_at);
        out.extend_from_slice(b",\"updated_at\":");
        timestamp(out, *updated_at);
        out.extend_from_slice(b",\"job_registered\":");
        boolean(out, *job_registered);
        out.push(b'}');
    }
}

fn write_options(out: &mut Vec<u8>, o: &TaskOptions) {
    let TaskOptions {
        max_instances,
        coalesce,
        misfire_grace,
        jitter,
        timeout,
        retries,
        retry_backoff,
        retry_backoff_max,
        expect_within,
        no_success_within,
    } = o;
    let _ = write!(out, "{{\"max_instances\":{max_instances},\"coalesce\":");
    boolean(out, *coalesce);
    out.extend_from_slice(b",\"misfire_grace\":");
    duration(out, *misfire_grace);
    out.extend_from_slice(b",\"jitter\":");
    duration(out, *jitter);
    if let Some(t) = timeout {
        out.extend_from_slice(b",\"timeout\":");
        duration(out, *t);
    }
    let _ = write!(out, ",\"retries\":{retries},\"retry_backoff\":");
    duration(out, *retry_backoff);
    out.extend_from_slice(b",\"retry_backoff_max\":");
    duration(out, *retry_backoff_max);
    if let Some(d) = expect_within {
        out.extend_from_slice(b",\"expect_within\":");
        duration(out, *d);
    }
    if let Some(d) = no_success_within {
        out.extend_from_slice(b",\"no_success_within\":");
        duration(out, *d);
    }
    out.push(b'}');
}

fn write_last_run(out: &mut Vec<u8>, l: &LastRun) {
    let LastRun {
        run_id,
        status,
        scheduled_at,
        finished_at,
        error,
    } = l;
    let _ = write!(out, "{{\"run_id\":{run_id},\"status\":\"");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"scheduled_at\":");
    timestamp(out, *scheduled_at);
    out.extend_from_slice(b",\"finished_at\":");
    opt_timestamp(out, *finished_at);
    out.extend_from_slice(b",\"error\":");
    match error {
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
    out.extend_from_slice(super::duration::format(d).as_bytes());
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
