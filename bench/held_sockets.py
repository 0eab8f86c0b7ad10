#!/usr/bin/env python3
"""held_sockets.py: the TCP connections of a local port that given processes hold, counted on
the server side from /proc: the sockets of /proc/net/tcp{,6} with the port in the chosen
states whose inode is among each process's open descriptors. Used by bench/run_apps.sh (per
worker, ESTABLISHED) and bench/run_lifecycle.sh (a killed program's group, ESTABLISHED or
CLOSE_WAIT: accepted and not finished).

  held_sockets.py PORT PID...   prints the sum over PIDS (ESTABLISHED and CLOSE_WAIT)
"""
import os
import sys

ESTABLISHED, CLOSE_WAIT = "01", "08"


def port_inodes(port, states=(ESTABLISHED,)):
    """Inodes of the sockets whose local port is `port` and state one of `states`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] in states and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    return inodes


def held_by(pid, inodes):
    """How many of `inodes` are open descriptors of process `pid` (0 when it is gone)."""
    n = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            n += 1
    return n


if __name__ == "__main__":
    port, pids = int(sys.argv[1]), sys.argv[2:]
    inodes = port_inodes(port, (ESTABLISHED, CLOSE_WAIT))
    print(sum(held_by(pid, inodes) for pid in pids))
