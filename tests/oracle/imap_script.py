#!/usr/bin/env python3
"""Play an IMAP exchange against a server and print it (the oracle transcripts in
tests/oracle/dovecot-ext/). Not run by CI.

    printf '%s\n' 'LOGIN user1 pass' 'GETQUOTAROOT INBOX' 'APPEND INBOX 1500' | \
        python3 tests/oracle/imap_script.py PORT

One command per stdin line; `APPEND BOX N` appends a generated message of N octets.
"""
import socket, sys
port=int(sys.argv[1])
s=socket.create_connection(("127.0.0.1",port)); f=s.makefile("rb")
print(f.readline().decode().rstrip())
n=0
def cmd(c, lit=None):
    global n; n+=1; tag="a%d"%n
    if lit is not None:
        s.sendall(("%s %s {%d+}\r\n"%(tag,c,len(lit))).encode()+lit+b"\r\n")
    else:
        s.sendall(("%s %s\r\n"%(tag,c)).encode())
    print(">", c)
    while True:
        l=f.readline().decode(errors="replace").rstrip()
        print(l)
        if l.startswith(tag+" "): return
for line in sys.stdin:
    line=line.rstrip("\n")
    if line.startswith("APPEND "):
        box,size=line.split()[1:3]
        cmd("APPEND "+box, b"Subject: q\r\n\r\n"+b"x"*(int(size)-14))
    else:
        cmd(line)
