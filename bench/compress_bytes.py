#!/usr/bin/env python3
"""COMPRESS=DEFLATE: bytes on the wire with and without it, for the testdata folder.

Imports testdata/*.eml into a fresh database, starts liteimap on 127.0.0.1:0 and, on one
plain connection and one that sent COMPRESS DEFLATE, counts the bytes the server sends for
`FETCH 1:* (ENVELOPE BODYSTRUCTURE)` and for `FETCH 1:* BODY.PEEK[]` (socket bytes, the tagged
OK included). Bytes on the wire do not depend on the build, so a debug binary does:

    cargo build && python3 bench/compress_bytes.py [target/debug/liteimap]

With --dovecot PORT it measures the same on a Dovecot that has user1/pass with the same
messages in INBOX (tests/oracle/dovecot-ext.conf.in has imap_zlib on).
"""
import os, re, shutil, subprocess, socket, sys, tempfile, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Counting:
    def __init__(self, port, user, password):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.raw = 0
        self.decomp = None
        self.comp = None
        self.pending = b""
        self.n = 0
        self.line()
        self.cmd("LOGIN %s %s" % (user, password))

    def recv(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise SystemExit("connection closed")
        self.raw += len(chunk)
        return self.decomp.decompress(chunk) if self.decomp else chunk

    def line(self):
        while b"\r\n" not in self.pending:
            self.pending += self.recv()
        l, self.pending = self.pending.split(b"\r\n", 1)
        return l

    def send(self, data):
        if self.comp:
            data = self.comp.compress(data) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)

    def cmd(self, c):
        """Run a command; the wire bytes of its answer (literals read whole)."""
        self.n += 1
        tag = b"c%d" % self.n
        start = self.raw - len(self.pending) if not self.decomp else self.raw
        self.send(tag + b" " + c.encode() + b"\r\n")
        while True:
            l = self.line()
            m = re.search(rb"\{(\d+)\}$", l)
            if m:
                need = int(m.group(1))
                while len(self.pending) < need:
                    self.pending += self.recv()
                self.pending = self.pending[need:]
                continue
            if l.startswith(tag + b" "):
                if not l.startswith(tag + b" OK"):
                    raise SystemExit(l.decode())
                return self.raw - start

    def compress(self):
        self.cmd("COMPRESS DEFLATE")
        self.comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.decomp = zlib.decompressobj(-15)


def measure(port, user, password, label):
    out = {}
    for compressed in (False, True):
        c = Counting(port, user, password)
        if compressed:
            c.compress()
        c.cmd("EXAMINE INBOX")
        for name, q in (("ENVELOPE BODYSTRUCTURE", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"),
                        ("BODY[]", "FETCH 1:* BODY.PEEK[]")):
            out[(name, compressed)] = c.cmd(q)
    for name in ("ENVELOPE BODYSTRUCTURE", "BODY[]"):
        plain, comp = out[(name, False)], out[(name, True)]
        print("%-8s FETCH 1:* %-24s plain %9d bytes  deflate %9d bytes  (%.1f%%)"
              % (label, name, plain, comp, 100.0 * comp / plain))


def main():
    args = sys.argv[1:]
    if args[:1] == ["--dovecot"]:
        measure(int(args[1]), "user1", "pass", "dovecot")
        return
    exe = args[0] if args else os.path.join(ROOT, "target", "debug", "liteimap")
    d = tempfile.mkdtemp(prefix="liteimap-compress-")
    try:
        db = os.path.join(d, "c.db")
        subprocess.run([exe, "--db", db, "user", "add", "bench", "--password-stdin"],
                       input=b"pass\n", check=True, capture_output=True)
        subprocess.run([exe, "--db", db, "import", "--user", "bench",
                        os.path.join(ROOT, "testdata")], check=True, capture_output=True)
        srv = subprocess.Popen([exe, "--db", db, "serve", "--listen", "127.0.0.1:0"],
                               stderr=subprocess.PIPE)
        try:
            for line in srv.stderr:
                m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", line)
                if m:
                    port = int(m.group(1))
                    break
            else:
                raise SystemExit("liteimap did not start")
            measure(port, "bench", "pass", "liteimap")
        finally:
            srv.terminate()
            srv.wait()
    finally:
        shutil.rmtree(d)


main()
