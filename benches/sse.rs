//! Live-update fan-out: 1,000 clients on `/events` over loopback, 50 scheduler events; prints
//! the p50/p99/max delay from the change to each client reading it. One more client connects
//! and never reads; the process's resident size is printed before and after 5,000 further
//! events, to show a stalled reader costs a bounded amount.
//!
//! `cargo bench -p taskdeck-benches --bench sse` (needs about 2,100 file descriptors)
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use taskdeck::{Dashboard, Scheduler, Task, TaskContext};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

#[path = "support/sse.rs"]
mod stream;
use stream::{connect, rss_kib};

const CLIENTS: usize = 1000;
const EVENTS: usize = 50;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = Scheduler::builder().build().expect("scheduler");
        s.register("job", |_ctx: TaskContext| async { Ok(()) });
        s.add(Task::new("flip", "job").every(Duration::from_secs(3600)))
            .await
            .expect("add");
        let d = Dashboard::builder(s.clone())
            // A thousand clients, all from 127.0.0.1.
            .max_connections_per_client(4096)
            .max_connections(4096)
            .build()
            .expect("dashboard");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(d.serve_listener(listener, std::future::pending()));

        // Each client counts the events it reads and reports when it has them all.
        let (done_tx, mut done_rx) = mpsc::channel::<Vec<Instant>>(CLIENTS);
        for _ in 0..CLIENTS {
            let mut stream = connect(addr).await;
            let done = done_tx.clone();
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(EVENTS);
                let mut buf = vec![0u8; 16 * 1024];
                while times.len() < EVENTS {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let now = Instant::now();
                    let count = buf[..n].windows(7).filter(|w| w == b"event: ").count();
                    times.extend(std::iter::repeat_n(now, count));
                }
                let _ = done.send(times).await;
            });
        }
        let stalled = connect(addr).await;
        let mut sent = Vec::with_capacity(EVENTS);
        for i in 0..EVENTS {
            sent.push(Instant::now());
            if i % 2 == 0 {
                s.pause("flip").await.expect("pause");
            } else {
                s.resume("flip").await.expect("resume");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut delays: Vec<f64> = Vec::with_capacity(CLIENTS * EVENTS);
        for _ in 0..CLIENTS {
            let times = tokio::time::timeout(Duration::from_secs(30), done_rx.recv())
                .await
                .expect("clients finish")
                .expect("times");
            assert_eq!(times.len(), EVENTS, "every client gets every event");
            delays.extend(times.iter().zip(&sent).map(|(got, at)| got.duration_since(*at).as_secs_f64() * 1000.0));
        }
        delays.sort_by(f64::total_cmp);
        let pick = |p: usize| delays[(p * delays.len()).div_ceil(100).max(1) - 1];
        println!(
            "{CLIENTS} clients x {EVENTS} events: delivery delay p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            pick(50),
            pick(99),
            delays[delays.len() - 1]
        );
        let before = rss_kib();
        for i in 0..5000 {
            if i % 2 == 0 {
                s.pause("flip").await.expect("pause");
            } else {
                s.resume("flip").await.expect("resume");
            }
            if i % 500 == 0 {
                tokio::task::yield_now().await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = rss_kib();
        println!("with one client that never reads: RSS {before} KiB before and {after} KiB after 5,000 more events");
        drop(stalled);
    });
}
