#!/usr/bin/env bash
# Prints what of the test bed runs. Exit status 0 when everything runs, 1 otherwise.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

all_up=0
# show NAME PIDFILE PATTERN PORT...
show() {
  local name="$1" pidfile="$2" pat="$3" state ports="" p
  shift 3
  for p in "$@"; do
    if port_open "$p"; then ports+=" $p:open"; else ports+=" $p:closed"; fi
  done
  if pid_alive "$pidfile" "$pat"; then
    state="running (pid $(cat "$pidfile"))"
  else
    state="stopped"
    all_up=1
  fi
  printf '%-20s %-22s 127.0.0.1%s\n' "$name" "$state" "$ports"
}

echo "state dir: $STATE"
for v in "$RMQ4_VERSION" "$RMQ5_VERSION"; do
  if lib_ready "$v"; then echo "RocketMQ $v jars: $(lib_dir "$v")"; else echo "RocketMQ $v jars: missing (run install.sh)"; fi
done
show mariadb "$MARIADB_DIR/mariadbd.pid" mariadbd "$MARIADB_PORT"
show rmq4-namesrv "$RMQ4_DIR/namesrv.pid" org.apache.rocketmq.namesrv.NamesrvStartup "$RMQ4_NAMESRV_PORT"
show rmq4-broker "$RMQ4_DIR/broker.pid" org.apache.rocketmq.broker.BrokerStartup "$RMQ4_BROKER_PORT"
show rmq5-namesrv "$RMQ5_DIR/namesrv.pid" org.apache.rocketmq.namesrv.NamesrvStartup "$RMQ5_NAMESRV_PORT"
show rmq5-broker+proxy "$RMQ5_DIR/broker.pid" org.apache.rocketmq.proxy.ProxyStartup \
  "$RMQ5_BROKER_PORT" "$RMQ5_PROXY_GRPC_PORT" "$RMQ5_PROXY_REMOTING_PORT"
show obstandin "$OB_DIR/obstandin.pid" obstandin "$OB_ODP_PORT" "$OB_BINLOG_PORT" "$OB_CONTROL_PORT"
show etcd "$ETCD_DIR/etcd.pid" etcd "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT"
if [[ -f "$STATE/env.sh" ]]; then echo "env: source $STATE/env.sh"; fi
exit "$all_up"
