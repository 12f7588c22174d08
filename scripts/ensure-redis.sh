#!/usr/bin/env bash
# Makes sure `redis-server` and `redis-sentinel` (Debian's packages of those names) are on the
# PATH, for systems/redis-sentinel.toml and faultline's redis tests.
#
# As root on Debian, missing ones are installed with apt-get (after `apt-get update` if the
# package lists do not know them). Otherwise it prints exactly what to run and exits 2.
set -euo pipefail

missing=()
for bin in redis-server redis-sentinel; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "faultline: ${missing[*]} missing and this is not Debian: install Redis (server and sentinel) with your package manager" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "faultline: ${missing[*]} missing; run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 2
fi

echo "faultline: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages enable system-wide services on localhost; faultline starts its own daemons
# inside its namespaces and wants nothing else running, so services this install started stop.
if command -v systemctl >/dev/null 2>&1; then
  for svc in redis-server redis-sentinel; do
    if systemctl is-active --quiet "$svc" 2>/dev/null; then
      echo "faultline: stopping and disabling the $svc service that the package started" >&2
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
  done
fi
for bin in redis-server redis-sentinel; do
  command -v "$bin" >/dev/null 2>&1 || { echo "faultline: installed but \`$bin\` is not on the PATH" >&2; exit 2; }
done
redis-server --version >&2
