//! A chatty run watched live: one run logs 1,000 lines a second for 10 seconds while 100
//! viewers hold `/events` open on its page (the memory store, the dashboard over loopback).
//! Prints the delay from a line being logged to each viewer reading it (p50, p99, max), the
//! lines kept and dropped, the process's CPU over the 10 seconds, its resident size before
//! and after, and the start lateness of a task firing every 100 ms meanwhile, against the
//! same 10 seconds with no chatty run.
//!
//! `cargo bench -p taskdeck-benches --bench live`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskdeck::{Dashboard, Scheduler, Task, TaskContext};
use tokio::io::AsyncReadExt;

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/sse.rs"]
mod stream;
use stream::{connect, rss_kib};

const VIEWERS: usize = 100;
const SECONDS: u64 = 10;
const LINES_PER_SEC: u64 = 1000;

/// Start lateness of the heartbeat's runs that began in `[from, to)`, in ms.
fn lateness(late: &Mutex<Vec<(Instant, f64)>>, from: Instant, to: Instant) -> Vec<f64> {
    let mut v: Vec<f64> = late
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at >= from && *at < to)
        .map(|(_, ms)| *ms)
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

fn pct(v: &[f64], p: usize) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v[((p * v.len()).div_ceil(100)).max(1) - 1]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = Scheduler::builder().build().unwrap();
        s.register("chatty", |ctx: TaskContext| async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / LINES_PER_SEC));
            for i in 0..SECONDS * LINES_PER_SEC {
                tick.tick().await;
                ctx.log(format!("line {i}: processed record {} of the batch", i * 7));
            }
            Ok(())
        });
        let late: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
        let l = late.clone();
        s.register("beat", move |ctx: TaskContext| {
            let l = l.clone();
            async move {
                let ms = (jiff::Timestamp::now() - ctx.scheduled_at())
                    .total(jiff::Unit::Millisecond)
                    .unwrap_or(0.0);
                l.lock().unwrap().push((Instant::now(), ms));
                Ok(())
            }
        });
        s.add(Task::new("chatty", "chatty").every(Duration::from_secs(3600)))
            .await
            .unwrap();
        s.add(Task::new("beat", "beat").every(Duration::from_millis(100)))
            .await
            .unwrap();
        s.start().unwrap();
        let d = Dashboard::builder(s.clone())
            // A hundred viewers, all from 127.0.0.1.
            .max_connections_per_client(1024)
            .max_streams_per_session(1024)
            .max_streams_per_user(1024)
            .build()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(d.serve_listener(listener, std::future::pending()));

        // Each viewer reads the stream and notes, for every line a run_log event brings, how
        // long after it was logged it arrived.
        let delays: Arc<Mutex<Vec<f64>>> = Arc::default();
        let mut viewers = Vec::new();
        for _ in 0..VIEWERS {
            let mut stream = connect(addr).await;
            let delays = delays.clone();
            viewers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut pending = String::new();
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let now = jiff::Timestamp::now();
                    pending.push_str(&String::from_utf8_lossy(&buf[..n]));
                    while let Some(end) = pending.find("\n\n") {
                        let event: String = pending.drain(..end + 2).collect();
                        let Some(data) = event
                            .lines()
                            .find_map(|l| l.strip_prefix("data: "))
                            .filter(|_| event.contains("event: run_log"))
                        else {
                            continue;
                        };
                        let v: serde_json::Value = serde_json::from_str(data).unwrap();
                        let mut d = delays.lock().unwrap();
                        for line in v["lines"].as_array().into_iter().flatten() {
                            let at: jiff::Timestamp = line["at"].as_str().unwrap().parse().unwrap();
                            d.push((now - at).total(jiff::Unit::Millisecond).unwrap_or(0.0));
                        }
                    }
                }
            }));
        }

        // Ten quiet seconds first: the heartbeat's lateness with no chatty run.
        let quiet_from = Instant::now();
        tokio::time::sleep(Duration::from_secs(SECONDS)).await;
        let quiet_to = Instant::now();
        let rss_before = rss_kib();
        let cpu_before = cpu::own_seconds();
        let started = Instant::now();
        let run = s.run_now("chatty").await.unwrap();
        let mut events = s.subscribe();
        loop {
            if let taskdeck::Recv::Event(taskdeck::Event::RunFinished { run_id, .. }) =
                events.recv().await
            {
                if run_id == run.id {
                    break;
                }
            }
        }
        let took = started.elapsed();
        let cpu = cpu::own_seconds() - cpu_before;
        let rss_after = rss_kib();
        // The last events reach the viewers.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let quiet = lateness(&late, quiet_from, quiet_to);
        let busy = lateness(&late, started, started + took);
        let r = s.run(run.id).await.unwrap();
        let mut d = delays.lock().unwrap().clone();
        d.sort_by(f64::total_cmp);
        println!(
            "one run logging {} lines a second for {SECONDS} s, {VIEWERS} viewers on /events:",
            LINES_PER_SEC
        );
        println!("| measure | figure |");
        println!("|---|---|");
        println!(
            "| lines logged / kept / dropped | {} / {} / {} |",
            SECONDS * LINES_PER_SEC,
            r.logs.len(),
            r.logs_dropped
        );
        println!(
            "| lines read by the viewers | {} ({} each) |",
            d.len(),
            d.len() / VIEWERS
        );
        println!(
            "| delay from logged to read: p50 / p99 / max | {:.0} / {:.0} / {:.0} ms |",
            pct(&d, 50),
            pct(&d, 99),
            d.last().copied().unwrap_or(0.0)
        );
        println!(
            "| CPU of the process over the run | {:.2} s in {:.1} s ({:.0}% of one core) |",
            cpu,
            took.as_secs_f64(),
            100.0 * cpu / took.as_secs_f64()
        );
        println!("| resident size before / after | {rss_before} / {rss_after} KiB |");
        println!(
            "| start lateness of a task every 100 ms, p50 / p99: quiet / during the run | {:.1} / {:.1} ms, {:.1} / {:.1} ms ({} and {} runs) |",
            pct(&quiet, 50),
            pct(&quiet, 99),
            pct(&busy, 50),
            pct(&busy, 99),
            quiet.len(),
            busy.len()
        );
        for v in viewers {
            v.abort();
        }
        s.shutdown(Duration::ZERO).await;
    });
}
