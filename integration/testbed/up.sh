#!/usr/bin/env bash
# Starts the integration test bed on 127.0.0.1 (anything already running and healthy
# is left alone), creates the smoke-test topics and writes $FERRY_TESTBED_DIR/env.sh.
#
#   up.sh                  # everything below
#   up.sh mariadb rmq5     # only these
#   up.sh obstandin        # only the OceanBase stand-in (needs mariadb)
#   up.sh etcd             # only etcd
#
# Components:
#   mariadb  MariaDB (ROW binlog, FULL row image, GTID) on $FERRY_MARIADB_PORT (13306)
#   rmq4     RocketMQ 4.9.x name server (19876) + broker (10911)
#   rmq5     RocketMQ 5.3.x name server (29876) + broker (20911) and gRPC proxy
#            (28081, remoting 28080) in one JVM (ProxyStartup -pm local)
#   obstandin OceanBase ODP (12881) + Binlog Service (12882) stand-in, HTTP knobs 12883,
#            built from integration/cmd/obstandin, backed by mariadb
#   etcd     etcd 3.4 (Debian's etcd-server) on 12379 (peer 12380), one member, for the
#            shared checkpoint stores (HA tests)
# Ports and the state dir can be overridden, see common.sh. Run install.sh first.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WANT_MARIADB=0 WANT_RMQ4=0 WANT_RMQ5=0 WANT_OB=0 WANT_ETCD=0
parse_args() {
  (($# == 0)) && set -- mariadb rmq4 rmq5 obstandin etcd
  local a
  for a in "$@"; do
    case "$a" in
    mariadb | mysql) WANT_MARIADB=1 ;;
    rmq4 | rocketmq4) WANT_RMQ4=1 ;;
    rmq5 | rocketmq5) WANT_RMQ5=1 ;;
    obstandin | ob) WANT_OB=1 ;;
    etcd) WANT_ETCD=1 ;;
    all) WANT_MARIADB=1 WANT_RMQ4=1 WANT_RMQ5=1 WANT_OB=1 WANT_ETCD=1 ;;
    -h | --help)
      sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown component '$a' (want: mariadb rmq4 rmq5 obstandin etcd)" ;;
    esac
  done
}

# ----------------------------------------------------------------------------
# MariaDB
# ----------------------------------------------------------------------------
MARIADB_SOCK="$MARIADB_DIR/mysqld.sock"
MARIADB_PID="$MARIADB_DIR/mariadbd.pid"
MARIADB_ERR="$MARIADB_DIR/mariadbd.err"

# shellcheck disable=SC2120
mariadb_root() { mariadb --no-defaults --protocol=socket --socket="$MARIADB_SOCK" -uroot "$@"; }
mariadb_ping() { mariadb-admin --no-defaults --protocol=socket --socket="$MARIADB_SOCK" -uroot ping >/dev/null 2>&1; }
mariadb_healthy() { pid_alive "$MARIADB_PID" mariadbd && mariadb_ping && port_open "$MARIADB_PORT"; }

