//! Trigger previews, bounded: a preview of a cron expression can take a long search (one that
//! never fires is searched for four centuries), so at most a few run at once, off the async
//! threads (the seam's implementation runs them on the blocking pool), and each user (or
//! client) has at most [`PER_USER`] going. Past either bound the answer is 429.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Previews one user (or client) may have going at once.
pub(crate) const PER_USER: usize = 2;

/// How long a preview waits for one of the places before it is refused.
const WAIT: Duration = Duration::from_secs(2);

/// The places for previews, and who holds them.
#[derive(Debug)]
pub(crate) struct Previews {
    slots: Arc<Semaphore>,
    going: Mutex<HashMap<String, usize>>,
}

/// One user's count of previews going, lowered when dropped.
#[derive(Debug)]
pub(crate) struct Going {
    previews: Arc<Previews>,
    who: String,
}

/// A place for one preview: held until the preview's work has ended (not merely until its
/// request has: a client that hangs up must not free a place its search still uses).
#[derive(Debug)]
pub(crate) struct Place {
    _permit: OwnedSemaphorePermit,
    _going: Going,
}

impl Drop for Going {
    fn drop(&mut self) {
        let mut going = self
            .previews
            .going
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = going.get_mut(&self.who) {
            *n -= 1;
            if *n == 0 {
                going.remove(&self.who);
            }
        }
    }
}

/// Why a preview was not made.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This user already has [`PER_USER`] going.
    Yours,
    /// Every place stayed taken for [`WAIT`].
    Busy,
}

impl Previews {
    /// `at_once` previews at most run at the same time (at least one).
    pub(crate) fn new(at_once: usize) -> Previews {
        Previews {
            slots: Arc::new(Semaphore::new(at_once.max(1))),
            going: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a place for `who`; the preview runs while the returned guard lives.
    pub(crate) async fn enter(self: &Arc<Self>, who: &str) -> Result<Place, Refused> {
        {
            let mut going = self.going.lock().unwrap_or_else(|p| p.into_inner());
            let n = going.entry(who.to_string()).or_insert(0);
            if *n >= PER_USER {
                return Err(Refused::Yours);
            }
            *n += 1;
        }
        let mine = Going {
            previews: self.clone(),
            who: who.to_string(),
        };
        match tokio::time::timeout(WAIT, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Place {
                _permit: permit,
                _going: mine,
            }),
            _ => Err(Refused::Busy),
        }
    }
}

impl Refused {
    /// What the refusal says to the user.
    pub(crate) fn message(&self) -> &'static str {
        match self {
            Refused::Yours => "You have previews still being worked out; wait for them.",
            Refused::Busy => "Previews are busy; try again in a moment.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_per_user_and_in_all() {
        let p = Arc::new(Previews::new(2));
        let a1 = p.enter("a").await.expect("a first place");
        let _a2 = p.enter("a").await.expect("a second place");
        assert_eq!(
            p.enter("a").await.err(),
            Some(Refused::Yours),
            "two going already"
        );
        // Both places are taken: b waits, then is refused as busy, and its count is lowered.
        assert_eq!(p.enter("b").await.err(), Some(Refused::Busy));
        assert!(p.going.lock().unwrap().get("b").is_none());
        drop(a1);
        let _b = p.enter("b").await.expect("a place came free");
        assert_eq!(p.going.lock().unwrap().get("a"), Some(&1));
    }
}
