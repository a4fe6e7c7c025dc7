//! Connections that have not logged in yet: their own share of `--max-connections`, and who
//! makes room when it is full.
//!
//! A new connection is never refused because strangers hold the share: when the share (or the
//! whole connection limit) is full, the oldest waiting connection of the address that has the
//! most waiting connections is closed (`* BYE`) to make room, as Dovecot's login processes close
//! their oldest client when full. Someone holding hundreds of idle connections from a few
//! addresses thus closes their own, while a user connecting from an address of their own is
//! the last to be chosen, and has logged in long before. When the share is nearly full, the
//! time to log in shrinks as well.
//!
//! Refusals and closings are counted and logged as one summary line per interval, not one
//! line per connection (a flood of clients must not become a flood of log lines).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_std::channel::{Receiver, Sender};

/// How often the counted refusals are logged.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(60);

/// When the share is this full (per mille), the login deadline is at most [`BUSY_LOGIN_TIMEOUT`].
const BUSY_PER_MILLE: usize = 750;

/// The login deadline while the share is nearly full.
pub const BUSY_LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Waiting {
    next_id: u64,
    count: usize,
    /// Per address, oldest first: (id, the sender whose dropping tells the session to close).
    by_ip: HashMap<IpAddr, VecDeque<(u64, Sender<()>)>>,
}

/// The registry of connections that have not logged in.
#[derive(Default)]
pub struct PreLogin {
    waiting: Mutex<Waiting>,
}

/// A connection's place among those waiting to log in; dropped at login (or when the
/// connection ends), which takes it off the registry.
pub struct PreLoginSlot {
    registry: Arc<PreLogin>,
    ip: IpAddr,
    id: u64,
    /// Closes (its sender is dropped) when the connection is chosen to make room.
    pub evicted: Receiver<()>,
}

/// Completes when `signal` closes (the connection was chosen to make room); never without one.
pub async fn made_room(signal: Option<Receiver<()>>) {
    match signal {
        Some(rx) => {
            let _ = rx.recv().await;
        }
        None => std::future::pending().await,
    }
}

impl PreLogin {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections waiting to log in now.
    pub fn count(&self) -> usize {
        self.lock().count
    }

    /// Whether `share` is nearly full (the login deadline shrinks).
    pub fn is_busy(&self, share: usize) -> bool {
        self.count() * 1000 >= share * BUSY_PER_MILLE
    }

    /// Register a new connection from `ip`.
    pub fn register(self: &Arc<Self>, ip: IpAddr) -> PreLoginSlot {
        let (tx, rx) = async_std::channel::bounded(1);
        let mut w = self.lock();
        let id = w.next_id;
        w.next_id += 1;
        w.count += 1;
        w.by_ip.entry(ip).or_default().push_back((id, tx));
        PreLoginSlot {
            registry: self.clone(),
            ip,
            id,
            evicted: rx,
        }
    }

    /// Close the oldest waiting connection of the address with the most waiting ones (the
    /// earliest such address on a tie is not guaranteed). False when none is waiting.
    pub fn evict_one(&self) -> bool {
        let mut w = self.lock();
        let Some(ip) = w
            .by_ip
            .iter()
            .max_by_key(|(_, q)| (q.len(), std::cmp::Reverse(q.front().map_or(0, |e| e.0))))
            .map(|(ip, _)| *ip)
        else {
            return false;
        };
        let Some(q) = w.by_ip.get_mut(&ip) else {
            return false;
        };
        // Dropping the sender wakes the session, which says BYE.
        let gone = q.pop_front();
        if q.is_empty() {
            w.by_ip.remove(&ip);
        }
        if gone.is_some() {
            w.count -= 1;
        }
        gone.is_some()
    }
}

impl Drop for PreLoginSlot {
    fn drop(&mut self) {
        let mut w = self.registry.lock();
        let Some(q) = w.by_ip.get_mut(&self.ip) else {
            return;
        };
        let Some(pos) = q.iter().position(|e| e.0 == self.id) else {
            return; // evicted: already off the registry
        };
        q.remove(pos);
        if q.is_empty() {
            w.by_ip.remove(&self.ip);
        }
        w.count -= 1;
    }
}