start_mariadb() {
  command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] || die "mariadbd not installed: run install.sh"
  export PATH="$PATH:/usr/sbin"
  if mariadb_healthy; then
    log "mariadb already running on 127.0.0.1:$MARIADB_PORT (pid $(cat "$MARIADB_PID"))"
  else
    stop_pidfile "$MARIADB_PID" mariadb mariadbd
    if port_open "$MARIADB_PORT"; then
      die "port $MARIADB_PORT is taken by another process (set FERRY_MARIADB_PORT)"
    fi
    mkdir -p "$MARIADB_DIR/binlog" "$MARIADB_DIR/tmp"
    if [[ ! -d "$MARIADB_DIR/data/mysql" ]]; then
      log "initialising MariaDB datadir $MARIADB_DIR/data"
      rm -rf "$MARIADB_DIR/data"
      if ! mariadb-install-db --no-defaults --datadir="$MARIADB_DIR/data" --user="$(id -un)" \
        --auth-root-authentication-method=normal --skip-test-db >"$MARIADB_DIR/install-db.log" 2>&1; then
        tail_log "$MARIADB_DIR/install-db.log"
        die "mariadb-install-db failed"
      fi
    fi
    log "starting mariadb on 127.0.0.1:$MARIADB_PORT"
    : >"$MARIADB_ERR"
    setsid mariadbd --no-defaults \
      --datadir="$MARIADB_DIR/data" --user="$(id -un)" \
      --bind-address=127.0.0.1 --port="$MARIADB_PORT" --socket="$MARIADB_SOCK" \
      --pid-file="$MARIADB_PID" --log-error="$MARIADB_ERR" --tmpdir="$MARIADB_DIR/tmp" \
      --server-id=1 --log-bin="$MARIADB_DIR/binlog/mysql-bin" --binlog-format=ROW \
      --binlog-row-image=FULL --gtid-strict-mode=1 --log-slave-updates=1 \
      --expire-logs-days=3 --max-binlog-size=64M --skip-name-resolve \
      --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
      --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 \
      --max-connections=500 \
      </dev/null >>"$MARIADB_DIR/mariadbd.out" 2>&1 &
    if ! wait_for mariadb "$READY_TIMEOUT" mariadb_healthy; then
      tail_log "$MARIADB_ERR" "$MARIADB_DIR/mariadbd.out"
      die "mariadb did not become ready"
    fi
  fi
  # Idempotent provisioning (a few milliseconds).
  local u="$MARIADB_USER" p="$MARIADB_PASSWORD"
  # shellcheck disable=SC2119
  # max_binlog_size also on a server started before it was a start option (dynamic): a
  # replica starting from a GTID makes MariaDB scan the current binlog file from its start
  # (10.11 has no GTID index), which the HA tests' failover time includes.
  mariadb_root <<SQL
