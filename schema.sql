-- liteimap schema, version 4 (version 1 had the same tables; 2 fills in special_use; 3 gives
-- each user its own bodies; 4 adds the search index).
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

-- A UID removed from a mailbox, with the modseq of its removal, so that a session (or a
-- QRESYNC client) can learn what vanished since it last looked.
CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid        INTEGER NOT NULL,
    modseq     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);

-- Marks this file as a liteimap database (checked before any migration runs).
CREATE TABLE liteimap_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO liteimap_meta (key, value) VALUES ('application', 'liteimap');

-- The search index (schema 4; src/store/search_index.rs): SQLite's FTS5 with the trigram
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
