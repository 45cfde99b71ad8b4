# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for the ferry integration test bed.
# Sourced by install.sh, up.sh, down.sh, status.sh and mqadmin.sh; not meant to be run.
#
# Every setting can be overridden from the environment:
#   FERRY_TESTBED_DIR            state dir (default ~/.cache/ferry-testbed)
#   FERRY_MARIADB_PORT           MariaDB TCP port on 127.0.0.1 (13306)
#   FERRY_MARIADB_USER / FERRY_MARIADB_PASSWORD   test user (ferry / ferry)
#   FERRY_RMQ4_NAMESRV_PORT      RocketMQ 4.x name server (19876)
#   FERRY_RMQ4_BROKER_PORT       RocketMQ 4.x broker listenPort (10911; also uses -2 and +1)
#   FERRY_RMQ5_NAMESRV_PORT      RocketMQ 5.x name server (29876)
#   FERRY_RMQ5_BROKER_PORT       RocketMQ 5.x broker listenPort (20911; also uses -2 and +1)
#   FERRY_RMQ5_PROXY_GRPC_PORT   RocketMQ 5.x proxy gRPC port (28081)
#   FERRY_RMQ5_PROXY_REMOTING_PORT RocketMQ 5.x proxy remoting port (28080)
#   FERRY_RMQ4_VERSION / FERRY_RMQ5_VERSION   jar versions (4.9.7 / 5.3.3)
#   FERRY_TESTBED_TIMEOUT        seconds to wait for one server to become ready (90)
#   FERRY_OB_ODP_PORT / FERRY_OB_BINLOG_PORT / FERRY_OB_CONTROL_PORT   OceanBase stand-in
#                                (ODP role 12881, Binlog Service role 12882, HTTP knobs 12883)
#   FERRY_OB_USER / FERRY_OB_PASSWORD   stand-in user (ferry@obtenant#obcluster / ferry)
#   FERRY_OB_ARGS                extra flags for the stand-in (see `obstandin -h`)
#   FERRY_ETCD_CLIENT_PORT / FERRY_ETCD_PEER_PORT   etcd (Debian's etcd-server) client and
#                                peer ports (12379 / 12380)

STATE="${FERRY_TESTBED_DIR:-$HOME/.cache/ferry-testbed}"

# 4.9.7: Maven Central serves rocketmq-tools/common/store 4.9.8 but not
# rocketmq-namesrv, rocketmq-broker or rocketmq-filter 4.9.8, so 4.9.7 is the newest
# 4.x whose servers resolve. 5.3.3: the newest 5.3.x with all of proxy, broker,
# namesrv and tools on Maven Central (5.3.4 lacks rocketmq-proxy and rocketmq-tools).
RMQ4_VERSION="${FERRY_RMQ4_VERSION:-4.9.7}"
RMQ5_VERSION="${FERRY_RMQ5_VERSION:-5.3.3}"

MARIADB_PORT="${FERRY_MARIADB_PORT:-13306}"
MARIADB_USER="${FERRY_MARIADB_USER:-ferry}"
MARIADB_PASSWORD="${FERRY_MARIADB_PASSWORD:-ferry}"
RMQ4_NAMESRV_PORT="${FERRY_RMQ4_NAMESRV_PORT:-19876}"
RMQ4_BROKER_PORT="${FERRY_RMQ4_BROKER_PORT:-10911}"
RMQ5_NAMESRV_PORT="${FERRY_RMQ5_NAMESRV_PORT:-29876}"
RMQ5_BROKER_PORT="${FERRY_RMQ5_BROKER_PORT:-20911}"
RMQ5_PROXY_GRPC_PORT="${FERRY_RMQ5_PROXY_GRPC_PORT:-28081}"
RMQ5_PROXY_REMOTING_PORT="${FERRY_RMQ5_PROXY_REMOTING_PORT:-28080}"
READY_TIMEOUT="${FERRY_TESTBED_TIMEOUT:-90}"
OB_ODP_PORT="${FERRY_OB_ODP_PORT:-12881}"
OB_BINLOG_PORT="${FERRY_OB_BINLOG_PORT:-12882}"
OB_CONTROL_PORT="${FERRY_OB_CONTROL_PORT:-12883}"
OB_USER="${FERRY_OB_USER:-ferry@obtenant#obcluster}"
OB_PASSWORD="${FERRY_OB_PASSWORD:-ferry}"
ETCD_CLIENT_PORT="${FERRY_ETCD_CLIENT_PORT:-12379}"
ETCD_PEER_PORT="${FERRY_ETCD_PEER_PORT:-12380}"

MARIADB_DIR="$STATE/mariadb"
RMQ4_DIR="$STATE/rmq4"
RMQ5_DIR="$STATE/rmq5"
BIN_DIR="$STATE/bin"
OB_DIR="$STATE/obstandin"
ETCD_DIR="$STATE/etcd"

# Small-machine JVM settings (the stock scripts ask for 8 GiB).
JVM_NAMESRV=(-Xms128m -Xmx256m -XX:+UseSerialGC -XX:-OmitStackTraceInFastThrow)
JVM_BROKER=(-Xms256m -Xmx512m -XX:MaxDirectMemorySize=256m -XX:+UseSerialGC -XX:-OmitStackTraceInFastThrow)
JVM_TOOLS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto)
# Java 17 needs these for RocketMQ 4.9.x (and they do no harm on 5.x).
JVM_OPENS=(--add-exports java.base/jdk.internal.ref=ALL-UNNAMED
  --add-opens java.base/java.nio=ALL-UNNAMED
  --add-exports java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens java.base/java.lang=ALL-UNNAMED
  --add-opens java.base/java.util=ALL-UNNAMED)

log() { printf '[testbed %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

lib_dir() { echo "$STATE/lib/$1"; }
lib_ready() { [[ -f "$(lib_dir "$1")/.complete" ]]; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive PIDFILE [PATTERN]: true when the pid in PIDFILE runs and (optionally)
# its command line contains PATTERN (guards against pid reuse).
pid_alive() {
  local f="$1" pat="${2:-}" pid
  [[ -s "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -n "$pat" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pat" || return 1
  fi
}

# stop_pidfile PIDFILE NAME [PATTERN]: SIGTERM, wait up to 30s, then SIGKILL.
stop_pidfile() {
  local f="$1" name="$2" pat="${3:-}" pid i
  if ! pid_alive "$f" "$pat"; then
    rm -f "$f"
    return 0
  fi
  pid="$(cat "$f")"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop after 30s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$f"
}

# tail_log FILE...: print the end of each log to stderr (for failure reports).
tail_log() {
  local f
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    printf '\n----- last 40 lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2 || true
  done
}

# wait_for NAME TIMEOUT CHECK-COMMAND... : polls CHECK until true; on timeout
# returns 1 (the caller prints logs).
wait_for() {
  local name="$1" timeout="$2" start
  shift 2
  start=$SECONDS
  until "$@"; do
    if ((SECONDS - start >= timeout)); then
      log "$name not ready after ${timeout}s"
      return 1
    fi
    sleep 0.2
  done
}

# rmq_classpath VERSION: the java -cp value for that RocketMQ version.
rmq_classpath() { echo "$(lib_dir "$1")/*"; }
