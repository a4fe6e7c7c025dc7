#!/usr/bin/env python3
"""Run the same SORT and THREAD commands against liteimap and a private Dovecot, print both.

Not run by CI. Start Dovecot as tests/oracle/dovecot_compare.py says (any port), and liteimap:

    liteimap --db /tmp/s.db user add --password-stdin user1 <<< pass
    liteimap --db /tmp/s.db serve --listen 127.0.0.1:11488 &
    python3 tests/oracle/sort_compare.py [--corpus-only] LITEIMAP_PORT DOVECOT_PORT
    python3 tests/oracle/sort_compare.py --generate   # rewrites tests/sort_corpus/ from corpus()

Both users get a fresh folder `sortcmp` holding every testdata/*.eml (CRLF-normalized, the
huge-line fixture and those with NUL left out; not with --corpus-only) and then
tests/sort_corpus/*.eml, the messages corpus() generates (threads with replies, references in
and out of order, missing Date / References / Message-ID, duplicate Message-IDs, a
References cycle, subject-only-"Re:", list prefixes), each APPENDed with the same
INTERNALDATE. tests/sort_thread.rs runs the same commands on the --corpus-only folder. Every command of COMMANDS runs on both; lines that differ are
marked with '!!'. Exit status 0 either way: the differences are for a human to judge.
"""
import os
import re
import socket
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.path.join(ROOT, "testdata")

COMMANDS = [
    "SORT (ARRIVAL) UTF-8 ALL",
    "SORT (REVERSE ARRIVAL) UTF-8 ALL",
    "SORT (DATE) UTF-8 ALL",
    "SORT (REVERSE DATE) UTF-8 ALL",
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (SUBJECT DATE) UTF-8 ALL",
    "SORT (FROM) UTF-8 ALL",
    "SORT (TO) UTF-8 ALL",
    "SORT (CC) UTF-8 ALL",
    "SORT (SIZE) UTF-8 ALL",
    "SORT (REVERSE SIZE) UTF-8 ALL",
    "SORT (DISPLAYFROM) UTF-8 ALL",
    "SORT (DISPLAYTO) UTF-8 ALL",
    "UID SORT (SUBJECT) UTF-8 ALL",
    "SORT (DATE) UTF-8 SUBJECT trip",
    "SORT (REVERSE SUBJECT REVERSE DATE) UTF-8 OR FROM zoe SUBJECT lunch",
    "THREAD REFERENCES UTF-8 SUBJECT chain",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "THREAD REFS UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
]


def load(path):
    raw = open(path, "rb").read()
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def msg(n, subject, date=None, mid=None, refs=None, irt=None, frm=None, to=None, cc=None):
    h = []
    h.append("From: %s" % (frm or "User %d <user%d@example.org>" % (n % 7, n % 7)))
    h.append("To: %s" % (to or "list@example.org"))
    if cc:
        h.append("Cc: %s" % cc)
    if subject is not None:
        h.append("Subject: %s" % subject)
    if date:
        h.append("Date: %s" % date)
    if mid:
        h.append("Message-ID: <%s>" % mid)
    if irt:
        h.append("In-Reply-To: <%s>" % irt)
    if refs:
        h.append("References: %s" % " ".join("<%s>" % r for r in refs))
    body = "message %d\r\n" % n + "x" * ((n * 37) % 300) + "\r\n"
    return ("\r\n".join(h) + "\r\n\r\n" + body).encode()


def day(d, hh=10):
    return "%s, %02d Mar 2024 %02d:%02d:00 +0000" % (
        ["Fri", "Sat", "Sun", "Mon", "Tue", "Wed", "Thu"][(d - 1) % 7], d, hh, d % 60)


