#!/usr/bin/env python3
"""Ask a private Dovecot what it answers for FETCH (ENVELOPE BODYSTRUCTURE) of each fixture.

Not run by CI. How to run (see /work/shared/dovecot-oracle.md for the instance itself):

    apt-get install -y dovecot-imapd
    id vmail || useradd -r -M -s /usr/sbin/nologin vmail
    D=/tmp/dovecot-mime; mkdir -p $D/base $D/state $D/mail; chown vmail:vmail $D/mail
    echo 'user1:{PLAIN}pass::::::' > $D/passwd
    sed "s#@DIR@#$D#g" tests/oracle/dovecot.conf.in > $D/dovecot.conf
    dovecot -c $D/dovecot.conf            # listens on 127.0.0.1:11430
    python3 tests/oracle/dovecot_compare.py [--strict] [fixture-name ...]
    python3 tests/oracle/dovecot_compare.py --sections   # rewrites dovecot/sections.txt
    doveadm -c $D/dovecot.conf stop

For each testdata/X.eml it appends the CRLF-normalized message (the @@HUGE_LINE@@ marker
expanded exactly as tests/mime_fixtures.rs does), fetches ENVELOPE and BODYSTRUCTURE, writes
tests/oracle/dovecot/X.txt (two lines, Dovecot's answer, literals kept as sent) and prints a
diff against testdata/X.expected (liteimap's answer).

With --sections it instead fetches BODY.PEEK[section] for the sections listed in SECTIONS
below and writes tests/oracle/dovecot/sections.txt: one line per answer,
`fixture<TAB>section<TAB>length<TAB>blake2b-128 hex` (hashes keep the file small);
tests/mime_fixtures.rs checks MessageInfo::section() against it.
"""
import argparse
import hashlib
import difflib
import os
import re
import socket
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.path.join(ROOT, "testdata")
OUT = os.path.join(ROOT, "tests", "oracle", "dovecot")

HUGE_MARKER = b"@@HUGE_LINE@@"
HUGE_LINE = b"x" * (1024 * 1024)


def load_fixture(path):
    raw = open(path, "rb").read()
    raw = raw.replace(HUGE_MARKER, HUGE_LINE)
    # bare LF -> CRLF, like liteimap::mime::normalize_crlf
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


class Imap:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
        self.n = 0
        self.f.readline()

    def read_response(self, tag):
        """All bytes up to and including the tagged line; literals read whole."""
        out = b""
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError
            out += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m:
                out += self.f.read(int(m.group(1)))
                continue
            if line.startswith(tag + b" "):
                return out

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"a%d" % self.n
        if literal is None:
            self.s.sendall(tag + b" " + text + b"\r\n")
        else:
            self.s.sendall(tag + b" " + text + b" {%d}\r\n" % len(literal))
            cont = self.f.readline()
            if not cont.startswith(b"+"):
                return cont
            self.s.sendall(literal + b"\r\n")
        return self.read_response(tag)


def item_value(data, name):
    """The raw bytes of the value following `name` in a FETCH response."""
    i = data.find(name + b" ")
    if i < 0:
        return None
    i += len(name) + 1
    start, depth = i, 0
    while i < len(data):
        c = data[i:i + 1]
        if c == b'"':
            i += 1
            while data[i:i + 1] != b'"':
                i += 2 if data[i:i + 1] == b"\\" else 1
        elif c == b"{":
            m = re.match(rb"\{(\d+)\}\r\n", data[i:])
            i += len(m.group(0)) + int(m.group(1)) - 1
        elif c == b"(":
            depth += 1
        elif c == b")":
            depth -= 1
            if depth == 0:
                return data[start:i + 1]
        i += 1
    return None


PATHS = ["1", "2", "3", "1.1", "1.2", "2.1", "2.2", "3.1", "1.1.1", "1.1.2", "1.2.1",
         "1.1.2.1", "1.1.2.2", "2.1.1", "2.1.2"]
