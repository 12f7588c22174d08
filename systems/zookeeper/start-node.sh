#!/usr/bin/env bash
# Starts one ZooKeeper server of a faultline cluster (Debian's `zookeeper` package, Java 17).
#
#   start-node.sh ID IP DATA_DIR PEERS
#
# ID is the node name n1..nN (myid = N), PEERS is `n1=IP1,n2=IP2,...` (the spec's `peer`
# template). Writes zoo.cfg, myid and a console-only log4j.properties into DATA_DIR, then execs
# java, so the harness' signals (SIGKILL, SIGSTOP) reach the server itself. A restarted node
# keeps its data dir (snapshots and transaction log) and rewrites the same config.
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 ID IP DATA_DIR PEERS" >&2
  exit 2
fi
id=$1 ip=$2 data_dir=$3 peers=$4
myid=${id#n}
case $myid in
  ''|*[!0-9]*) echo "$0: node id $id is not n<number>" >&2; exit 2 ;;
esac

mkdir -p "$data_dir/conf"
echo "$myid" >"$data_dir/myid"
cfg=$data_dir/conf/zoo.cfg
{
  echo "tickTime=200"
  echo "initLimit=10"
  echo "syncLimit=5"
  echo "dataDir=$data_dir"
  echo "clientPort=2181"
  echo "clientPortAddress=$ip"
  echo "4lw.commands.whitelist=srvr,mntr,ruok"
  echo "admin.enableServer=false"
  echo "standaloneEnabled=false"
  echo "quorumListenOnAllIPs=false"
  IFS=, read -ra entries <<<"$peers"
  for e in "${entries[@]}"; do
    name=${e%%=*} addr=${e#*=}
    echo "server.${name#n}=$addr:2888:3888"
  done
} >"$cfg"

cat >"$data_dir/conf/log4j.properties" <<'LOG'
log4j.rootLogger=INFO, CONSOLE
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
LOG

# The package's classpath (/etc/zookeeper/conf/environment): zookeeper.jar names its
# dependencies in its manifest. Our conf dir goes first so our log4j.properties wins.
classpath="$data_dir/conf:/usr/share/java/zookeeper.jar"
for jar in /usr/share/java/log4j-1.2.jar /usr/share/java/slf4j-log4j12.jar; do
  [ -f "$jar" ] && classpath="$classpath:$jar"
done
exec java -Xmx256m -XX:+UseSerialGC -Dzookeeper.log.dir="$data_dir" \
  -Dzookeeper.root.logger=INFO,CONSOLE -Dlog4j.configuration="file:$data_dir/conf/log4j.properties" \
  -cp "$classpath" org.apache.zookeeper.server.quorum.QuorumPeerMain "$cfg"
