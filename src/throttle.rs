//! Password guessing: failed logins counted per client address and per target user name,
//! across connections, and an address's attempts taken one at a time.
//!
//! - While an address has recent failures, every LOGIN / AUTHENTICATE from it waits for the
//!   previous one from that address to be answered: a hundred connections guessing in
//!   parallel guess one after another from their first failure on. An address without
//!   recent failures logs in in parallel (a webmail on 127.0.0.1, an office behind one NAT
//!   address), so good logins do not queue behind each other.
//! - A failure is answered after `base × 2^(n-1)` (n capped at 5, so at most 16 × `base`),
//!   where n is the largest of the address's, the target name's (this one included) and the
//!   connection's failures; the address's next attempt waits for that answer. Recent = within
//!   [`FAILURE_MEMORY`] of the last failure.
//! - A success clears nothing: logging into one's own account neither resets the address's
//!   count nor anyone else's. Counts fade [`FAILURE_MEMORY`] after their last failure.
//! - The name is counted whether or not such a user exists, so an unknown user and a wrong
//!   password cost and answer the same. Nobody is locked out: a user's right password is
//!   answered as soon as its address's turn comes, whatever the name's count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long failed logins count.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

/// Entries kept per table before old ones are dropped.
const MAX_ENTRIES: usize = 10_000;

/// One address: its turn (held from the start of an attempt until its answer) and its count.
pub struct Address {
    turn: async_std::sync::Mutex<()>,
    in_flight: AtomicUsize,
    /// When a login from this address last failed: attempts take turns while that is recent.
    last_failure: Mutex<Option<Instant>>,
}

impl Address {
    fn failing(&self) -> bool {
        lock(&self.last_failure).is_some_and(|t| t.elapsed() < FAILURE_MEMORY)
    }
}

#[derive(Clone, Copy)]
struct Count {
    failures: u32,
    last: Instant,
}

impl Count {
    fn recent(&self) -> u32 {
        if self.last.elapsed() < FAILURE_MEMORY {
            self.failures
        } else {
            0
        }
    }
}

pub struct LoginThrottle {
    /// `base` in nanoseconds (SIGHUP may change it).
    base: AtomicU64,
    addresses: Mutex<HashMap<IpAddr, (Arc<Address>, Count)>>,
    users: Mutex<HashMap<String, Count>>,
    /// The most attempts ever seen in flight at once from one address (1 when the turns
    /// work), for tests and logs.
    max_in_flight: AtomicUsize,
}

/// An attempt's turn: while it lives, no other attempt from a failing address runs.
pub struct Turn<'a> {
    address: Option<&'a Address>,
    _guard: Option<async_std::sync::MutexGuard<'a, ()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Some(a) = self.address {
            a.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Keep a table small: drop faded entries, then (a flood of names) all but the newest half.