SET GLOBAL max_binlog_size = 67108864;
DROP USER IF EXISTS ''@'localhost';
DROP USER IF EXISTS ''@'$(hostname)';
CREATE USER IF NOT EXISTS '$u'@'%' IDENTIFIED BY '$p';
ALTER USER '$u'@'%' IDENTIFIED BY '$p';
GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO '$u'@'%';
CREATE DATABASE IF NOT EXISTS ferry_test;
GRANT ALL PRIVILEGES ON \`ferry_test\`.* TO '$u'@'%';
GRANT ALL PRIVILEGES ON \`ferry\\_%\`.* TO '$u'@'%';
SQL
  log "mariadb ready: 127.0.0.1:$MARIADB_PORT user $u (root over socket $MARIADB_SOCK)"
}

# ----------------------------------------------------------------------------
# OceanBase stand-in (integration/obstandin)
# ----------------------------------------------------------------------------
OB_PID="$OB_DIR/obstandin.pid"
OB_BIN="$BIN_DIR/obstandin"
ob_healthy() { pid_alive "$OB_PID" obstandin && port_open "$OB_ODP_PORT" && port_open "$OB_BINLOG_PORT"; }

start_obstandin() {
  local repo
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  mkdir -p "$OB_DIR" "$BIN_DIR"
  # Always rebuild (fast when cached) so a changed stand-in is what runs.
  log "building obstandin"
  (cd "$repo" && go build -o "$OB_BIN.tmp" ./integration/cmd/obstandin) || die "obstandin build failed"
  if ob_healthy && cmp -s "$OB_BIN.tmp" "$OB_BIN"; then
    rm -f "$OB_BIN.tmp"
    log "obstandin already running (pid $(cat "$OB_PID")): ODP 127.0.0.1:$OB_ODP_PORT, binlog 127.0.0.1:$OB_BINLOG_PORT"
    return 0
  fi
  stop_pidfile "$OB_PID" obstandin obstandin
  mv -f "$OB_BIN.tmp" "$OB_BIN"
  check_port_free "$OB_ODP_PORT" "obstandin ODP role"
  check_port_free "$OB_BINLOG_PORT" "obstandin Binlog Service role"
  check_port_free "$OB_CONTROL_PORT" "obstandin control"
  [[ -f "$OB_DIR/obstandin.log" ]] && mv -f "$OB_DIR/obstandin.log" "$OB_DIR/obstandin.log.1"
  local ob_user="${OB_USER%%@*}"
  ob_user="${ob_user##*:}"
  log "starting obstandin: ODP 127.0.0.1:$OB_ODP_PORT, binlog 127.0.0.1:$OB_BINLOG_PORT, knobs 127.0.0.1:$OB_CONTROL_PORT"
  # shellcheck disable=SC2086 # FERRY_OB_ARGS is a list of flags
  setsid "$OB_BIN" -mariadb "127.0.0.1:$MARIADB_PORT" -mariadb-user "$MARIADB_USER" -mariadb-password "$MARIADB_PASSWORD" \
    -users "$ob_user:$OB_PASSWORD" -odp "127.0.0.1:$OB_ODP_PORT" -binlog "127.0.0.1:$OB_BINLOG_PORT" \
    -control "127.0.0.1:$OB_CONTROL_PORT" -store "$OB_DIR/binlog" ${FERRY_OB_ARGS:-} \
    </dev/null >"$OB_DIR/obstandin.log" 2>&1 &
  echo $! >"$OB_PID"
  if ! wait_for obstandin "$READY_TIMEOUT" ob_healthy; then
    tail_log "$OB_DIR/obstandin.log"
    stop_pidfile "$OB_PID" obstandin obstandin
    die "obstandin did not start"
  fi
  log "obstandin ready"
}

# ----------------------------------------------------------------------------
# etcd (Debian's etcd-server; install.sh installs it and keeps its service off)
# ----------------------------------------------------------------------------
ETCD_PID="$ETCD_DIR/etcd.pid"
ETCD_BIN="${FERRY_ETCD_BIN:-/usr/bin/etcd}"
etcd_healthy() {
  pid_alive "$ETCD_PID" etcd && port_open "$ETCD_CLIENT_PORT" &&
    curl -fsS -m 2 "http://127.0.0.1:$ETCD_CLIENT_PORT/health" 2>/dev/null | grep -q '"health":"true"'
}

start_etcd() {
  [[ -x "$ETCD_BIN" ]] || die "etcd not installed ($ETCD_BIN): run install.sh"
  if etcd_healthy; then
    log "etcd already running on 127.0.0.1:$ETCD_CLIENT_PORT (pid $(cat "$ETCD_PID"))"
    return 0
  fi
  stop_pidfile "$ETCD_PID" etcd etcd
  check_port_free "$ETCD_CLIENT_PORT" "etcd client"
  check_port_free "$ETCD_PEER_PORT" "etcd peer"
  mkdir -p "$ETCD_DIR"
  [[ -f "$ETCD_DIR/etcd.log" ]] && mv -f "$ETCD_DIR/etcd.log" "$ETCD_DIR/etcd.log.1"
  log "starting etcd ($("$ETCD_BIN" --version | head -1)) on 127.0.0.1:$ETCD_CLIENT_PORT"
  # One member, loopback only; the data dir survives restarts (down.sh --purge removes it).
  # ETCD_UNSUPPORTED_ARCH is unset on purpose: amd64 and arm64 are supported.
  setsid "$ETCD_BIN" --name ferry-testbed --data-dir "$ETCD_DIR/data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "ferry-testbed=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state new --initial-cluster-token ferry-testbed \
    --auto-compaction-mode revision --auto-compaction-retention 10000 \
    --quota-backend-bytes $((1 << 30)) \
    </dev/null >"$ETCD_DIR/etcd.log" 2>&1 &
  echo $! >"$ETCD_PID"
  if ! wait_for etcd "$READY_TIMEOUT" etcd_healthy; then
    tail_log "$ETCD_DIR/etcd.log"
    stop_pidfile "$ETCD_PID" etcd etcd
    die "etcd did not start"
  fi
  log "etcd ready: http://127.0.0.1:$ETCD_CLIENT_PORT"
}

# ----------------------------------------------------------------------------
# RocketMQ
# ----------------------------------------------------------------------------
# rmq_vars 4|5: sets V DIR NS_PORT BR_PORT for that major version.
rmq_vars() {
  case "$1" in
  4) V="$RMQ4_VERSION" DIR="$RMQ4_DIR" NS_PORT="$RMQ4_NAMESRV_PORT" BR_PORT="$RMQ4_BROKER_PORT" ;;
  5) V="$RMQ5_VERSION" DIR="$RMQ5_DIR" NS_PORT="$RMQ5_NAMESRV_PORT" BR_PORT="$RMQ5_BROKER_PORT" ;;
  *) die "bad RocketMQ major $1" ;;
  esac
  lib_ready "$V" || die "RocketMQ $V jars missing: run install.sh"
}

# shellcheck disable=SC2034 # used through ${!main}
BROKER_MAIN_4=org.apache.rocketmq.broker.BrokerStartup
# shellcheck disable=SC2034
BROKER_MAIN_5=org.apache.rocketmq.proxy.ProxyStartup
NAMESRV_MAIN=org.apache.rocketmq.namesrv.NamesrvStartup

logback_conf() { # logback_conf FILE-BASENAME ROOT-LEVEL
  cat <<XML
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by ferry integration/testbed/up.sh: minimal logging for the test bed. -->
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>\${user.home}/logs/rocketmqlogs/$1.log</file>
    <append>true</append>
    <encoder><pattern>%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%t] %c{0} - %m%n</pattern></encoder>
  </appender>
  <root level="$2"><appender-ref ref="FILE"/></root>
</configuration>
XML
}

# rmq_prepare 4|5: writes homes, configs and the mqadmin wrapper.
rmq_prepare() {
  local major="$1" V DIR NS_PORT BR_PORT
  rmq_vars "$major"
  # Each JVM gets its own user.home: RocketMQ writes its logs (and the name
  # server its kvConfig) under it.
  mkdir -p "$DIR/home/conf" "$DIR/namesrv-home" "$DIR/broker-home" "$DIR/tools-home" \
    "$DIR/store/commitlog" "$BIN_DIR"
  if [[ "$major" == 4 ]]; then
    logback_conf namesrv INFO >"$DIR/home/conf/logback_namesrv.xml"
    logback_conf broker INFO >"$DIR/home/conf/logback_broker.xml"
    logback_conf tools WARN >"$DIR/home/conf/logback_tools.xml"
  fi
  {
    echo "listenPort=$NS_PORT"
    # bindAddress is honoured by 5.x only; 4.9.x always binds the wildcard address.
    echo "bindAddress=127.0.0.1"
    if [[ "$major" == 5 ]]; then
      # The 5.x name server keeps a client pointed at <first non-loopback IP>:<port>
      # and probes it every 3 s: switch the probing off (it would leave loopback).
      echo "scanAvailableNameSrv=false"
    fi
  } >"$DIR/namesrv.conf"
  cat >"$DIR/broker.conf" <<CONF
brokerClusterName=DefaultCluster
brokerName=ferry-rmq$major
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
namesrvAddr=127.0.0.1:$NS_PORT
brokerIP1=127.0.0.1
brokerIP2=127.0.0.1
bindAddress=127.0.0.1
listenPort=$BR_PORT
storePathRootDir=$DIR/store
storePathCommitLog=$DIR/store/commitlog
mappedFileSizeCommitLog=67108864
autoCreateTopicEnable=true
autoCreateSubscriptionGroup=true
traceTopicEnable=true
diskMaxUsedSpaceRatio=95
deleteWhen=04
fileReservedTime=48
waitTimeMillsInSendQueue=1000
CONF
  if [[ "$major" == 5 ]]; then
    cat >"$DIR/rmq-proxy.json" <<JSON
{
  "rocketMQClusterName": "DefaultCluster",
  "namesrvAddr": "127.0.0.1:$NS_PORT",
  "grpcServerPort": $RMQ5_PROXY_GRPC_PORT,
  "remotingListenPort": $RMQ5_PROXY_REMOTING_PORT,
  "localServeAddr": "127.0.0.1",
  "remotingAccessAddr": "127.0.0.1",
  "proxyMode": "local"
}
JSON
  fi
  # Self-contained mqadmin wrapper (NAMESRV_ADDR is always set: without it the
  # client would look up a name server through a public address server).
  local w="$BIN_DIR/mqadmin-$major"
  cat >"$w.tmp" <<SH
#!/usr/bin/env bash
# Generated by ferry integration/testbed/up.sh: mqadmin for RocketMQ $V.
export NAMESRV_ADDR="\${NAMESRV_ADDR:-127.0.0.1:$NS_PORT}"
exec java ${JVM_TOOLS[*]} ${JVM_OPENS[*]} \\
  -Drocketmq.home.dir="$DIR/home" -Duser.home="$DIR/tools-home" \\
  -Drocketmq.namesrv.addr="\$NAMESRV_ADDR" \\
  -cp "$(rmq_classpath "$V")" org.apache.rocketmq.tools.command.MQAdminStartup "\$@"
SH
  chmod +x "$w.tmp"
  mv "$w.tmp" "$w"
}

namesrv_healthy() {
  local V DIR NS_PORT BR_PORT
  rmq_vars "$1"
  pid_alive "$DIR/namesrv.pid" "$NAMESRV_MAIN" && port_open "$NS_PORT"
}

broker_healthy() {
  local V DIR NS_PORT BR_PORT main
  rmq_vars "$1"
  main="BROKER_MAIN_$1"
  pid_alive "$DIR/broker.pid" "${!main}" || return 1
  if [[ "$1" == 4 ]]; then
    # BrokerStartup prints this after registering with the name server.
    grep -q "boot success" "$DIR/broker.out" 2>/dev/null || return 1
    port_open "$BR_PORT" || return 1
  else
    # ProxyStartup prints this once the broker (registered) and the proxy run;
    # the broker's own "boot success" goes to broker_default.log on 5.x.
    grep -q "rocketmq-proxy startup successfully" "$DIR/broker.out" 2>/dev/null || return 1
    port_open "$BR_PORT" || return 1
    port_open "$RMQ5_PROXY_GRPC_PORT" || return 1
    port_open "$RMQ5_PROXY_REMOTING_PORT" || return 1
    # The 5.x broker registers only once its client has probed the name server,
    # which start() does not wait for: the first registration that reaches the
    # name server is the periodic one, about 10 s after start.
    grep -q "Registering current broker to name server completed" \
      "$DIR/broker-home/logs/rocketmqlogs/broker.log" 2>/dev/null || return 1
  fi
}

# rotate_logs OUTFILE LOGDIR: keeps the previous run's stdout and log dir as *.1 /
# *.prev so that readiness checks only see lines of the new run.
rotate_logs() {
  [[ -f "$1" ]] && mv -f "$1" "$1.1"
  if [[ -d "$2" ]]; then
    rm -rf "$2.prev"
    mv "$2" "$2.prev"
  fi
  return 0
}

check_port_free() { # check_port_free PORT WHAT
  if port_open "$1"; then
    die "port $1 ($2) is taken by another process; stop it or override the port (see common.sh)"
  fi
}

# start_namesrv 4|5: starts the name server unless it runs; records in
# NS_STARTED[major] whether it was (re)started now.
declare -A NS_STARTED=()
start_namesrv() {
  local major="$1" V DIR NS_PORT BR_PORT
  rmq_vars "$major"
  if namesrv_healthy "$major"; then
    log "rmq$major name server already running on 127.0.0.1:$NS_PORT"
    NS_STARTED[$major]=0
    return 0
  fi
  NS_STARTED[$major]=1
  stop_pidfile "$DIR/namesrv.pid" "rmq$major name server" "$NAMESRV_MAIN"
  check_port_free "$NS_PORT" "rmq$major name server"
  log "starting rmq$major name server ($V) on 127.0.0.1:$NS_PORT"
  rotate_logs "$DIR/namesrv.out" "$DIR/namesrv-home/logs"
  setsid java "${JVM_NAMESRV[@]}" "${JVM_OPENS[@]}" \
    -Drocketmq.home.dir="$DIR/home" -Duser.home="$DIR/namesrv-home" \
    -cp "$(rmq_classpath "$V")" "$NAMESRV_MAIN" -c "$DIR/namesrv.conf" \
    </dev/null >"$DIR/namesrv.out" 2>&1 &
  echo $! >"$DIR/namesrv.pid"
}

wait_namesrv() {
  local major="$1" V DIR NS_PORT BR_PORT
  rmq_vars "$major"
  ns_ready() { namesrv_healthy "$major" && grep -q "boot success" "$DIR/namesrv.out"; }
  if ! wait_for "rmq$major name server" "$READY_TIMEOUT" ns_ready; then
    tail_log "$DIR/namesrv.out" "$DIR/namesrv-home/logs/rocketmqlogs/namesrv.log"
    stop_pidfile "$DIR/namesrv.pid" "rmq$major name server" "$NAMESRV_MAIN"
    die "rmq$major name server did not start"
  fi
  log "rmq$major name server ready"
}

# start_broker 4|5 RESTART: RESTART=1 restarts a running broker (its name server was
# restarted, so it would take up to 30 s to register again).
start_broker() {
  local major="$1" restart="$2" V DIR NS_PORT BR_PORT main
  rmq_vars "$major"
  main="BROKER_MAIN_$major"
  if [[ "$restart" == 0 ]] && broker_healthy "$major"; then
    log "rmq$major broker already running on 127.0.0.1:$BR_PORT"
    return 0
  fi
  stop_pidfile "$DIR/broker.pid" "rmq$major broker" "${!main}"
  check_port_free "$BR_PORT" "rmq$major broker listenPort"
  check_port_free "$((BR_PORT - 2))" "rmq$major broker fast port (listenPort-2)"
  check_port_free "$((BR_PORT + 1))" "rmq$major broker HA port (listenPort+1)"
  local args=(-c "$DIR/broker.conf" -n "127.0.0.1:$NS_PORT")
  if [[ "$major" == 5 ]]; then
    check_port_free "$RMQ5_PROXY_GRPC_PORT" "rmq5 proxy gRPC"
    check_port_free "$RMQ5_PROXY_REMOTING_PORT" "rmq5 proxy remoting"
    args=(-pm local -bc "$DIR/broker.conf" -pc "$DIR/rmq-proxy.json" -n "127.0.0.1:$NS_PORT")
    log "starting rmq5 broker + gRPC proxy ($V) on 127.0.0.1:$BR_PORT, grpc :$RMQ5_PROXY_GRPC_PORT"
  else
    log "starting rmq4 broker ($V) on 127.0.0.1:$BR_PORT"
  fi
  rotate_logs "$DIR/broker.out" "$DIR/broker-home/logs"
  setsid java "${JVM_BROKER[@]}" "${JVM_OPENS[@]}" \
    -Drocketmq.home.dir="$DIR/home" -Duser.home="$DIR/broker-home" \
    -cp "$(rmq_classpath "$V")" "${!main}" "${args[@]}" \
    </dev/null >"$DIR/broker.out" 2>&1 &
  echo $! >"$DIR/broker.pid"
}

wait_broker() {
  local major="$1" V DIR NS_PORT BR_PORT main
  rmq_vars "$major"
  main="BROKER_MAIN_$major"
  br_ready() { broker_healthy "$major"; }
  if ! wait_for "rmq$major broker" "$READY_TIMEOUT" br_ready; then
    local logs=("$DIR/broker.out" "$DIR/broker-home/logs/rocketmqlogs/broker.log")
    [[ "$major" == 5 ]] && logs+=("$DIR/broker-home/logs/rocketmqlogs/broker_default.log"
      "$DIR/broker-home/logs/rocketmqlogs/proxy.log")
    tail_log "${logs[@]}"
    stop_pidfile "$DIR/broker.pid" "rmq$major broker" "${!main}"
    die "rmq$major broker did not start"
  fi
  log "rmq$major broker ready"
}

# ensure_topic 4|5 TOPIC QUEUES [mqadmin args...]: creates the topic unless the
# broker's topic config already lists it.
ensure_topic() {
  local major="$1" topic="$2" queues="$3" V DIR NS_PORT BR_PORT out
  shift 3
  rmq_vars "$major"
  if grep -q "\"$topic\"" "$DIR/store/config/topics.json" 2>/dev/null; then
    return 0
  fi
  if ! out="$("$BIN_DIR/mqadmin-$major" updateTopic -n "127.0.0.1:$NS_PORT" -c DefaultCluster \
    -t "$topic" -r "$queues" -w "$queues" "$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "rmq$major: could not create topic $topic"
  fi
  grep -q "success" <<<"$out" || { printf '%s\n' "$out" >&2; die "rmq$major: updateTopic $topic did not report success"; }
  log "rmq$major: topic $topic created ($queues queues${*:+, $*})"
}

write_env() {
  mkdir -p "$STATE"
  cat >"$STATE/env.sh.tmp" <<ENV
# Generated by ferry integration/testbed/up.sh; source it to talk to the test bed.
export FERRY_TESTBED_DIR='$STATE'
export FERRY_MARIADB_ADDR='127.0.0.1:$MARIADB_PORT'
export FERRY_MARIADB_USER='$MARIADB_USER'
export FERRY_MARIADB_PASSWORD='$MARIADB_PASSWORD'
export FERRY_MARIADB_SOCKET='$MARIADB_SOCK'
export FERRY_MARIADB_DSN='$MARIADB_USER:$MARIADB_PASSWORD@tcp(127.0.0.1:$MARIADB_PORT)/'
export FERRY_RMQ4_VERSION='$RMQ4_VERSION'
export FERRY_RMQ4_NAMESRV='127.0.0.1:$RMQ4_NAMESRV_PORT'
export FERRY_RMQ4_BROKER='127.0.0.1:$RMQ4_BROKER_PORT'
export FERRY_RMQ5_VERSION='$RMQ5_VERSION'
export FERRY_RMQ5_NAMESRV='127.0.0.1:$RMQ5_NAMESRV_PORT'
export FERRY_RMQ5_BROKER='127.0.0.1:$RMQ5_BROKER_PORT'
export FERRY_RMQ5_PROXY='127.0.0.1:$RMQ5_PROXY_GRPC_PORT'
export FERRY_RMQ5_PROXY_REMOTING='127.0.0.1:$RMQ5_PROXY_REMOTING_PORT'
export FERRY_RMQ_MQADMIN_4='$BIN_DIR/mqadmin-4'
export FERRY_RMQ_MQADMIN_5='$BIN_DIR/mqadmin-5'
export FERRY_OB_ADDR='127.0.0.1:$OB_ODP_PORT'
export FERRY_OB_BINLOG_ADDR='127.0.0.1:$OB_BINLOG_PORT'
export FERRY_OB_CONTROL_ADDR='127.0.0.1:$OB_CONTROL_PORT'
export FERRY_OB_USER='$OB_USER'
export FERRY_OB_PASSWORD='$OB_PASSWORD'
export FERRY_ETCD_ENDPOINTS='127.0.0.1:$ETCD_CLIENT_PORT'
ENV
  mv "$STATE/env.sh.tmp" "$STATE/env.sh"
}

main() {
  parse_args "$@"
  local t0=$SECONDS majors=() m
  mkdir -p "$STATE"
  ((WANT_RMQ4)) && majors+=(4)
  ((WANT_RMQ5)) && majors+=(5)
  for m in "${majors[@]}"; do rmq_prepare "$m"; done
  write_env

  # Name servers first (they start in parallel), MariaDB meanwhile.
  for m in "${majors[@]}"; do start_namesrv "$m"; done
  ((WANT_MARIADB)) && start_mariadb
  ((WANT_ETCD)) && start_etcd
  for m in "${majors[@]}"; do
    wait_namesrv "$m"
    # A broker that outlived its name server re-registers only every 30 s: restart it.
    start_broker "$m" "${NS_STARTED[$m]}"
  done
  for m in "${majors[@]}"; do wait_broker "$m"; done

  local pids=()
  if ((WANT_RMQ4)); then
    ensure_topic 4 ferry_smoke 8 &
    pids+=($!)
  fi
  if ((WANT_RMQ5)); then
    ensure_topic 5 ferry_smoke 8 &
    pids+=($!)
    ensure_topic 5 ferry_smoke_fifo 8 -a +message.type=FIFO &
    pids+=($!)
  fi
  for m in "${pids[@]}"; do wait "$m" || die "topic creation failed"; done
  if ((WANT_OB)); then
    mariadb_ping || die "obstandin needs mariadb (up.sh mariadb obstandin)"
    start_obstandin
  fi

  log "test bed up in $((SECONDS - t0))s; environment in $STATE/env.sh"
}

main "$@"