/// Why a connection was turned away (or closed to make room).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `--max-connections` reached and nobody waiting to log in to close.
    MaxConnections,
    /// `--max-connections-per-ip` reached.
    PerAddress,
    /// Closed while waiting to log in, to make room for a newer connection.
    Evicted,
}

#[derive(Default)]
struct Counts {
    max_connections: u64,
    per_address: u64,
    evicted: u64,
    /// The kinds already logged since the last summary.
    announced: Vec<Refused>,
}

/// Refusals, counted and logged once per interval.
#[derive(Default)]
pub struct RefusalLog {
    counts: Mutex<Counts>,
}

impl RefusalLog {
    /// Count a refusal. The first of its kind since the last summary is logged at once; the
    /// others go into the next summary.
    pub fn note(&self, why: Refused, limit: usize) {
        crate::metrics::rejected(why);
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        match why {
            Refused::MaxConnections => c.max_connections += 1,
            Refused::PerAddress => c.per_address += 1,
            Refused::Evicted => c.evicted += 1,
        }
        if c.announced.contains(&why) {
            return;
        }
        c.announced.push(why);
        let what = match why {
            Refused::MaxConnections => format!("refusing connections: {limit} already open"),
            Refused::PerAddress => {
                format!("refusing connections: {limit} already open from one address")
            }
            Refused::Evicted => {
                format!("{limit} connections waiting to log in: closing the oldest to make room")
            }
        };
        log::warn!(
            "{what} (further refusals are counted and logged every {} s)",
            SUMMARY_INTERVAL.as_secs()
        );
    }

    /// The summary line of what was counted since the last one (None when nothing was),
    /// and a fresh start.
    pub fn take_summary(&self) -> Option<String> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let total = c.max_connections + c.per_address + c.evicted;
        let counts = std::mem::take(&mut *c);
        if total == 0 {
            return None;
        }
        Some(format!(
            "in the last {} s: refused {} connections over --max-connections and {} over \
             --max-connections-per-ip; closed {} waiting to log in to make room",
            SUMMARY_INTERVAL.as_secs(),
            counts.max_connections,
            counts.per_address,
            counts.evicted
        ))
    }
}

/// Log the summary every interval until `stop` closes.
pub async fn summarise(log: Arc<RefusalLog>, stop: Receiver<()>) {
    let mut last = Instant::now();
    while !stop.is_closed() {
        async_std::task::sleep(Duration::from_millis(500)).await;
        if last.elapsed() >= SUMMARY_INTERVAL {
            last = Instant::now();
            if let Some(line) = log.take_summary() {
                log::warn!("{line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_address_makes_room_oldest_first() {
        let reg = Arc::new(PreLogin::default());
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let a1 = reg.register(a);
        let mine = reg.register(b);
        let a2 = reg.register(a);
        assert_eq!(reg.count(), 3);
        assert!(reg.evict_one());
        // a's oldest went; b's single connection stays.
        assert!(a1.evicted.is_closed());
        assert!(!a2.evicted.is_closed() && !mine.evicted.is_closed());
        assert_eq!(reg.count(), 2);
        // On a tie the oldest goes.
        assert!(reg.evict_one());
        assert!(mine.evicted.is_closed());
        drop(a1);
        drop(mine);
        assert_eq!(reg.count(), 1);
        drop(a2);
        assert_eq!(reg.count(), 0);
        assert!(!reg.evict_one());
        assert!(reg.is_busy(0));
        assert!(!reg.is_busy(4));
    }

    #[test]
    fn refusals_are_summed_up() {
        let log = RefusalLog::default();
        assert_eq!(log.take_summary(), None);
        for _ in 0..3 {
            log.note(Refused::MaxConnections, 20);
        }
        log.note(Refused::Evicted, 10);
        assert_eq!(
            log.take_summary().as_deref(),
            Some(
                "in the last 60 s: refused 3 connections over --max-connections and 0 over \
                 --max-connections-per-ip; closed 1 waiting to log in to make room"
            )
        );
        assert_eq!(log.take_summary(), None);
    }
}