fn prune<K: Clone + std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    last: impl Fn(&V) -> Instant,
) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    map.retain(|_, v| last(v).elapsed() < FAILURE_MEMORY);
    if map.len() >= MAX_ENTRIES {
        let mut times: Vec<Instant> = map.values().map(&last).collect();
        times.sort_unstable();
        let cut = times[times.len() / 2];
        map.retain(|_, v| last(v) > cut);
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The key a target name is counted under.
fn user_key(name: &str) -> String {
    name.chars().take(256).collect::<String>().to_lowercase()
}

impl LoginThrottle {
    pub fn new(base: Duration) -> Self {
        LoginThrottle {
            base: AtomicU64::new(duration_nanos(base)),
            addresses: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    /// The address's record (created on first use).
    pub fn address(&self, ip: IpAddr) -> Arc<Address> {
        let mut a = lock(&self.addresses);
        prune(&mut a, |(addr, c)| {
            // An address with an attempt under way is never dropped.
            if Arc::strong_count(addr) > 1 {
                Instant::now()
            } else {
                c.last
            }
        });
        a.entry(ip)
            .or_insert_with(|| {
                (
                    Arc::new(Address {
                        turn: async_std::sync::Mutex::new(()),
                        in_flight: AtomicUsize::new(0),
                        last_failure: Mutex::new(None),
                    }),
                    Count {
                        failures: 0,
                        last: Instant::now(),
                    },
                )
            })
            .0
            .clone()
    }

    /// Wait for the address's turn while it has recent failures; at once otherwise (and for a
    /// connection without an address: stdio).
    pub async fn turn<'a>(&self, address: Option<&'a Address>) -> Turn<'a> {
        let Some(a) = address else {
            return Turn {
                address: None,
                _guard: None,
            };
        };
        let guard = if a.failing() {
            Some(a.turn.lock().await)
        } else {
            None
        };
        let now = a.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Turn {
            address: Some(a),
            _guard: guard,
        }
    }

    /// Count a failed login for `user` from `ip`; returns the address's and the name's
    /// recent failures, this one included.
    pub fn failure(&self, ip: Option<IpAddr>, user: &str) -> (u32, u32) {
        let now = Instant::now();
        let bump = |c: &mut Count| {
            c.failures = c.recent().saturating_add(1);
            c.last = now;
            c.failures
        };
        let from_ip = match ip {
            Some(ip) => {
                let mut a = lock(&self.addresses);
                match a.get_mut(&ip) {
                    Some((addr, c)) => {
                        *lock(&addr.last_failure) = Some(now);
                        bump(c)
                    }
                    None => 0,
                }
            }
            None => 0,
        };
        let for_user = {
            let mut u = lock(&self.users);
            prune(&mut u, |c| c.last);
            let c = u.entry(user_key(user)).or_insert(Count {
                failures: 0,
                last: now,
            });
            bump(c)
        };
        (from_ip, for_user)
    }

    /// A new `base` (SIGHUP's `auth-failure-delay-ms`), for the failures answered from now on.
    pub fn set_base(&self, base: Duration) {
        self.base.store(duration_nanos(base), Ordering::Relaxed);
    }

    /// The wait before answering a failed login, for the largest of its counts: doubling
    /// from `base` with each failure, at most 16 × `base`.
    pub fn delay(&self, failures: u32) -> Duration {
        Duration::from_nanos(self.base.load(Ordering::Relaxed))
            * (1u32 << (failures.clamp(1, 5) - 1))
    }

    /// Recent failed logins from `ip`.
    pub fn address_failures(&self, ip: IpAddr) -> u32 {
        lock(&self.addresses)
            .get(&ip)
            .map_or(0, |(_, c)| c.recent())
    }

    /// Recent failed logins for the name `user` (from any address).
    pub fn user_failures(&self, user: &str) -> u32 {
        lock(&self.users)
            .get(&user_key(user))
            .map_or(0, Count::recent)
    }

    /// The most attempts that ran at once from one address.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_per_name_and_the_delay_doubles() {
        let t = LoginThrottle::new(Duration::from_millis(10));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let _ = (t.address(a), t.address(b));
        assert_eq!(t.failure(Some(a), "Alice"), (1, 1));
        assert_eq!(t.failure(Some(a), "bob"), (2, 1));
        // Another address guessing alice: counted for the name across addresses.
        assert_eq!(t.failure(Some(b), "ALICE"), (1, 2));
        for _ in 0..10 {
            t.failure(Some(a), "x");
        }
        assert_eq!(t.failure(Some(a), "y"), (13, 1));
        assert_eq!(t.delay(1), Duration::from_millis(10));
        assert_eq!(t.delay(2), Duration::from_millis(20));
        assert_eq!(t.delay(13), Duration::from_millis(160));
        assert_eq!(t.address_failures(a), 13);
        assert_eq!(t.user_failures("alice"), 2);
        assert_eq!(t.user_failures("nobody"), 0);
    }

    #[test]
    fn attempts_from_one_address_take_turns() {
        let t = Arc::new(LoginThrottle::new(Duration::ZERO));
        let ip: IpAddr = [10, 0, 0, 1].into();
        let _ = t.address(ip);
        // The address's first failure: from now on its attempts take turns.
        t.failure(Some(ip), "alice");
        async_std::task::block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..20 {
                let t = t.clone();
                tasks.push(async_std::task::spawn(async move {
                    let a = t.address(ip);
                    let _turn = t.turn(Some(&a)).await;
                    async_std::task::yield_now().await;
                    t.failure(Some(ip), "alice");
                }));
            }
            for task in tasks {
                task.await;
            }
        });
        assert_eq!(t.max_in_flight(), 1);
        assert_eq!(t.address_failures(ip), 21);
    }

    /// Without recent failures an address's attempts do not wait for each other; after one
    /// failure the second waits while the first holds its turn.
    #[test]
    fn only_a_failing_address_takes_turns() {
        let t = LoginThrottle::new(Duration::ZERO);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let a = t.address(ip);
        // A turn that is not free stays pending however long it is given; 50 ms is plenty
        // for one that is free, which completes at the first poll.
        let second = |t: &LoginThrottle| {
            async_std::task::block_on(async_std::future::timeout(
                Duration::from_millis(50),
                t.turn(Some(&a)),
            ))
            .is_ok()
        };
        let first = async_std::task::block_on(t.turn(Some(&a)));
        assert!(second(&t), "a good address waited for its own other login");
        drop(first);
        t.failure(Some(ip), "alice");
        let first = async_std::task::block_on(t.turn(Some(&a)));
        assert!(!second(&t), "a failing address ran two attempts at once");
        drop(first);
        assert!(second(&t));
    }
}
