-- liteimap schema, version 8 (version 1 had the same tables; 2 fills in special_use; 3 gives
-- each user its own bodies; 4 to 8 add the tables and columns of later extensions, each in
-- its own block at the end of this file).
--
-- This file is the single source of the schema: the binary embeds it (include_str!) and applies
-- it to an empty database; later versions add migration steps keyed on PRAGMA user_version.
-- Pragmas (WAL, synchronous, foreign_keys) are set per connection in src/store/mod.rs.

-- An account. The password is an argon2id PHC string, never plain text.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created       INTEGER NOT NULL
);

-- A folder of one user. `name` is the full hierarchical name with '/' as delimiter, exactly as
-- the client sent it (modified UTF-7 is kept as sent); INBOX is always stored as "INBOX".
--   uidvalidity     changes when a folder of the same name is deleted and created again
--   uidnext         the next UID to assign; UIDs are never reused
--   highest_modseq  bumped by every change (append, flag change, expunge) in the same transaction
--   recent_floor    messages with uid >= recent_floor are \Recent to the next session that
--                   claims them (RFC 3501: only one session sees a message as recent)
--   noselect        a name kept only because it has children (RFC 3501 DELETE)
--   special_use     RFC 6154 attribute such as '\Sent', or NULL
CREATE TABLE mailboxes (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    uidvalidity    INTEGER NOT NULL,
    uidnext        INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    recent_floor   INTEGER NOT NULL DEFAULT 1,
    noselect       INTEGER NOT NULL DEFAULT 0,
    special_use    TEXT,
    UNIQUE (user_id, name)
);

-- Subscriptions are names, not folders: RFC 3501 §6.3.6 lets a client subscribe to a name that
-- does not exist, and a subscription outlives the deletion of its folder.
CREATE TABLE subscriptions (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name    TEXT    NOT NULL,
    PRIMARY KEY (user_id, name)
) WITHOUT ROWID;
-- end of withheld capabilities

-- One immutable raw message of one user, shared by all of that user's copies (COPY, MOVE, the
-- same bytes appended or imported twice). Never shared across users: an APPEND that found
-- another user's copy would be faster, telling the appender that someone holds that message.
-- `parsed` is the MIME layer's cached parse (envelope, structure, part offsets), so FETCH never
-- re-parses a message for ENVELOPE or BODYSTRUCTURE.
CREATE TABLE bodies (
    id      INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash    BLOB    NOT NULL,
    size    INTEGER NOT NULL,
    parsed  BLOB    NOT NULL,
    raw     BLOB    NOT NULL,
    UNIQUE (user_id, hash)
);

-- A message in a mailbox.
CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    body_id       INTEGER NOT NULL REFERENCES bodies(id),
    internal_date INTEGER NOT NULL, -- unix seconds
    date_offset   INTEGER NOT NULL DEFAULT 0, -- seconds east of UTC the client gave it in
    modseq        INTEGER NOT NULL,
    UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_body ON messages(body_id);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);

-- One flag or keyword on one message: '\Seen', '\Answered', '\Flagged', '\Deleted', '\Draft',
-- or a keyword atom. \Recent is not stored here (it is session state, see recent_floor).
CREATE TABLE flags (
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    flag       TEXT    NOT NULL COLLATE NOCASE, -- flags and keywords match case-insensitively
    PRIMARY KEY (message_id, flag)
) WITHOUT ROWID;
-- end of withheld capabilities

-- A UID removed from a mailbox, with the modseq of its removal, so that a session (or a
-- QRESYNC client) can learn what vanished since it last looked.
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
-- end of withheld capabilities
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);

-- URLAUTH (RFC 4467): the mailbox access key of a mailbox, made on first GENURLAUTH and
-- removed by RESETKEY; only HMACs made with it ever leave the server.
CREATE TABLE urlauth_keys (
    mailbox_id INTEGER PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
    key        BLOB    NOT NULL
);

