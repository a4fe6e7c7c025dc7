//! Commands that describe the server or the session rather than mail: NAMESPACE (RFC 2342),
//! ID (RFC 2971) and ENABLE (RFC 5161).

use imap_codec::imap_types::core::{IString, NString, QuotedChar};
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::extensions::utf8::Utf8Kind;
use imap_codec::imap_types::response::Data;

use super::uidonly;
use crate::imap::session::{Done, Session};
use crate::imap::{CmdError, CmdResult, DELIMITER};

/// RFC 2971 §3.3: at most 30 pairs, fields of at most 30 octets, values of at most 1024.
const ID_MAX_PAIRS: usize = 30;
const ID_MAX_FIELD: usize = 30;
const ID_MAX_VALUE: usize = 1024;

impl Session {
    /// One personal namespace, the empty prefix with our delimiter; no other users' or shared
    /// folders exist.
    pub(crate) async fn cmd_namespace(&mut self) -> CmdResult<Done> {
        let prefix = IString::try_from("").map_err(|_| CmdError::bad("namespace prefix"))?;
        let personal = vec![Namespace::new(prefix, QuotedChar::try_from(DELIMITER).ok())];
        self.data(Data::Namespace {
            personal,
            other: Vec::new(),
            shared: Vec::new(),
        })
        .await?;
        Ok(Done::ok("NAMESPACE completed"))
    }

    /// Log what the client says it is (sanitised: it is client text going into our logs) and
    /// answer our name and version.
    pub(crate) async fn cmd_id(
        &mut self,
        parameters: Option<Vec<(IString<'static>, NString<'static>)>>,
    ) -> CmdResult<Done> {
        let params = parameters.unwrap_or_default();
        if params.len() > ID_MAX_PAIRS {
            return Err(CmdError::bad(format!(
                "ID takes at most {ID_MAX_PAIRS} field-value pairs"
            )));
        }
        if !params.is_empty() {
            let described: Vec<String> = params
                .iter()
                .map(|(k, v)| {
                    let value = match &v.0 {
                        Some(v) => format!("\"{}\"", sanitise(v.as_ref(), ID_MAX_VALUE)),
                        None => "NIL".to_string(),
                    };
                    format!("{}={value}", sanitise(k.as_ref(), ID_MAX_FIELD))
                })
                .collect();
            log::info!(
                "session {} ({}): client ID {}",
                self.id,
                self.peer,
                described.join(" ")
            );
        }
        let pair = |k: &'static str, v: &'static str| -> CmdResult<_> {
            let key = IString::try_from(k).map_err(|_| CmdError::bad("ID field"))?;
            let value = IString::try_from(v).map_err(|_| CmdError::bad("ID value"))?;
            Ok((key, NString(Some(value))))
        };
        let ours = vec![
            pair("name", "liteimap")?,
            pair("version", env!("CARGO_PKG_VERSION"))?,
        ];
        self.data(Data::Id {
            parameters: Some(ours),
        })
        .await?;
        Ok(Done::ok("ID completed"))
    }

    /// ENABLE (RFC 5161): CONDSTORE, QRESYNC, IMAP4rev2 and UTF8=ACCEPT are the extensions
    /// here that need enabling (UTF8=ONLY is not offered);
    /// anything else asked for is ignored, not an error (§3.1). ENABLED lists each whenever it
    /// is asked for, also when already on (as Dovecot does), so a client never concludes from
    /// a repeated ENABLE that it is off.
    pub(crate) async fn cmd_enable(
        &mut self,
        capabilities: Vec<CapabilityEnable<'static>>,
    ) -> CmdResult<Done> {
        // RFC 5161 §3.1: only in the authenticated state, before a mailbox is selected.
        if self.state.selected().is_some() {
            return Err(CmdError::bad(
                "ENABLE is only valid before a mailbox is selected",
            ));
        }
        log::debug!(
            "session {} ({}): ENABLE {}",
            self.id,
            self.peer,
            capabilities
                .iter()
                .map(|c| sanitise(c.to_string().as_bytes(), ID_MAX_FIELD))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut enabled = Vec::new();
        for c in capabilities {
            match &c {
                CapabilityEnable::CondStore => self.condstore = true,
                // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                CapabilityEnable::Other(_) if c.to_string().eq_ignore_ascii_case("QRESYNC") => {
                    self.qresync = true;
                    self.condstore = true;
                }
                CapabilityEnable::Utf8(Utf8Kind::Accept) => self.utf8 = true,
                CapabilityEnable::Other(_) if c.to_string().eq_ignore_ascii_case("IMAP4rev2") => {
                    self.rev2 = true
                }
                // RFC 9586 §3.1; nothing for a user it is withheld from.
                CapabilityEnable::Other(_)
                    if !self.uidonly_withheld
                        && c.to_string().eq_ignore_ascii_case(uidonly::CAPABILITY) =>
                {
                    self.uidonly = true
                }
                _ => continue,
            }
            if !enabled.contains(&c) {
                enabled.push(c);
            }
        }
        self.data(Data::Enabled {
            capabilities: enabled,
        })
        .await?;
        Ok(Done::ok("ENABLE completed"))
    }
}

/// Client bytes fit for one log line: printable ASCII, others as `?`, at most `max` of them.
fn sanitise(bytes: &[u8], max: usize) -> String {
    let mut s: String = bytes
        .iter()
        .take(max)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    if bytes.len() > max {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn sanitise_keeps_log_lines_single_and_short() {
        assert_eq!(super::sanitise(b"Thunderbird", 30), "Thunderbird");
        assert_eq!(super::sanitise(b"a\r\nb\"c\x1b", 30), "a??b?c?");
        assert_eq!(
            super::sanitise(&[b'x'; 40], 30),
            format!("{}...", "x".repeat(30))
        );
        assert_eq!(super::sanitise("é".as_bytes(), 30), "??");
    }
}
