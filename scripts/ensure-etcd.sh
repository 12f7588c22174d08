#!/usr/bin/env bash
# Makes sure an `etcd` binary (etcd 3.4, Debian's etcd-server package) is on the PATH, for
# systems/etcd.toml and faultline's etcd tests.
#
# As root on Debian, a missing etcd is installed with apt-get (after `apt-get update` if the
# package lists do not know it). Otherwise it prints exactly what to run and exits 2.
# It never downloads a binary from anywhere but the system's own package manager.
set -euo pipefail

if command -v etcd >/dev/null 2>&1; then
  exit 0
fi

if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "faultline: etcd is missing and this is not Debian: install etcd 3.4 (server) with your package manager so that \`etcd\` is on the PATH" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "faultline: etcd is missing; run as root:  apt-get update && apt-get install -y etcd-server" >&2
  exit 2
fi

echo "faultline: installing etcd-server with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends etcd-server >/dev/null 2>&1; then
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends etcd-server >/dev/null
fi
# The package enables a system-wide etcd service on localhost:2379; faultline starts its own
# members and wants nothing else running, so a service started by this install is stopped.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
  echo "faultline: stopping and disabling the etcd service that the package started" >&2
  systemctl disable --now etcd >/dev/null 2>&1 || true
fi
if ! command -v etcd >/dev/null 2>&1; then
  echo "faultline: etcd-server installed but \`etcd\` is not on the PATH" >&2
  exit 2
fi
etcd --version | head -1 >&2
