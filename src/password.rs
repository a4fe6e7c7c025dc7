//! Password hashing (argon2id PHC strings) and generation of the demo user's password.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;

/// Hash a password for storage.
pub fn hash(password: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Hash a password cheaply (argon2id with 64 KiB and one pass, about a thousandth of the
/// default's cost): for the throwaway users of `--auto-users` / `liteimap dev`, so that a test
/// suite logging in thousands of times stays fast. Checking it is as cheap, since `verify`
/// reads the parameters from the hash. Never for real accounts.
pub fn hash_cheap(password: &[u8]) -> Result<String, String> {
    let params =
        argon2::Params::new(64, 1, 1, None).map_err(|e| format!("cannot hash password: {e}"))?;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// The stored hash of a user that has no password yet (made by mail to it under
/// `--auto-users`): no password matches it; with `--auto-users` the first login sets one.
pub const UNSET: &str = "";

/// Check a password against a stored hash. A malformed hash never matches.
///
/// Each check takes argon2's memory (19 MiB) and a core for a few milliseconds. The checks run
/// on a fixed pool of one worker thread per CPU: a thousand clients logging in at once queue
/// there instead of allocating 19 GiB, and since allocators keep freed blocks per thread, at
/// most one block per worker stays resident afterwards.
pub fn verify(password: &[u8], stored: &str) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    let job: Job = (password.to_vec(), stored.to_string(), tx);
    let sent = pool()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send(job)
        .is_ok();
    sent && rx.recv().unwrap_or(false)
}

type Job = (Vec<u8>, String, std::sync::mpsc::Sender<bool>);

/// Verify on a worker, computing argon2 in `memory` (kept by the worker and reused: a fresh
/// 19 MiB allocation per login leaves allocators holding far more than one block).
fn check(password: &[u8], stored: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        argon2::Algorithm::try_from(hash.algorithm),
        argon2::Params::try_from(&hash),
    ) else {
        return false;
    };
    let version = hash
        .version
        .map(argon2::Version::try_from)
        .transpose()
        .ok()
        .flatten()
        .unwrap_or_default();
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    // Refuse absurd parameters from a tampered database rather than allocate for them.
    if params.block_count() > 1 << 20 {
        return false;
    }
    memory.resize(params.block_count(), argon2::Block::default());
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params);
    if argon
        .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..])
        .is_err()
    {
        return false;
    }
    // Constant time: every byte is compared whatever the first difference.
    out.iter()
        .zip(expected.as_bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// The queue of the password workers, started on first use.
fn pool() -> &'static std::sync::Mutex<std::sync::mpsc::Sender<Job>> {
    use std::sync::{Arc, Mutex, OnceLock};
    static POOL: OnceLock<Mutex<std::sync::mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..workers {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let job = rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok((password, stored, reply)) = job else {
                            return;
                        };
                        let _ = reply.send(check(&password, &stored, &mut memory));
                    }
                });
        }
        Mutex::new(tx)
    })
}

/// A hash that no password matches, verified against when the user does not exist so that an
/// unknown user and a wrong password cost the same time.
pub fn dummy_hash() -> &'static str {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash(b"liteimap-no-such-user").unwrap_or_default())
}

/// A random password of 16 characters from an alphabet without look-alikes.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash(b"secret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(b"secret", &h));
        assert!(!verify(b"Secret", &h));
        assert!(!verify(b"secret", "not a hash"));
        assert!(!verify(b"liteimap-no-such-user", ""));
        assert!(!verify(b"", UNSET));
        let cheap = hash_cheap(b"secret").unwrap();
        assert!(cheap.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{cheap}");
        assert!(verify(b"secret", &cheap));
        assert!(!verify(b"Secret", &cheap));
    }

    #[test]
    fn generated_passwords_differ() {
        let a = generate();
        assert_eq!(a.len(), 16);
        assert_ne!(a, generate());
    }
}