def corpus():
    out = []
    n = 0

    def add(*a, **k):
        nonlocal n
        n += 1
        out.append(msg(n, *a, **k))

    # A thread in order, with a list prefix on some replies.
    add("Planning the trip", day(1), "t1@x", frm="Zoe <zoe@example.org>")
    add("Re: Planning the trip", day(2), "t2@x", ["t1@x"], "t1@x")
    add("[trips] Re: Planning the trip", day(3), "t3@x", ["t1@x", "t2@x"])
    add("RE: Re: Planning the trip", day(4), "t4@x", ["t1@x"])
    # Replies before the original (dummy, later filled).
    add("Re: Budget", day(6), "b2@x", ["b1@x"], cc="Carl <carl@example.org>")
    add("Re: Budget", day(5), "b3@x", ["b1@x", "b2@x"])
    add("Budget", day(7), "b1@x")
    # Missing parent: two replies to an unknown message (dummy root kept).
    add("Re: Lost", day(8), "l2@x", ["l0@x"])
    add("Re: Lost", day(9), "l3@x", ["l0@x"])
    # Subject gathering: same base subject, no references.
    add("Lunch", day(10), "u1@x")
    add("Re: Lunch", day(11), "u2@x")
    add("Fwd: Lunch", day(12), "u3@x")
    add("Lunch (fwd)", day(13), "u4@x")
    add("[Fwd: Lunch]", day(14), "u5@x")
    # Missing Date: falls back to INTERNALDATE.
    add("No date here", None, "d1@x")
    add("Re: No date here", None, "d2@x", ["d1@x"])
    # Missing Message-ID and missing References.
    add("Anonymous", day(15))
    add("Re: Anonymous", day(16), None, None, None)
    # Duplicate Message-IDs.
    add("Dup one", day(17), "dup@x")
    add("Dup two", day(18), "dup@x")
    add("Re: Dup", day(19), "dup3@x", ["dup@x"])
    # A References cycle: c1 says c2 is its parent, c2 says c1.
    add("Cycle", day(20), "c1@x", ["c2@x"])
    add("Cycle", day(21), "c2@x", ["c1@x"])
    # Only "Re:" / empty subjects / no subject.
    add("Re:", day(22), "e1@x")
    add("Re: ", day(23), "e2@x")
    add("", day(24), "e3@x")
    add(None, day(25), "e4@x")
    # In-Reply-To only.
    add("Question", day(26), "q1@x")
    add("Re: Question", day(27), "q2@x", None, "q1@x")
    # Equal dates (ties by sequence number), case and accents.
    add("alpha", day(28), "s1@x", frm="\"bob\" <Bob@example.org>")
    add("Alpha", day(28), "s2@x", frm="alice@example.org")
    add("=?utf-8?q?=C3=A9t=C3=A9?=", day(28), "s3@x", frm="=?utf-8?q?=C3=89mile?= <emile@example.org>")
    add("Ete", day(28), "s4@x", frm="<_under@example.org>")
    add("Re: [trips] Re: Planning the trip", day(29), "t5@x", ["t1@x", "t4@x"])
    # A deep chain with one missing middle message.
    add("Chain", day(2, 1), "ch1@x")
    add("Re: Chain", day(2, 2), "ch2@x", ["ch1@x"])
    add("Re: Chain", day(2, 4), "ch4@x", ["ch1@x", "ch2@x", "ch3@x"])
    add("Re: Chain", day(2, 3), "ch5@x", ["ch1@x", "ch2@x"])
    # A thread whose root is in another folder, with different subjects.
    add("Re: elsewhere", day(3, 5), "o2@x", ["o1@x"])
    add("Re: elsewhere, changed", day(3, 6), "o3@x", ["o1@x", "o2@x"])
    return out


class Imap:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
        self.n = 0
        self.f.readline()

    def cmd(self, line, literal=None):
        self.n += 1
        tag = "t%d" % self.n
        if literal is None:
            self.s.sendall(("%s %s\r\n" % (tag, line)).encode())
        else:
            self.s.sendall(("%s %s {%d+}\r\n" % (tag, line, len(literal))).encode() + literal + b"\r\n")
        out = []
        while True:
            l = self.f.readline()
            if not l:
                raise SystemExit("connection closed")
            l = l.decode("utf-8", "replace").rstrip("\r\n")
            if l.startswith(tag + " "):
                return out, l
            out.append(l)


def sort_corpus():
    d = os.path.join(ROOT, "tests", "sort_corpus")
    return [load(os.path.join(d, n)) for n in sorted(os.listdir(d)) if n.endswith(".eml")]


def prepare(port, corpus_only):
    c = Imap(port)
    c.cmd("LOGIN user1 pass")
    c.cmd("DELETE sortcmp")
    c.cmd("CREATE sortcmp")
    msgs = []
    for name in sorted(os.listdir(TESTDATA)):
        if not corpus_only and name.endswith(".eml") and name != "huge-line.eml":
            m = load(os.path.join(TESTDATA, name))
            if b"\0" not in m:  # APPEND cannot carry NUL
                msgs.append(m)
    msgs.extend(sort_corpus())
    for i, m in enumerate(msgs):
        date = '"%02d-Apr-2024 12:%02d:%02d +0000"' % (1 + i // 3600, (i // 60) % 60, i % 60)
        _, t = c.cmd("APPEND sortcmp () %s" % date, m)
        assert " OK" in t, t
    c.cmd("SELECT sortcmp")
    return c


def main():
    if sys.argv[1:] == ["--generate"]:
        d = os.path.join(ROOT, "tests", "sort_corpus")
        os.makedirs(d, exist_ok=True)
        for i, raw in enumerate(corpus()):
            open(os.path.join(d, "%02d.eml" % (i + 1)), "wb").write(raw)
        return
    corpus_only = "--corpus-only" in sys.argv
    ports = [int(a) for a in sys.argv[1:] if not a.startswith("--")]
    lite, dove = ports
    a, b = prepare(lite, corpus_only), prepare(dove, corpus_only)
    for command in COMMANDS:
        ra, ta = a.cmd(command)
        rb, tb = b.cmd(command)
        same = ra == rb
        print("%s %s" % ("  " if same else "!!", command))
        if not same:
            print("   liteimap: %s %s" % (ra, ta))
            print("   dovecot:  %s %s" % (rb, tb))


if __name__ == "__main__":
    main()
