#!/usr/bin/env bash
# Runs RocketMQ's mqadmin against the test bed's cluster of one version:
#
#   mqadmin.sh 4 clusterList
#   mqadmin.sh 5 updateTopic -c DefaultCluster -t my_topic -r 8 -w 8 -a +message.type=FIFO
#
# The name server defaults to that version's (NAMESRV_ADDR or -n override it).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

(($# >= 1)) || die "usage: mqadmin.sh <4|5> mqadmin-args..."
major="$1"
shift
case "$major" in
4) v="$RMQ4_VERSION" dir="$RMQ4_DIR" ns="127.0.0.1:$RMQ4_NAMESRV_PORT" ;;
5) v="$RMQ5_VERSION" dir="$RMQ5_DIR" ns="127.0.0.1:$RMQ5_NAMESRV_PORT" ;;
*) die "first argument must be 4 or 5, not '$major'" ;;
esac
lib_ready "$v" || die "RocketMQ $v jars missing: run install.sh"
mkdir -p "$dir/home/conf" "$dir/tools-home"
if [[ "$major" == 4 && ! -f "$dir/home/conf/logback_tools.xml" ]]; then
  die "$dir/home/conf/logback_tools.xml missing: run up.sh rmq4 first"
fi
export NAMESRV_ADDR="${NAMESRV_ADDR:-$ns}"
exec java "${JVM_TOOLS[@]}" "${JVM_OPENS[@]}" \
  -Drocketmq.home.dir="$dir/home" -Duser.home="$dir/tools-home" \
  -Drocketmq.namesrv.addr="$NAMESRV_ADDR" \
  -cp "$(rmq_classpath "$v")" org.apache.rocketmq.tools.command.MQAdminStartup "$@"
