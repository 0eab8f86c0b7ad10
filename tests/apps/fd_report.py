#!/usr/bin/env python3
"""fd_report.py: a worker program for `herdless run` tests that reports what it was given.

  fd_report.py OUTPUT.json [stdlib_server.py options]

At start it writes OUTPUT.json (written to OUTPUT.json.tmp, then renamed, so a reader never
sees half a file; herdless has already replaced {worker} in the path):
  {"pid": 1234, "ppid": 1200,
   "env": {"LISTEN_FDS": "1", "LISTEN_PID": "1234", "LISTEN_FDNAMES": "...",
           "EINHORN_FDS": "3", "HERDLESS_WORKER": "0", "HERDLESS_WORKERS": "2",
           "NOTIFY_SOCKET": "@..."},            (null for a variable not set)
   "fds": {"0": {"target": "/dev/null"}, ...,
           "3": {"target": "socket:[56789]", "cloexec": false,
                 "socket": {"sockname": ["127.0.0.1", 40000], "family": "AF_INET",
                            "type": "SOCK_STREAM", "acceptconn": true, "reuseport": true}}}}
for every fd open in /proc/self/fd (except the one used to list it); "sockname" is
[host, port] for IP, a path ("@name" for an abstract name) for unix sockets.
Then, so that it is a live worker, it serves like stdlib_server.py (the same options:
--sleep-before-accept, --notify) on the first inherited socket, until SIGTERM (exit 0).
With no inherited socket it writes the report, then waits for SIGTERM.
"""
import fcntl
import json
import os
import signal
import socket
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stdlib_server  # noqa: E402

ENV_KEYS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "EINHORN_FDS",
            "HERDLESS_WORKER", "HERDLESS_WORKERS", "NOTIFY_SOCKET")


def enum_name(value, prefix, module=socket):
    for name in dir(module):
        if name.startswith(prefix) and getattr(module, name) == value:
            return name
    return value


def describe_socket(fd):
    """getsockname and a few options of the socket at fd, without taking ownership of fd."""
    sock = socket.socket(fileno=os.dup(fd))
    try:
        info = {}
        try:
            name = sock.getsockname()
            if isinstance(name, bytes):  # abstract unix name
                name = "@" + name[1:].decode(errors="replace") if name[:1] == b"\0" else name.decode()
            elif isinstance(name, str) and name.startswith("\0"):
                name = "@" + name[1:]
            info["sockname"] = list(name[:2]) if isinstance(name, tuple) else name
        except OSError as e:
            info["sockname_error"] = str(e)
        info["family"] = enum_name(sock.family, "AF_")
        info["type"] = enum_name(sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE), "SOCK_")
        info["acceptconn"] = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        try:
            info["reuseport"] = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))
        except OSError:
            info["reuseport"] = None
        return info
    finally:
        sock.close()


def open_fds():
    listing = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        names = os.listdir(listing)
    finally:
        os.close(listing)
    fds = {}
    for name in sorted(names, key=int):
        fd = int(name)
        if fd == listing:
            continue
        try:
            target = os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            continue  # closed meanwhile
        entry = {"target": target,
                 "cloexec": bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)}
        if target.startswith("socket:"):
            entry["socket"] = describe_socket(fd)
        fds[name] = entry
    return fds


def write_report(path):
    report = {"pid": os.getpid(), "ppid": os.getppid(),
              "env": {key: os.environ.get(key) for key in ENV_KEYS},
              "fds": open_fds()}
    with open(path + ".tmp", "w") as out:
        json.dump(report, out, indent=1)
        out.write("\n")
    os.rename(path + ".tmp", path)


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        print("usage: fd_report.py OUTPUT.json [--sleep-before-accept S] [--notify]", file=sys.stderr)
        return 2
    output = sys.argv.pop(1)
    # Listed before anything here opens a file or socket of its own.
    write_report(output)
    if not stdlib_server.inherited_fds():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            signal.pause()
    return stdlib_server.main()


if __name__ == "__main__":
    sys.exit(main())
