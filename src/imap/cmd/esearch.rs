//! ESEARCH (RFC 4731), SEARCHRES (RFC 5182) and ESORT (RFC 5267 §3) as the session runs them:
//! `SEARCH RETURN (...)` and `SORT RETURN (...)` answered with `* ESEARCH`, the saved result,
//! and commands on `$`. Parsing and the response encoding live in `ext::search`; the criteria
//! themselves are parsed by imap-codec.

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Tag;

use crate::imap::ext::decode_command as decode;
use crate::imap::ext::search::{self, ExtSearch, ExtSort, SavedRef};
use crate::imap::session::{Done, Session};
use crate::imap::{CmdError, CmdResult};

impl Session {
    fn saved_and_view(&self) -> CmdResult<&crate::imap::state::Selected> {
        self.state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))
    }

    fn set_saved(&mut self, uids: Vec<u32>) {
        if let Some(sel) = self.state.selected_mut() {
            sel.saved_search = uids;
        }
    }

    pub(crate) async fn cmd_ext_search(
        &mut self,
        tag: &Tag<'static>,
        s: ExtSearch,
    ) -> CmdResult<Done> {
        let save = s.ret.is_some_and(|r| r.save);
        let result = self.ext_search(tag, &s).await;
        if save && result.is_err() {
            // A failed SEARCH ... SAVE leaves `$` empty (RFC 5182 §2.1).
            self.set_saved(Vec::new());
        }
        result
    }

    async fn ext_search(&mut self, tag: &Tag<'static>, s: &ExtSearch) -> CmdResult<Done> {
        let sel = self.saved_and_view()?;
        let criteria = search::substitute(&s.criteria, &sel.saved_search, &sel.view, true, s.uid)
            .unwrap_or_default();
        let Some(CommandBody::Search {
            charset, criteria, ..
        }) = decode("SEARCH", &criteria)
        else {
            return Err(CmdError::bad("Could not parse SEARCH criteria"));
        };
        let Some(opts) = s.ret else {
            // A plain SEARCH that used `$`.
            return self.cmd_search(tag, charset, criteria, s.uid).await;
        };
        if opts.update {
            self.check_live_tag(tag)?;
        }
        let (found, crit) = self.search_run(charset, criteria).await?;
        // RFC 7162 §3.1.5: with MIN or MAX alone, the highest modseq of those messages;
        // otherwise of all that matched.
        let modseq = if opts.all || opts.count || !(opts.min || opts.max) {
            found.highest_modseq(0..found.uids.len())
        } else {
            let mut at = Vec::new();
            if opts.min {
                at.push(0);
            }
            if opts.max {
                at.push(found.uids.len().saturating_sub(1));
            }
            found.highest_modseq(at.into_iter())
        };
        let found = found.uids;
        if opts.save {
            self.set_saved(opts.saved_part(&found));
        }
        if opts.answers() {
            let numbers = self.numbers_of(&found, s.uid);
            let line = search::esearch_response(tag.inner(), s.uid, &opts, &numbers, modseq);
            self.conn
                .send_raw(&line)
                .await
                .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
        }
        if opts.update {
            self.keep_live(tag, s.uid, crit, None, found).await?;
        }
        Ok(Done::ok(if s.uid {
            "UID SEARCH completed"
        } else {
            "SEARCH completed"
        }))
    }

    /// ESORT (RFC 5267 §3): `SORT RETURN (...)` answered with `* ESEARCH` in sort order, and
    /// SORT with `$` in its criteria.
    pub(crate) async fn cmd_ext_sort(&mut self, tag: &Tag<'static>, s: ExtSort) -> CmdResult<Done> {
        let save = s.ret.is_some_and(|r| r.save);
        let result = self.ext_sort(tag, &s).await;
        if save && result.is_err() {
            self.set_saved(Vec::new());
        }
        result
    }

    async fn ext_sort(&mut self, tag: &Tag<'static>, s: &ExtSort) -> CmdResult<Done> {
        let sel = self.saved_and_view()?;
        let args = search::substitute(&s.args, &sel.saved_search, &sel.view, true, s.uid)
            .unwrap_or_default();
        let name = if s.uid { "UID SORT" } else { "SORT" };
        let Some(CommandBody::Sort {
            sort_criteria,
            charset,
            search_criteria,
            ..
        }) = decode(name, &args)
        else {
            return Err(CmdError::bad(format!("Could not parse {name}")));
        };
        let Some(opts) = s.ret else {
            return self
                .cmd_sort(sort_criteria, charset, search_criteria, s.uid)
                .await;
        };
        if opts.update {
            self.check_live_tag(tag)?;
        }
        let keys = opts.update.then(|| sort_criteria.as_ref().to_vec());
        let (found, crit) = self
            .sorted_uids(sort_criteria, charset, search_criteria)
            .await?;
        if opts.save {
            // `$` is a set of messages: its order does not matter, only which.
            let mut saved = opts.saved_part(&found);
            saved.sort_unstable();
            saved.dedup();
            self.set_saved(saved);
        }
        if opts.answers() {
            let numbers = self.numbers_of(&found, s.uid);
            let line = search::esort_response(tag.inner(), s.uid, &opts, &numbers);
            self.conn
                .send_raw(&line)
                .await
                .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
        }
        if let Some(keys) = keys {
            self.keep_live(tag, s.uid, crit, Some(keys), found).await?;
        }
        Ok(Done::ok(format!("{name} completed")))
    }

    /// A command on `$`: the saved messages put in its place, then run as usual.
    pub(crate) async fn cmd_saved(&mut self, tag: &Tag<'static>, r: SavedRef) -> CmdResult<Done> {
        let sel = self.saved_and_view()?;
        let Some(args) = search::substitute(&r.args, &sel.saved_search, &sel.view, false, r.uid)
        else {
            // `$` names no message: nothing to do, and that is no error (RFC 5182 §2.1).
            return Ok(Done::ok(format!(
                "{} completed (the saved search result is empty)",
                r.display_name()
            )));
        };
        let Some(body) = decode(r.display_name(), &args) else {
            return Err(CmdError::bad(format!(
                "Could not parse {}",
                r.display_name()
            )));
        };
        Box::pin(self.dispatch(tag, body)).await
    }
}
