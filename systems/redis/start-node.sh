#!/usr/bin/env bash
# One Redis node for faultline: a redis-server (port 6379) and a redis-sentinel (port 26379) on
# the node's address, in the process group the harness started, so that its SIGKILL, SIGSTOP
# and SIGCONT of the node reach both. The sentinel runs in the background of this script,
# which then becomes the redis-server (exec): the harness's PID is the server's.
#
#   start-node.sh ID IP DATA_DIR PEERS      PEERS: n1=IP1,n2=IP2,... (n1 starts as master)
#
# Config files are written into DATA_DIR on the first start only: Redis and Sentinel rewrite
# them on a failover (CONFIG REWRITE of a reconfigured replica; the sentinel's known master,
# epochs, replicas and peers), and a restarted node must come back with what it had learnt.
set -euo pipefail
id=$1 ip=$2 dir=$3 peers=$4
IFS=, read -r -a nodes <<<"$peers"
master_ip=${nodes[0]#*=}
quorum=$(( ${#nodes[@]} / 2 + 1 ))
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ ! -f "$dir/redis.conf" ]; then
  {
    echo "bind $ip"
    echo "port 6379"
    echo "protected-mode no"
    echo "dir $dir"
    echo "daemonize no"
    echo "save \"\""
    echo "appendonly yes"
    echo "appendfsync everysec"
    if [ "$ip" != "$master_ip" ]; then
      echo "replicaof $master_ip 6379"
    fi
  } >"$dir/redis.conf"
fi
if [ ! -f "$dir/sentinel.conf" ]; then
  {
    echo "bind $ip"
    echo "port 26379"
    echo "protected-mode no"
    echo "dir $dir"
    echo "daemonize no"
    echo "sentinel monitor fl $master_ip 6379 $quorum"
    echo "sentinel down-after-milliseconds fl 1000"
    echo "sentinel failover-timeout fl 2000"
    echo "sentinel parallel-syncs fl 1"
  } >"$dir/sentinel.conf"
fi

echo "faultline: $id: redis-server and redis-sentinel on $ip (master at start: $master_ip, quorum $quorum)"
redis-sentinel "$dir/sentinel.conf" &
exec redis-server "$dir/redis.conf"
