#!/usr/bin/env bash
# The library as a user gets it: `cmake --install` of a build tree into a temporary prefix, then
# every example in examples/ copied out of the source tree and built against that prefix alone
# (its CMake package), line_echo once more through pkg-config, every installed header compiled
# on its own with only the prefix on the include path, and line_echo run for one exchange.
# Usage: scripts/check-install.sh [BUILD_DIR]   (part of `make test`)
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
server=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "check-install: $*" >&2; exit 1; }

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'libherdless.so' -print -quit)")
[[ -n "$libdir" && "$libdir" != . ]] || fail "no libherdless.so installed"
echo "installed: $(cd "$prefix" && find . -type f | sort | tr '\n' ' ')"

# Only the public headers are installed, and each compiles alone.
for header in "$prefix"/include/herdless/*.h; do
  echo "#include \"herdless/$(basename "$header")\"" |
    g++ -std=c++23 -fsyntax-only -Wall -Wextra -Werror -I "$prefix/include" -x c++ - ||
    fail "installed header $(basename "$header") does not compile on its own"
done
[[ ! -e "$prefix/include/herdless/worker.h" ]] || fail "an internal header was installed"

for dir in "$root"/examples/*/; do
  name=$(basename "$dir")
  cp -r "$dir" "$tmp/src-$name"
  cmake -S "$tmp/src-$name" -B "$tmp/build-$name" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/configure-$name.log" 2>&1 || { cat "$tmp/configure-$name.log"; fail "$name: configure"; }
  cmake --build "$tmp/build-$name" >"$tmp/build-$name.log" 2>&1 || { cat "$tmp/build-$name.log"; fail "$name: build"; }
  echo "example $name: built against the installed package"
done

# pkg-config, without CMake.
PKG_CONFIG_PATH=$libdir/pkgconfig g++ -std=c++23 -O2 -Wall -Wextra -Werror "$tmp/src-line_echo/line_echo.cc" \
  $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs herdless) -Wl,-rpath,"$libdir" \
  -o "$tmp/line_echo_pkgconfig" || fail "line_echo through pkg-config"
echo "example line_echo: built through pkg-config"

# One exchange with the installed build: 2 workers on a port the kernel chose free a moment ago.
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$tmp/build-line_echo/line_echo" --listen "tcp://127.0.0.1:$port" --workers 2 --admin off 2>"$tmp/server.log" &
server=$!
reply=""
for _ in $(seq 50); do
  reply=$(/usr/bin/python3 - "$port" <<'PY' 2>/dev/null || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"hel"); s.sendall(b"lo\n")
print(s.makefile().readline().strip())
PY
)
  [[ -n "$reply" ]] && break
  sleep 0.1
done
[[ "$reply" =~ ^w[01]\ HELLO$ ]] || { cat "$tmp/server.log"; fail "line_echo answered '$reply', wanted 'w0 HELLO' or 'w1 HELLO'"; }
kill -TERM "$server"
wait "$server" || fail "line_echo exited with $? after SIGTERM"
server=""
echo "example line_echo: '$reply' from the installed library, stopped cleanly"

# udp_session: one session's datagrams from 3 different source ports reach one worker, which
# counts them 1, 2, 3 (with session steering; without BPF privilege the kernel's hash may split
# them and the count restarts: then only the replies' form is checked).
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$tmp/build-udp_session/udp_session" --listen "udp://127.0.0.1:$port" --workers 2 --admin off 2>"$tmp/udp.log" &
server=$!
replies=$(/usr/bin/python3 - "$port" <<'PY'
import socket, sys, time
# First every worker serves: datagrams of other sessions until replies came from both (a
# datagram that arrives while a worker is still starting goes to the other one, and would
# start SESSION1's count there).
seen = set()
for n in range(400):
    if seen == {"0", "1"}:
        break
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        s.sendto(b"WARM%04d hello" % n, ("127.0.0.1", int(sys.argv[1])))
        words = s.recv(200).decode().split()
        if len(words) > 3 and words[2] == "worker":
            seen.add(words[3])
    except OSError:
        time.sleep(0.05)
for attempt in range(50):
    try:
        replies = []
        for _ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a new source port each time
            s.settimeout(0.5)
            s.sendto(b"SESSION1 hello", ("127.0.0.1", int(sys.argv[1])))
            replies.append(s.recv(200).decode().strip())
        print("|".join(replies))
        break
    except OSError:
        time.sleep(0.1)
PY
)
kill -TERM "$server"
wait "$server" || fail "udp_session exited with $? after SIGTERM"
server=""
pattern='^session SESSION1 worker ([01]) datagram 1\|session SESSION1 worker \1 datagram 2\|session SESSION1 worker \1 datagram 3$'
if [[ $(id -u) -eq 0 ]]; then
  [[ "$replies" =~ $pattern ]] || { cat "$tmp/udp.log"; fail "udp_session: '$replies'"; }
else
  [[ "$replies" == session\ SESSION1\ worker* ]] || fail "udp_session: '$replies'"
fi
echo "example udp_session: '$replies'"
