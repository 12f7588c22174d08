#!/usr/bin/env bash
# Makes sure ZooKeeper (Debian's `zookeeper` package: /usr/share/java/zookeeper.jar) and a Java
# runtime are installed, for systems/zookeeper*.toml and faultline's ZooKeeper tests.
#
# As root on Debian, missing packages are installed with apt-get (after `apt-get update` if the
# package lists do not know them). Otherwise it prints exactly what to run and exits 2.
set -euo pipefail

have() { [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1; }
if have; then
  exit 0
fi
packages="zookeeper default-jre-headless"
if [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "faultline: ZooKeeper or Java is missing and this is not Debian: install ZooKeeper 3.8 and a Java runtime; systems/zookeeper/start-node.sh expects /usr/share/java/zookeeper.jar" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "faultline: ZooKeeper or Java is missing; run as root:  apt-get update && apt-get install -y $packages" >&2
  exit 2
fi
echo "faultline: installing $packages with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! apt-get install -y --no-install-recommends $packages >/dev/null 2>&1; then
  apt-get update >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $packages >/dev/null
fi
# The package may start a system-wide ZooKeeper service; faultline starts its own servers.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet zookeeper 2>/dev/null; then
  echo "faultline: stopping and disabling the zookeeper service that the package started" >&2
  systemctl disable --now zookeeper >/dev/null 2>&1 || true
fi
if ! have; then
  echo "faultline: installed $packages but /usr/share/java/zookeeper.jar or java is missing" >&2
  exit 2
fi
