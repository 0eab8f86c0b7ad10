#!/usr/bin/env python3
"""stdlib_server.py: a worker program for `herdless run` tests and benchmarks, standard
library only (works with /usr/bin/python3 and any python3 >= 3.8).

It takes its listening socket from the supervisor instead of binding one:
  * systemd socket activation: LISTEN_FDS=n (sockets at fd 3 .. 3+n-1), honoured only when
    LISTEN_PID equals this process's pid (as sd_listen_fds does);
  * otherwise einhorn: EINHORN_FDS="3 4 ..."; the first fd is used.
It answers every connection, once the request head (up to the blank line) is in or after
1 s without one, with an HTTP/1.0 200 whose body is `worker=<HERDLESS_WORKER> pid=<pid>\\n`,
then closes. One thread, non-blocking: a slow client delays no other.

Usage:
  stdlib_server.py [--sleep-before-accept SECONDS] [--notify]
    --sleep-before-accept S  sleep S seconds before the first accept (a slow start: the
                             socket already queues connections meanwhile)
    --notify                 once accepting, send READY=1 to $NOTIFY_SOCKET (a path, or
                             '@name' for an abstract socket), as sd_notify does
SIGTERM or SIGINT: stop accepting, answer what it accepted, exit 0 (during the sleep of
--sleep-before-accept they still kill it, the default action). Exit 2 if no listening
socket was passed.
"""
import argparse
import os
import selectors
import signal
import socket
import sys
import time


def inherited_fds():
    """The listening fds passed by LISTEN_FDS (if LISTEN_PID is ours) or EINHORN_FDS."""
    count = os.environ.get("LISTEN_FDS")
    if count is not None and os.environ.get("LISTEN_PID") == str(os.getpid()):
        return list(range(3, 3 + int(count)))
    einhorn = os.environ.get("EINHORN_FDS", "").split()
    return [int(fd) for fd in einhorn]


def listening_socket():
    fds = inherited_fds()
    if not fds:
        print("stdlib_server: no listening socket (LISTEN_FDS with LISTEN_PID=%d, or EINHORN_FDS)"
              % os.getpid(), file=sys.stderr)
        sys.exit(2)
    sock = socket.socket(fileno=fds[0])  # family and type come from the fd
    sock.setblocking(False)
    return sock


def notify(message):
    """sd_notify(message) to $NOTIFY_SOCKET; '@' starts an abstract name. False if unset."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(path)
        s.sendall(message.encode())
    return True


def reply_body():
    return "worker=%s pid=%d\n" % (os.environ.get("HERDLESS_WORKER", "?"), os.getpid())


HEAD_LIMIT = 65536
REQUEST_TIMEOUT = 1.0  # a client that sends no full request head is answered after this


def response():
    body = reply_body().encode()
    return ("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % len(body)).encode() + body


def answer(conn):
    """Writes the response (small: one send on a fresh socket) and closes."""
    try:
        conn.setblocking(True)
        conn.settimeout(1.0)
        conn.sendall(response())
    except OSError:
        pass
    finally:
        conn.close()


def serve(sock, on_accepting=None):
    """Accepts on `sock` and answers each connection once its request head (up to the blank
    line) is in, until SIGTERM/SIGINT; calls on_accepting() when about to accept."""
    stopping = []
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)

    def stop(_signum, _frame):
        stopping.append(True)
        try:
            os.write(wake_w, b"x")
        except OSError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "listen")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    pending = {}  # conn -> [received bytes, deadline]
    if on_accepting:
        on_accepting()
    listening = True
    while listening or pending:
        if stopping and listening:
            # Graceful stop: take no new connection (they wait in the queue for the next
            # program), answer every one already accepted, then exit.
            sel.unregister(sock)
            listening = False
        now = time.monotonic()
        timeout = min((d for _, d in pending.values()), default=now + 1.0) - now
        for key, _ in sel.select(max(timeout, 0)):
            if key.data == "listen":
                while True:
                    try:
                        conn, _ = sock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except ConnectionAbortedError:
                        continue
                    conn.setblocking(False)
                    pending[conn] = [b"", time.monotonic() + REQUEST_TIMEOUT]
                    sel.register(conn, selectors.EVENT_READ, "conn")
            elif key.data == "wake":
                os.read(wake_r, 64)  # drained, or select would return at once from now on
            elif key.data == "conn":
                conn = key.fileobj
                state = pending[conn]
                try:
                    chunk = conn.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                state[0] += chunk
                head = state[0]
                if not chunk or b"\r\n\r\n" in head or b"\n\n" in head or len(head) >= HEAD_LIMIT:
                    sel.unregister(conn)
                    del pending[conn]
                    answer(conn)
        now = time.monotonic()
        for conn in [c for c, (_, d) in pending.items() if d <= now]:
            sel.unregister(conn)
            del pending[conn]
            answer(conn)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sleep-before-accept", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--notify", action="store_true", help="send READY=1 to NOTIFY_SOCKET once accepting")
    args = parser.parse_args()
    sock = listening_socket()
    if args.sleep_before_accept > 0:
        time.sleep(args.sleep_before_accept)
    serve(sock, on_accepting=(lambda: notify("READY=1")) if args.notify else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
