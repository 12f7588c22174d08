#!/usr/bin/env bash
# Makes sure the system tools that faultline needs are present.
#
# Usage: scripts/ensure-deps.sh TOOL:PACKAGE...   e.g.  ip:iproute2 iptables:iptables
# As root on Debian, missing packages are installed with apt-get (after one `apt-get update`).
# Otherwise it stops and prints exactly what to run.
set -euo pipefail

missing_pkgs=()
for pair in "$@"; do
  tool=${pair%%:*}
  pkg=${pair#*:}
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ] && [ ! -x "/sbin/$tool" ]; then
    missing_pkgs+=("$pkg")
  fi
done
[ ${#missing_pkgs[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "faultline: missing ${missing_pkgs[*]}; run as root:  apt-get update && apt-get install -y ${missing_pkgs[*]}" >&2
  exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "faultline: missing ${missing_pkgs[*]} and this is not Debian (no apt-get): install them with your package manager" >&2
  exit 2
fi
echo "faultline: installing ${missing_pkgs[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${missing_pkgs[@]}" >/dev/null 2>&1; then
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends "${missing_pkgs[@]}" >/dev/null
fi
