#!/usr/bin/python3
"""A TCP proxy a test controls, to cut one process off from PostgreSQL (a partition)
while others keep their way to it. Usage: tcp_proxy.py UNIX_SOCKET_PATH
Listens on 127.0.0.1 (a free port, printed as "port N" on stdout), forwards each
connection to the Unix socket. SIGUSR1: the partition starts: every byte is dropped from
then on, both ways, on open and new connections, which stay open (a black hole, as a cut
network looks: no reset, no answer). SIGUSR2: it heals (bytes flow again on new
connections; the ones cut stay dead, as after a real partition)."""
import selectors
import signal
import socket
import sys

cut = False
dead = set()


def on_cut(*_):
    global cut
    cut = True


def on_heal(*_):
    global cut
    cut = False


signal.signal(signal.SIGUSR1, on_cut)
signal.signal(signal.SIGUSR2, on_heal)

sel = selectors.DefaultSelector()
lsn = socket.socket()
lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsn.bind(('127.0.0.1', 0))
lsn.listen(64)
lsn.setblocking(False)
sel.register(lsn, selectors.EVENT_READ, None)
print('port %d' % lsn.getsockname()[1], flush=True)


def close_pair(a, b):
    for s in (a, b):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        dead.discard(s)
        s.close()


while True:
    try:
        events = sel.select(timeout=0.5)
    except InterruptedError:
        continue
    for key, _ in events:
        s = key.fileobj
        if s is lsn:
            try:
                c, _ = lsn.accept()
            except BlockingIOError:
                continue
            up = socket.socket(socket.AF_UNIX)
            try:
                up.connect(sys.argv[1])
            except OSError:
                c.close()
                continue
            sel.register(c, selectors.EVENT_READ, up)
            sel.register(up, selectors.EVENT_READ, c)
            if cut:
                dead.update((c, up))
            continue
        peer = key.data
        try:
            data = s.recv(65536)
        except OSError:
            data = b''
        if not data:
            close_pair(s, peer)
            continue
        if cut:
            dead.update((s, peer))
        if s in dead:
            continue  # dropped: the partition
        try:
            peer.sendall(data)
        except OSError:
            close_pair(s, peer)
