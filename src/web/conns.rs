//! The connections [`crate::Dashboard::serve`] holds open, bounded so that one client cannot
//! hold them all: at most so many per client address (an IPv6 client by its /64; a trusted
//! proxy's connections are not bounded per address, as they carry many clients), connections
//! with no request going are closed after an idle time (HTTP/1 keep-alive and HTTP/2 alike),
//! and at the cap the connection idle the longest is closed to make room for a new one. Only
//! when every connection is busy is a new one refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// One open connection, as the accept loop and its requests see it.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Requests going on it (a response counts until its body is sent).
    busy: AtomicUsize,
    /// When it last finished a request (or opened), in milliseconds since the registry began.
    last_ms: AtomicU64,
    /// When a request last began or its response last sent a frame, in milliseconds since
    /// the registry began: a request going whose response makes no progress for the idle
    /// time (a client that stopped reading, or an HTTP/2 window held at zero) counts as idle.
    progress_ms: AtomicU64,
    /// The idle time.
    idle: Duration,
    /// Asked to close (for a new client at the cap, idle, or shutting down).
    closing: AtomicBool,
    close: Notify,
    born: Instant,
}

impl Conn {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts a request going until the returned guard is dropped (when its response body
    /// has been sent, or given up).
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.progressed();
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// A response on this connection sent a frame.
    pub(crate) fn progressed(&self) {
        self.progress_ms.store(self.now_ms(), Ordering::Release);
    }

    /// Idle since how long, or `None` while a request is going and making progress. A
    /// request whose response has not progressed for the idle time counts as idle since
    /// then, so that it can be closed and evicted like an idle connection.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        let now = self.now_ms();
        if self.busy.load(Ordering::Acquire) == 0 {
            return Some(Duration::from_millis(
                now.saturating_sub(self.last_ms.load(Ordering::Acquire)),
            ));
        }
        let stalled =
            Duration::from_millis(now.saturating_sub(self.progress_ms.load(Ordering::Acquire)));
        (stalled >= self.idle).then(|| stalled - self.idle)
    }

    /// Resolves when the connection is asked to close.
    pub(crate) async fn closed(&self) {
        loop {
            let asked = self.close.notified();
            tokio::pin!(asked);
            asked.as_mut().enable();
            if self.closing.load(Ordering::Acquire) {
                return;
            }
            asked.await;
        }
    }

    fn ask_to_close(&self) {
        self.closing.store(true, Ordering::Release);
        self.close.notify_waiters();
    }
}

/// A request going on a connection.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Conn>);

impl Busy {
    /// Its response sent a frame.
    pub(crate) fn progressed(&self) {
        self.0.progressed();
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.last_ms.store(self.0.now_ms(), Ordering::Release);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a connection was not taken.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its client holds the most it may.
    PerClient,
    /// Every place is taken by a connection with a request going.
    AllBusy,
}

/// The open connections.
#[derive(Debug)]
pub(crate) struct Conns {
    state: Mutex<State>,
    max: usize,
    per_client: usize,
    idle: Duration,
    born: Instant,
    /// Notified when the last connection closes.
    drained: Notify,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    open: HashMap<u64, (Option<IpAddr>, Arc<Conn>)>,
    by_client: HashMap<IpAddr, usize>,
}

/// A connection's place, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    conns: Arc<Conns>,
    id: u64,
    pub(crate) conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.conns.lock();
        if let Some((Some(client), _)) = st.open.remove(&self.id) {
            if let Some(n) = st.by_client.get_mut(&client) {
                *n -= 1;
                if *n == 0 {
                    st.by_client.remove(&client);
                }
            }
        }
        if st.open.is_empty() {
            self.conns.drained.notify_waiters();
        }
    }
}

impl Conns {
    pub(crate) fn new(max: usize, per_client: usize, idle: Duration) -> Conns {
        Conns {
            state: Mutex::new(State::default()),
            max: max.max(1),
            per_client: per_client.max(1),
            idle,
            born: Instant::now(),
            drained: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a new connection of `client` (`None`: not bounded per client, a
    /// trusted proxy). At the cap, the connection idle the longest is asked to close.
    pub(crate) fn admit(self: &Arc<Self>, client: Option<IpAddr>) -> Result<Slot, Refused> {
        let mut st = self.lock();
        if let Some(c) = client {
            if st.by_client.get(&c).copied().unwrap_or(0) >= self.per_client {
                return Err(Refused::PerClient);
            }
        }
        let open_not_closing = st
            .open
            .values()
            .filter(|(_, c)| !c.closing.load(Ordering::Acquire))
            .count();
        if open_not_closing >= self.max {
            let idlest = st
                .open
                .values()
                .filter(|(_, c)| !c.closing.load(Ordering::Acquire))
                .filter_map(|(_, c)| c.idle_for().map(|idle| (idle, c)))
                .max_by_key(|(idle, _)| *idle);
            match idlest {
                Some((_, c)) => c.ask_to_close(),
                None => return Err(Refused::AllBusy),
            }
        }
        let id = st.next;
        st.next += 1;
        let now_ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(0);
        let conn = Arc::new(Conn {
            busy: AtomicUsize::new(0),
            last_ms: AtomicU64::new(now_ms),
            progress_ms: AtomicU64::new(now_ms),
            idle: self.idle,
            closing: AtomicBool::new(false),
            close: Notify::new(),
            born: self.born,
        });
        st.open.insert(id, (client, conn.clone()));
        if let Some(c) = client {
            *st.by_client.entry(c).or_insert(0) += 1;
        }
        Ok(Slot {
            conns: self.clone(),
            id,
            conn,
        })
    }

    /// Asks every connection to close (shutting down) and waits, at most `within`, until
    /// all have. False when some were still open.
    pub(crate) async fn close_all(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let st = self.lock();
                if st.open.is_empty() {
                    return true;
                }
                for (_, c) in st.open.values() {
                    c.ask_to_close();
                }
            }
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                return self.lock().open.is_empty();
            }
        }
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn bounded_per_client_and_the_idlest_makes_room() {
        let conns = Arc::new(Conns::new(3, 2, Duration::from_secs(60)));
        let a = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let b = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        let a1 = conns.admit(a).unwrap();
        let a2 = conns.admit(a).unwrap();
        assert_eq!(conns.admit(a).unwrap_err(), Refused::PerClient);
        // b1 fills the cap; a2 is busy, a1 idle: b2 asks a1 to close.
        let _going = a2.conn.begin();
        let b1 = conns.admit(b).unwrap();
        let _b1_going = b1.conn.begin();
        let _b2 = conns.admit(b).unwrap();
        assert!(
            a1.conn.closing.load(Ordering::Acquire),
            "the idle one makes room"
        );
        assert!(!a2.conn.closing.load(Ordering::Acquire));
        // Everyone left is busy: a new client is refused.
        let c = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)));
        let _b2_going = _b2.conn.begin();
        assert_eq!(conns.admit(c).unwrap_err(), Refused::AllBusy);
        drop(a1);
        assert_eq!(conns.open(), 3);
        // A trusted proxy's connections are not bounded per address.
        drop((a2, _going));
        let _p1 = conns.admit(None).unwrap();
        assert_eq!(conns.open(), 3);
    }
}
