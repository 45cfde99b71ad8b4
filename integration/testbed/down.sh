#!/usr/bin/env bash
# Stops what up.sh started (SIGTERM, up to 30 s, then SIGKILL), using its pid files.
#
#   down.sh [--purge] [mariadb] [rmq4] [rmq5] [obstandin] [etcd]     (default: all)
#
# --purge also removes the data dirs (MariaDB datadir and binlogs, RocketMQ stores,
# etcd data, logs, env.sh); the downloaded jars under lib/ are kept.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PURGE=0 WANT=()
for a in "$@"; do
  case "$a" in
  --purge) PURGE=1 ;;
  mariadb | mysql | rmq4 | rmq5 | obstandin | etcd) WANT+=("${a/mysql/mariadb}") ;;
  all) WANT+=(mariadb rmq4 rmq5 obstandin etcd) ;;
  -h | --help)
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown argument '$a'" ;;
  esac
done
((${#WANT[@]} == 0)) && WANT=(mariadb rmq4 rmq5 obstandin etcd)
want() { [[ " ${WANT[*]} " == *" $1 "* ]]; }
# The OceanBase stand-in lives on MariaDB: it goes down with it.
want mariadb && ! want obstandin && WANT+=(obstandin)

# The stand-in first: it reads MariaDB's binlog.
want obstandin && stop_pidfile "$OB_DIR/obstandin.pid" obstandin obstandin

# Brokers first (in parallel) so they can unregister from running name servers.
pids=()
want rmq5 && { stop_pidfile "$RMQ5_DIR/broker.pid" "rmq5 broker+proxy" org.apache.rocketmq.proxy.ProxyStartup & pids+=($!); }
want rmq4 && { stop_pidfile "$RMQ4_DIR/broker.pid" "rmq4 broker" org.apache.rocketmq.broker.BrokerStartup & pids+=($!); }
for p in "${pids[@]}"; do wait "$p"; done
pids=()
want rmq5 && { stop_pidfile "$RMQ5_DIR/namesrv.pid" "rmq5 name server" org.apache.rocketmq.namesrv.NamesrvStartup & pids+=($!); }
want rmq4 && { stop_pidfile "$RMQ4_DIR/namesrv.pid" "rmq4 name server" org.apache.rocketmq.namesrv.NamesrvStartup & pids+=($!); }
want mariadb && { stop_pidfile "$MARIADB_DIR/mariadbd.pid" mariadb mariadbd & pids+=($!); }
want etcd && { stop_pidfile "$ETCD_DIR/etcd.pid" etcd etcd & pids+=($!); }
for p in "${pids[@]}"; do wait "$p"; done

if ((PURGE)); then
  want mariadb && rm -rf "$MARIADB_DIR"
  want rmq4 && rm -rf "$RMQ4_DIR"
  want rmq5 && rm -rf "$RMQ5_DIR"
  # its converted binlog follows MariaDB's positions
  want obstandin && rm -rf "$OB_DIR"
  want etcd && rm -rf "$ETCD_DIR"
  if want mariadb && want rmq4 && want rmq5; then
    rm -rf "$BIN_DIR" "$STATE/env.sh"
  fi
  log "purged data of: ${WANT[*]} (jars kept in $STATE/lib)"
fi
log "down: ${WANT[*]}"
