//! COMPRESS=DEFLATE (RFC 4978) against Python's zlib in both directions: exact responses
//! before and after the switch, `[COMPRESSIONACTIVE]`, pipelined compressed commands, IDLE
//! updates arriving compressed, and a decompression bomb meeting the line limit.

mod common;

use common::{python, TempDir, TestServer, ALICE};

/// A client that speaks raw deflate after COMPRESS: `send(line)` compresses and sync-flushes,
/// `until(tag)` inflates and returns the lines up to the tagged one.
const CLIENT: &str = r#"
import socket, sys, zlib
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(30)
f = s.makefile("rb")
def plain(line):
    s.sendall(line.encode() + b"\r\n")
    return f.readline().decode().rstrip("\r\n")
f.readline()
print(plain("a1 LOGIN alice wonderland").split(" ")[1])
print(plain("a2 COMPRESS DEFLATE"))
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
decomp = zlib.decompressobj(-15)
pending = b""
def send(data):
    s.sendall(comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))
def line():
    global pending
    while b"\r\n" not in pending:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("closed; pending %r" % pending)
        pending += decomp.decompress(chunk)
    l, pending = pending.split(b"\r\n", 1)
    return l.decode(errors="replace")
def until(tag):
    out = []
    while True:
        l = line()
        out.append(l)
        if l.startswith(tag + " "):
            return out
"#;

#[test]
fn both_directions_with_python_zlib() {
    let dir = TempDir::new("compress-zlib");
    let srv = TestServer::start(&dir);
    let script = format!(
        r#"{CLIENT}
send(b"a3 COMPRESS DEFLATE\r\n")
print(until("a3"))
# Pipelined: two commands in one compressed chunk.
send(b"a4 NOOP\r\na5 SELECT INBOX\r\n")
print(until("a4"))
print(until("a5")[-1])
# An APPEND whose literal is compressed too.
msg = b"Subject: zipped\r\n\r\n" + b"hello " * 1000 + b"\r\n"
send(b"a6 APPEND INBOX {{%d+}}\r\n" % len(msg) + msg + b"\r\n")
print(until("a6")[-1].split(" ]")[0].split(" [")[0])
send(b"a7 FETCH 1 (RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
print(until("a7"))
print(len(msg))
"#
    );
    let out = python(&script, &[&srv.port.to_string()]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "OK",
            "a2 OK DEFLATE active",
            "['a3 NO [COMPRESSIONACTIVE] DEFLATE is already active']",
            "['a4 OK NOOP completed']",
            "a5 OK [READ-WRITE] SELECT completed",
            "a6 OK",
            "['* 1 FETCH (RFC822.SIZE 6021 BODY[HEADER.FIELDS (SUBJECT)] {19}', 'Subject: zipped', '', ')', 'a7 OK FETCH completed']",
            "6021",
        ]
    );
}

/// IDLE under compression: the EXISTS another session causes arrives at once, inflatable on
/// its own (the server sync-flushes each update), and DONE ends the IDLE.
#[test]
fn idle_updates_arrive_compressed() {
    let dir = TempDir::new("compress-idle");
    let srv = TestServer::start(&dir);
    let script = format!(
        r#"{CLIENT}
send(b"a3 SELECT INBOX\r\n")
until("a3")
send(b"a4 IDLE\r\n")
print(line())
other = socket.create_connection(("127.0.0.1", port))
of = other.makefile("rb")
of.readline()
other.sendall(b"b1 LOGIN alice wonderland\r\n")
of.readline()
msg = b"Subject: new\r\n\r\nnew mail\r\n"
other.sendall(b"b2 APPEND INBOX {{%d+}}\r\n" % len(msg) + msg + b"\r\n")
print(of.readline().decode().split(" ")[1])
print(line())
print(line())
send(b"DONE\r\n")
print(until("a4"))
"#
    );
    let out = python(&script, &[&srv.port.to_string()]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "OK",
            "a2 OK DEFLATE active",
            "+ idling",
            "OK",
            "* 1 EXISTS",
            "* 1 RECENT",
            "['a4 OK IDLE terminated']",
        ]
    );
}

/// 200 MB of one line compress to about 200 KB: the server inflates it in read-sized steps,
/// meets the line limit on the inflated bytes and closes, as it would for the plain line.
#[test]
fn decompression_bomb_meets_the_line_limit() {
    let dir = TempDir::new("compress-bomb");
    let srv = TestServer::start(&dir);
    let script = format!(
        r#"{CLIENT}
chunk = comp.compress(b"a3 NOOP " + b"x" * (1 << 20))
s.sendall(chunk)
zero = comp.compress(b"x" * (1 << 20))
sent = 1
try:
    while sent < 200:
        s.sendall(zero)
        sent += 1
    s.sendall(comp.flush(zlib.Z_SYNC_FLUSH))
except (BrokenPipeError, ConnectionResetError):
    pass
try:
    print(line())
except (SystemExit, ConnectionResetError):
    print("closed")
"#
    );
    let out = python(&script, &[&srv.port.to_string()]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "OK",
            "a2 OK DEFLATE active",
            "* BYE Command line longer than 65536 bytes",
        ]
    );
    // The server is still there for others; COMPRESS needs a login.
    let mut c = srv.connect();
    assert_eq!(
        c.cmd("COMPRESS DEFLATE"),
        ["TAG BAD COMPRESS needs a login first"]
    );
    let mut c = srv.login(ALICE);
    assert_eq!(c.cmd("NOOP"), ["TAG OK NOOP completed"]);
}
