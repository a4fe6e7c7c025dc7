#!/usr/bin/env python3
"""The Dovecot side of `cargo bench --bench imap -- sort N`: the same N threaded messages
(the generator mirrors populate_threads() in benches/imap.rs), then the same commands, each
timed once and then REPEAT more times (the first run builds Dovecot's cache fields): the first
time, then the fastest, median and slowest repeat. Not run by CI.

    python3 tests/oracle/sort_bench_dovecot.py DOVECOT_PORT [N] [--reuse]

--reuse keeps the folder of an earlier run when it holds N messages (filling takes minutes).
"""
import email.utils
import socket
import sys
import time

REPEAT = 5
TOPICS = ["cats", "dogs", "Ärger", "zebras"]
COMMANDS = [
    "SORT (DATE) UTF-8 ALL",
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (REVERSE ARRIVAL) UTF-8 ALL",
    "SORT (FROM) UTF-8 ALL",
    "SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL",
    "SORT RETURN (PARTIAL 1:50) (DATE) UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "THREAD REFS UTF-8 ALL",
]


def message(i, count):
    thread, pos = i // 8, i % 8
    refs = " ".join("<%d@bench>" % (thread * 8 + p) for p in range(pos))
    topic = "Topic %d about %s" % (thread % 5000, TOPICS[thread % 4])
    subject = topic if pos == 0 else "Re: [list] " + topic
    sent = 1_600_000_000 + ((i * 7919) % count) * 60
    date = email.utils.formatdate(sent, usegmt=False).replace("-0000", "+0000")
    h = "From: User %d <user%d@example.org>\r\nTo: list%d@example.org\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@bench>\r\n" % (
        (i * 31) % 997, (i * 31) % 997, i % 13, subject, date, i)
    if refs:
        h += "References: %s\r\n" % refs
    return (h + "\r\nmessage %d\r\n%s\r\n" % (i, "x" * (i % 500))).encode()


class Imap:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
        self.n = 0
        self.f.readline()

    def send(self, data):
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b" " + data + b"\r\n")
        size = 0
        while True:
            line = self.f.readline()
            if not line:
                raise SystemExit("connection closed")
            size += len(line)
            if line.startswith(tag + b" "):
                return line, size


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    port = int(args[0])
    count = int(args[1]) if len(args) > 1 else 100_000
    c = Imap(port)
    c.send(b"LOGIN user1 pass")
    if "--reuse" in sys.argv:
        c.send(b"SELECT sortbench")
        c.n += 1
        tag = b"t%d" % c.n
        c.s.sendall(tag + b" STATUS sortbench (MESSAGES)\r\n")
        status = c.f.readline()
        c.f.readline()
        if (b"MESSAGES %d)" % count) in status:
            run(c, count, "kept from an earlier run")
            return
    c.send(b"DELETE sortbench")
    c.send(b"CREATE sortbench")
    start = time.time()
    for base in range(0, count, 1000):
        parts = [b"APPEND sortbench"]
        for i in range(base, min(count, base + 1000)):
            m = message(i, count)
            secs = 1_600_000_000 + i * 60
            d = time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(secs))
            parts.append(b' () "%s" {%d+}\r\n' % (d.encode(), len(m)) + m)
        line, _ = c.send(b"".join(parts))
        assert b" OK" in line, line
    run(c, count, "stored in %.1f s by MULTIAPPEND" % (time.time() - start))


def run(c, count, how):
    print("## Dovecot 2.3.19: SORT and THREAD on %d messages (%s)" % (count, how), flush=True)
    c.send(b"SELECT sortbench")
    print("| command | first | repeats: min | median | max | response |")
    print("|---|---|---|---|---|---|")
    for cmd in COMMANDS:
        runs = []
        for _ in range(REPEAT + 1):
            t0 = time.time()
            line, size = c.send(cmd.encode())
            runs.append((time.time() - t0) * 1000)
        again = sorted(runs[1:])
        status = "" if b" OK " in line else " (" + line.decode(errors="replace").strip() + ")"
        print("| `%s` | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.1f MB%s |" % (
            cmd, runs[0], again[0], again[len(again) // 2], again[-1], size / 1e6, status))


if __name__ == "__main__":
    main()
