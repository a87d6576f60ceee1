//! What the live-update benches share: the process's resident size, and an `/events`
//! stream opened and read up to its first comment.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

pub(crate) async fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /events HTTP/1.1\r\nHost: bench\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    loop {
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0, "stream closed before it opened");
        seen.extend_from_slice(&buf[..n]);
        if seen.windows(11).any(|w| w == b": connected") {
            return s;
        }
    }
}
