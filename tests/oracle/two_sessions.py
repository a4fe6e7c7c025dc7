#!/usr/bin/env python3
"""Play a two-session IMAP exchange against a server and print it (the CONTEXT=SEARCH oracle
transcript tests/oracle/context_dovecot.txt). Not run by CI.

    python3 tests/oracle/two_sessions.py PORT < tests/oracle/context_exchange.txt

Each stdin line is `A command` or `B command` (the session that sends it); `TAG=t command`
sends with tag t; `APPENDMSG box subject` appends a small message with that subject.
"""
import socket, sys
port=int(sys.argv[1])
class C:
    def __init__(s,name):
        s.name=name; s.s=socket.create_connection(("127.0.0.1",port)); s.f=s.s.makefile("rb"); s.n=0
        s.f.readline()
    def cmd(s,c,lit=None,tag=None):
        s.n+=1; t=tag or "%s%d"%(s.name,s.n)
        if lit is not None:
            s.s.sendall(("%s %s {%d+}\r\n"%(t,c,len(lit))).encode()+lit+b"\r\n")
        else: s.s.sendall(("%s %s\r\n"%(t,c)).encode())
        print(s.name,">",t,c)
        while True:
            l=s.f.readline().decode(errors="replace").rstrip()
            print(s.name,"<",l)
            if l.startswith(t+" "): return
cs={"A":C("A"),"B":C("B")}
for line in sys.stdin:
    line=line.rstrip("\n")
    if not line or line.startswith("#"): continue
    who,rest=line.split(" ",1)
    c=cs[who]
    tag=None
    if rest.startswith("TAG="):
        tag,rest=rest[4:].split(" ",1)
    if rest.startswith("APPENDMSG "):
        _,box,subj=rest.split(" ",2)
        c.cmd("APPEND "+box, ("Subject: %s\r\nFrom: x@y\r\n\r\nbody\r\n"%subj).encode(),tag)
    else: c.cmd(rest,tag=tag)
