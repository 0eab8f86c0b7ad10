#!/usr/bin/env bash
# Installs the Debian packages herdless needs to build, test and benchmark; idempotent:
# does nothing (and needs no network) when every package is already installed.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libfmt-dev libspdlog-dev nlohmann-json3-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang llvm libbpf-dev bpftool libcap-dev
  iproute2 procps nginx libnginx-mod-stream wrk gnuplot-nox
  gunicorn python3-uvicorn
  redis-tools redis-server
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
# redis-server is only a baseline for bench/library_redis.sh, which starts its own on a free
# port: where the package started the system service (a host with systemd, or an init script
# that ran), stop it and keep it from starting at boot. In a container, policy-rc.d usually
# kept it from starting and this finds nothing to do.
if [[ " ${missing[*]} " == *" redis-server "* ]]; then
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    "${sudo_cmd[@]}" systemctl disable --now redis-server.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/redis-server ]; then
    "${sudo_cmd[@]}" /etc/init.d/redis-server stop >/dev/null 2>&1 || true
    "${sudo_cmd[@]}" update-rc.d redis-server disable >/dev/null 2>&1 || true
  fi
fi
