//! Logins and the throwaway users of `serve --auto-users` (on in `liteimap dev`): an unknown
//! user is created on its first LOGIN/AUTHENTICATE (IMAP) or AUTH (SMTP) with the password it
//! gave, and by mail to it over SMTP (then without a password: its first login sets one).
//! Users created this way get a cheap hash (`password::hash_cheap`): test accounts, not real
//! ones. Runtime-free: these run on the database workers.

use crate::cli::valid_user_name;
use crate::password;
use crate::store::{Store, StoreError, UserId, UserRow};

/// How a login is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Existing users only, each with its own password (an unknown user costs the same time
    /// as a wrong password).
    Existing,
    /// As `Existing`, but an unknown (valid) name is created with the password given, and a
    /// user without a password yet gets this one.
    Create,
    /// As `Create`, and an existing user's password is not checked (SMTP AUTH in dev mode:
    /// test mailers send with whatever credentials they were given).
    CreateAnyPassword,
}

/// The user `name` logs in as with `pass`, or None when refused.
pub fn login(
    store: &Store,
    name: &str,
    pass: &[u8],
    policy: Policy,
) -> crate::store::Result<Option<UserRow>> {
    if policy == Policy::Existing {
        let row = store.find_user(name)?;
        let hash = row
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| password::dummy_hash().to_string());
        let ok = password::verify(pass, &hash);
        return Ok(row.filter(|_| ok));
    }
    // Twice at most: a concurrent first login may create the same user between our look and
    // our insert.
    for _ in 0..2 {
        match store.find_user(name)? {
            Some(row) if row.password_hash == password::UNSET => {
                if pass.is_empty() {
                    return Ok(None);
                }
                let Some(hash) = cheap_hash(pass) else {
                    return Ok(None);
                };
                store.set_password(name, &hash)?;
                log::info!("user {name} had no password yet: set by its first login");
                return Ok(Some(UserRow {
                    password_hash: hash,
                    ..row
                }));
            }
            Some(row) if policy == Policy::CreateAnyPassword => return Ok(Some(row)),
            Some(row) => {
                let ok = password::verify(pass, &row.password_hash);
                return Ok(ok.then_some(row));
            }
            None => {
                if valid_user_name(name).is_err() || pass.is_empty() {
                    return Ok(None);
                }
                let Some(hash) = cheap_hash(pass) else {
                    return Ok(None);
                };
                match store.create_user(name, &hash) {
                    Ok(id) => {
                        log::info!("created user {name} at its first login (--auto-users)");
                        return Ok(Some(UserRow {
                            id,
                            name: name.to_string(),
                            password_hash: hash,
                        }));
                    }
                    Err(StoreError::AlreadyExists(_)) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(None)
}

/// Create `name` for mail to it, without a password (its first login sets one). Returns its
/// id, or None for a name that cannot be a user; an existing user is returned as it is.
pub fn create_recipient(store: &Store, name: &str) -> crate::store::Result<Option<UserId>> {
    if valid_user_name(name).is_err() {
        return Ok(None);
    }
    match store.create_user(name, password::UNSET) {
        Ok(id) => {
            log::info!("created user {name} for mail to it (--auto-users)");
            Ok(Some(id))
        }
        Err(StoreError::AlreadyExists(_)) => Ok(store.find_user(name)?.map(|u| u.id)),
        Err(e) => Err(e),
    }
}

fn cheap_hash(pass: &[u8]) -> Option<String> {
    password::hash_cheap(pass)
        .map_err(|e| log::warn!("{e}"))
        .ok()
}

/// Split a SASL PLAIN response (RFC 4616) into (authzid, authcid, password), for IMAP
/// AUTHENTICATE and SMTP AUTH.
pub fn parse_plain(data: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let mut parts = data.split(|b| *b == 0);
    let authz = parts.next()?.to_vec();
    let user = parts.next()?.to_vec();
    let pass = parts.next()?.to_vec();
    if parts.next().is_some() || user.is_empty() {
        return None;
    }
    Some((authz, user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (std::path::PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!("liteimap-autousers-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = Store::open(&dir.join("t.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn policies() {
        let (dir, s) = store();
        // Existing: nobody is created.
        assert!(login(&s, "ann", b"pw", Policy::Existing).unwrap().is_none());
        assert!(s.find_user("ann").unwrap().is_none());
        // Create: the first login makes the user with its password; then it is needed.
        let ann = login(&s, "ann", b"pw", Policy::Create).unwrap().unwrap();
        assert_eq!(ann.name, "ann");
        assert!(login(&s, "ann", b"other", Policy::Create)
            .unwrap()
            .is_none());
        assert!(login(&s, "ann", b"pw", Policy::Existing).unwrap().is_some());
        // Any password for a known user only with CreateAnyPassword.
        assert!(login(&s, "ann", b"other", Policy::CreateAnyPassword)
            .unwrap()
            .is_some());
        // Invalid names and empty passwords are refused, not created.
        assert!(login(&s, "a b", b"pw", Policy::Create).unwrap().is_none());
        assert!(login(&s, "bo", b"", Policy::Create).unwrap().is_none());
        assert!(s.find_user("bo").unwrap().is_none());
        // A recipient has no password until its first login sets one.
        let id = create_recipient(&s, "carl").unwrap().unwrap();
        assert_eq!(create_recipient(&s, "carl").unwrap(), Some(id));
        assert_eq!(create_recipient(&s, "c d").unwrap(), None);
        assert!(login(&s, "carl", b"x", Policy::Existing).unwrap().is_none());
        assert_eq!(
            login(&s, "carl", b"x", Policy::Create).unwrap().unwrap().id,
            id
        );
        assert!(login(&s, "carl", b"y", Policy::Create).unwrap().is_none());
        assert!(login(&s, "carl", b"x", Policy::Existing).unwrap().is_some());
        drop(s);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn plain() {
        assert_eq!(
            parse_plain(b"\0u\0p"),
            Some((vec![], b"u".to_vec(), b"p".to_vec()))
        );
        assert_eq!(
            parse_plain(b"a\0u\0p"),
            Some((b"a".to_vec(), b"u".to_vec(), b"p".to_vec()))
        );
        assert_eq!(parse_plain(b"u\0p"), None);
        assert_eq!(parse_plain(b"\0\0p"), None);
        assert_eq!(parse_plain(b"\0u\0p\0x"), None);
    }
}
