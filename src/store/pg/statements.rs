//! Prepared statements kept per pooled connection. A statement given as text is prepared
//! (Parse/Describe, one round trip) and then run (Bind/Execute, a second one) on every call;
//! a `Statement` prepared once on a connection runs in one round trip from then on. Each
//! pooled connection has its own [`Statements`]; while a call runs on a connection, its cache
//! is this thread's (`PgStore::run` installs it with [`Installed`]), and the `*_c` methods of
//! [`Cached`] look the SQL text up there, preparing it on a miss. Without an installed cache
//! (the migration, the listener) they prepare as before.

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};

/// The most statements one connection keeps: the SQL the store builds per call (UID lists,
/// search conditions) must not grow the cache without bound; past it the cache starts over.
const MAX: usize = 512;

/// One connection's prepared statements, by SQL text.
#[derive(Default)]
pub(crate) struct Statements(HashMap<String, Statement>);

thread_local! {
    static CURRENT: RefCell<Option<Statements>> = const { RefCell::new(None) };
    /// Statements this thread has prepared (see [`prepared_on_this_thread`]).
    static PREPARED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many statements the store calls made on this thread have prepared (a store call runs
/// on its caller's thread): for tests that the cache is used.
#[doc(hidden)]
pub fn prepared_on_this_thread() -> u64 {
    PREPARED.with(|p| p.get())
}

/// A connection's cache made this thread's for as long as this lives; given back on drop.
pub(crate) struct Installed<'a> {
    home: &'a mut Statements,
}

impl<'a> Installed<'a> {
    pub(crate) fn new(home: &'a mut Statements) -> Installed<'a> {
        let cache = std::mem::take(home);
        CURRENT.with(|c| *c.borrow_mut() = Some(cache));
        Installed { home }
    }
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        if let Some(cache) = CURRENT.with(|c| c.borrow_mut().take()) {
            *self.home = cache;
        }
    }
}

/// The statement for `sql` on this connection: the cached one, or prepared now (and kept).
fn statement(t: &mut Transaction<'_>, sql: &str) -> Result<Statement, postgres::Error> {
    if let Some(s) = CURRENT.with(|c| c.borrow().as_ref().and_then(|m| m.0.get(sql).cloned())) {
        return Ok(s);
    }
    let s = t.prepare(sql)?;
    PREPARED.with(|p| p.set(p.get() + 1));
    CURRENT.with(|c| {
        if let Some(m) = c.borrow_mut().as_mut() {
            if m.0.len() >= MAX {
                m.0.clear();
            }
            m.0.insert(sql.to_owned(), s.clone());
        }
    });
    Ok(s)
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// `query`, `query_one`, `query_opt` and `execute` through the connection's prepared
/// statements.
pub(crate) trait Cached {
    fn query_c(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error>;
    fn query_one_c(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error>;
    fn query_opt_c(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, postgres::Error>;
    fn execute_c(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error>;
}

impl Cached for Transaction<'_> {
    fn query_c(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error> {
        let s = statement(self, sql)?;
        self.query(&s, params)
    }

    fn query_one_c(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        let s = statement(self, sql)?;
        self.query_one(&s, params)
    }

    fn query_opt_c(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, postgres::Error> {
        let s = statement(self, sql)?;
        self.query_opt(&s, params)
    }

    fn execute_c(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let s = statement(self, sql)?;
        self.execute(&s, params)
    }
}