SECTIONS = (["", "HEADER", "TEXT", "HEADER.FIELDS (SUBJECT FROM X-NONE)",
             "HEADER.FIELDS.NOT (Subject From)"]
            + [p + s for p in PATHS for s in ("", ".MIME")]
            + [p + s for p in ["1", "2", "1.1", "1.2", "2.1"]
               for s in (".HEADER", ".TEXT", ".HEADER.FIELDS (SUBJECT)")])
SKIP_SECTIONS = {"huge-line", "very-deep-nesting", "over-depth-nesting"}


def fetch_section(imap, uid, sec):
    r = imap.cmd(b"UID FETCH " + uid + b" (BODY.PEEK[" + sec.encode() + b"])")
    m = re.search(rb"BODY\[[^\]]*\] (\{(\d+)\}\r\n|NIL|\"\")", r)
    if m.group(2) is not None:
        start = m.end()
        return r[start:start + int(m.group(2))]
    return b""


def sections(imap, names):
    lines = []
    for name in names:
        if name in SKIP_SECTIONS:
            continue
        raw = load_fixture(os.path.join(TESTDATA, name + ".eml"))
        r = imap.cmd(b"APPEND INBOX", raw)
        m = re.search(rb"APPENDUID \d+ (\d+)", r)
        if not m:
            continue
        for sec in SECTIONS:
            data = fetch_section(imap, m.group(1), sec)
            lines.append("%s\t%s\t%d\t%s\n" % (name, sec, len(data), hashlib.blake2b(data, digest_size=16).hexdigest()))
    open(os.path.join(OUT, "sections.txt"), "w").write("".join(lines))
    print("%d section answers written" % len(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=11430)
    ap.add_argument("--strict", action="store_true",
                    help="do not forgive imap-codec's fixed \"TEXT\" / \"MESSAGE\" \"RFC822\" case")
    ap.add_argument("--sections", action="store_true")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    imap = Imap(args.port)
    imap.cmd(b"LOGIN user1 pass")
    imap.cmd(b"SELECT INBOX")
    names = args.names or sorted(f[:-4] for f in os.listdir(TESTDATA) if f.endswith(".eml"))
    if args.sections:
        sections(imap, names)
        imap.cmd(b"LOGOUT")
        return 0
    differ = 0
    for name in names:
        raw = load_fixture(os.path.join(TESTDATA, name + ".eml"))
        r = imap.cmd(b"APPEND INBOX", raw)
        m = re.search(rb"APPENDUID \d+ (\d+)", r)
        if not m:
            print("%s: APPEND refused: %r" % (name, r[-200:]))
            continue
        r = imap.cmd(b"UID FETCH " + m.group(1) + b" (ENVELOPE BODYSTRUCTURE)")
        got = (b"ENVELOPE " + (item_value(r, b"ENVELOPE") or b"?") + b"\n"
               + b"BODYSTRUCTURE " + (item_value(r, b"BODYSTRUCTURE") or b"?") + b"\n")
        open(os.path.join(OUT, name + ".txt"), "wb").write(got)
        exp_path = os.path.join(TESTDATA, name + ".expected")
        if os.path.exists(exp_path):
            exp = open(exp_path, "rb").read()
            if not args.strict:
                # imap-codec always writes these media types in upper case; Dovecot as sent.
                exp = exp.replace(b'"TEXT" ', b'"text" ').replace(b'"MESSAGE" "RFC822"', b'"message" "rfc822"')
                got = got.replace(b'"TEXT" ', b'"text" ').replace(b'"MESSAGE" "RFC822"', b'"message" "rfc822"')
            if exp != got:
                differ += 1
                print("=== %s differs (- dovecot, + liteimap)" % name)
                for l in difflib.unified_diff(
                        got.decode("latin1")[:3000].replace(") (", ")\n(").splitlines(),
                        exp.decode("latin1")[:3000].replace(") (", ")\n(").splitlines(),
                        lineterm="", n=0):
                    print(l)
    imap.cmd(b"LOGOUT")
    print("%d of %d fixtures differ" % (differ, len(names)))


if __name__ == "__main__":
    sys.exit(main())