-- Marks this file as a liteimap database (checked before any migration runs).
CREATE TABLE liteimap_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
-- end of withheld capabilities
INSERT INTO liteimap_meta (key, value) VALUES ('application', 'liteimap');

-- QUOTA (RFC 9208), schema 5: one quota root per user. The limits are NULL for "no limit";
-- storage is counted in octets (the sum of the user's message sizes, one per copy, as
-- RFC822.SIZE reports them) and messages one per message row. The triggers keep both counters
-- exact in the statement that inserts or deletes a message, so every writer (APPEND, COPY,
-- MOVE, EXPUNGE, DELETE, LMTP, import) updates them in its own transaction. A message's body
-- row outlives the message row (bodies are collected later), so the triggers read the owner
-- and the size from it. The migration to schema 5 runs this block as it stands here.
CREATE TABLE quota (
    user_id       INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    storage_limit INTEGER,
    message_limit INTEGER,
    mailbox_limit INTEGER,
    storage_used  INTEGER NOT NULL DEFAULT 0,
    messages_used INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER quota_new_user AFTER INSERT ON users BEGIN
    INSERT INTO quota (user_id) VALUES (NEW.id);
END;
CREATE TRIGGER quota_message_in AFTER INSERT ON messages BEGIN
    UPDATE quota SET storage_used = storage_used + (SELECT size FROM bodies WHERE id = NEW.body_id),
                     messages_used = messages_used + 1
    WHERE user_id = (SELECT user_id FROM bodies WHERE id = NEW.body_id);
END;
CREATE TRIGGER quota_message_out AFTER DELETE ON messages BEGIN
    UPDATE quota SET storage_used = storage_used - (SELECT size FROM bodies WHERE id = OLD.body_id),
                     messages_used = messages_used - 1
    WHERE user_id = (SELECT user_id FROM bodies WHERE id = OLD.body_id);
END;
-- end of QUOTA

-- METADATA (RFC 5464), schema 5: server entries (mailbox_id NULL) and mailbox entries of one
-- user. `name` is the entry name in ASCII lower case (entry names match case-insensitively),
-- beginning with /private or /shared; one user sees both (there are no shared folders yet).
-- Entries go with their mailbox (DELETE) and stay with its id (RENAME moves them).
CREATE TABLE metadata (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    mailbox_id INTEGER REFERENCES mailboxes(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    value      BLOB    NOT NULL
);
CREATE UNIQUE INDEX metadata_entry ON metadata(user_id, coalesce(mailbox_id, 0), name);
-- end of METADATA

-- Schema 6: OBJECTID (RFC 8474), SAVEDATE (RFC 8514) and PREVIEW (RFC 8970); see
-- src/store/objid.rs. MAILBOXID is computed from the mailbox row and the id key in
-- liteimap_meta ('object_id_key'), so it needs no column.
--   bodies.email_id    EMAILID, a keyed hash of the body's user and content
--   bodies.thread_id   THREADID; NULL (NIL) for bodies stored before schema 6
--   bodies.message_id  the Message-ID, to find the thread a reply belongs to
--   bodies.preview     PREVIEW text made when the body was stored; NULL before schema 6
--   messages.save_date when the message was saved into its mailbox (unix seconds)
ALTER TABLE bodies ADD COLUMN email_id TEXT;
ALTER TABLE bodies ADD COLUMN thread_id TEXT;
ALTER TABLE bodies ADD COLUMN message_id TEXT;
ALTER TABLE bodies ADD COLUMN preview TEXT;
ALTER TABLE messages ADD COLUMN save_date INTEGER;
CREATE INDEX bodies_message_id ON bodies(user_id, message_id);
CREATE INDEX bodies_email_id ON bodies(email_id);
CREATE INDEX bodies_thread_id ON bodies(thread_id);

-- Schema 7: what SORT and THREAD (RFC 5256, RFC 5957) compare of one body, computed once when the body is
-- stored (mime::SortFields), so a SORT reads a few short columns instead of parsing every
-- message. Strings are already collated (i;unicode-casemap canonical form): they compare as
-- stored. Copies share their body, so COPY and MOVE carry the keys over.
--   subject      base subject (RFC 5256 §2.1); reply = 1 when extraction found Re:/Fwd:/(fwd)
--   sent_date    the Date header in unix seconds, NULL when missing or unparsable
--   from_key ... the first address's local part (FROM, TO, CC) and display key (DISPLAYFROM/TO)
--   message_id   without angle brackets, NULL when invalid; refs: References (or the first
--                In-Reply-To) oldest first, separated by one space
CREATE TABLE sort_keys (
    body_id      INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE CASCADE,
    subject      TEXT    NOT NULL,
    reply        INTEGER NOT NULL,
    sent_date    INTEGER,
    from_key     TEXT    NOT NULL,
    to_key       TEXT    NOT NULL,
    cc_key       TEXT    NOT NULL,
    display_from TEXT    NOT NULL,
    display_to   TEXT    NOT NULL,
    message_id   TEXT,
    refs         TEXT    NOT NULL
);

-- Schema 8: the search index (src/store/search_index.rs): SQLite's FTS5 with the trigram
-- tokenizer over what SEARCH compares (header lines and parsed addresses per field, decoded
-- text parts), one row per body (rowid = bodies.id), without the text itself (content='') and
-- without positions (detail=column). It narrows the messages a text key looks at; the MIME
-- matchers decide. liteimap_meta 'search_index' is 'on' while it is complete and kept.
CREATE VIRTUAL TABLE search_text USING fts5(
    hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc, hdr_other, body,
    content = '', contentless_delete = 1, detail = column,
    tokenize = 'trigram case_sensitive 0'
);
CREATE TRIGGER search_text_forget AFTER DELETE ON bodies BEGIN
    DELETE FROM search_text WHERE rowid = old.id;
END;
INSERT INTO liteimap_meta (key, value) VALUES ('search_index', 'on');

-- Schema 9: capabilities withheld from one user (`liteimap user set NAME --no-uidonly`): not
-- advertised to it after login, and not turned on by its ENABLE. One row per user and
-- capability name, as CAPABILITY spells it (only UIDONLY so far); no row: offered.
CREATE TABLE withheld_capabilities (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    capability TEXT    NOT NULL,
    PRIMARY KEY (user_id, capability)
) WITHOUT ROWID;
-- end of withheld capabilities
-- Schema 10: a body's bytes in chunks, and each message's size on its own row.
--   body_chunks  the bytes of one body, in pieces of at most 256 KiB keyed by the offset of
--                their first byte (every body has at least one, an empty body one empty
--                piece); a range is read from the pieces it covers, so streaming a large body
--                reads each page once (one blob walked from its start per chunk read was
--                quadratic) and a reader's cache holds a piece, not the body.
--   messages.size  the body's size (bodies.size), copied when the message row is made, so
--                RFC822.SIZE, STATUS SIZE, SORT SIZE and SEARCH LARGER/SMALLER read the
--                message rows alone.
-- The migration to schema 10 runs this block up to its last statement, moves every body's
-- bytes into pieces and fills the sizes, then runs the last statement.
CREATE TABLE body_chunks (
    body_id INTEGER NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
    start   INTEGER NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (body_id, start)
);
ALTER TABLE messages ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
-- schema 10: bodies.raw is gone
ALTER TABLE bodies DROP COLUMN raw;

-- Schema 11: the search index's queue (src/store/search_index.rs). A body stored while the
-- index is on gets a row here in the commit that stores it; the background indexer moves it
-- into search_text later, a few bodies per commit, when no client is writing. Until then
-- SEARCH treats it as a candidate of every text key and checks it exactly. A body removed
-- before it was indexed takes its row along.
CREATE TABLE search_pending (
    body_id INTEGER PRIMARY KEY REFERENCES bodies(id) ON DELETE CASCADE
);
-- end of the search index's queue
