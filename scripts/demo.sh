#!/usr/bin/env bash
# `make demo`: ferry's main job on this machine, for real: a MariaDB table (snapshot, then live
# INSERT/UPDATE/DELETE from the binlog) streamed into a RocketMQ 5.x topic in Canal's format,
# in order per key; then a graceful stop, a resume, and what a bad pipeline file looks like.
set -euo pipefail
cd "$(dirname "$0")/.."
FERRY="bin/ferry --plugin-dir bin/plugins"
STATE="${FERRY_TESTBED_DIR:-$HOME/.cache/ferry-testbed}"
# shellcheck disable=SC1091
source "$STATE/env.sh"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
sql() { mariadb --socket="$FERRY_MARIADB_SOCKET" -uroot ferry_demo -e "$1"; }
# tail_topic N K: wait for N messages on the topic, print the K stored last.
tail_topic() { bin/rmqtail -ns "$FERRY_RMQ5_NAMESRV" -timeout 3m -topic demo_orders -n "$1" -last "$2" -width "${3:-200}"; }

go build -o bin/rmqtail ./integration/cmd/rmqtail

step "Test bed: MariaDB with ROW binlog, RocketMQ 4.9.x and 5.x on loopback"
bash integration/testbed/status.sh

step "Sample data: ferry_demo.orders with 150,000 rows; topic demo_orders (8 queues) on RocketMQ 5.x"
mariadb --socket="$FERRY_MARIADB_SOCKET" -uroot -e "DROP DATABASE IF EXISTS ferry_demo; CREATE DATABASE ferry_demo"
sql "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(32) NOT NULL,
       status ENUM('new','paid','shipped') NOT NULL, amount DECIMAL(12,2), updated_at DATETIME(3))"
sql "INSERT INTO orders SELECT seq, CONCAT('customer-', seq % 37), 'new', seq * 1.25, '2026-11-25 08:00:00.000'
       FROM seq_1_to_150000"
"$FERRY_RMQ_MQADMIN_5" deleteTopic -n "$FERRY_RMQ5_NAMESRV" -c DefaultCluster -t demo_orders >/dev/null 2>&1 || true
"$FERRY_RMQ_MQADMIN_5" updateTopic -n "$FERRY_RMQ5_NAMESRV" -c DefaultCluster -t demo_orders -r 8 -w 8 >/dev/null
# the broker registers the new topic's route with the name server shortly after: wait for it
for _ in $(seq 1 60); do
  "$FERRY_RMQ_MQADMIN_5" topicRoute -n "$FERRY_RMQ5_NAMESRV" -t demo_orders 2>/dev/null | grep -q brokerAddrs && break
  sleep 0.5
done
rm -rf .ferry/checkpoints/demo_orders.json .ferry/checkpoints/demo_orders.lock
echo "ok"

step "ferry plugins"
$FERRY plugins

step "Validate the pipeline (configs/mariadb-to-rocketmq.hcl)"
$FERRY validate configs/mariadb-to-rocketmq.hcl

step "Precheck against the real MariaDB and RocketMQ (ferry run runs it too)"
$FERRY precheck configs/mariadb-to-rocketmq.hcl | cut -c1-170

step "Run it in a terminal: the snapshot's progress bar, then the live status line"
echo "(script(1) gives ferry a terminal; the snapshot is capped at 25,000 rows/s by the file's limits"
echo " block; once it is done, rows change for 8 seconds and latency shows; then SIGINT stops it)"
script -qfec "stty cols 150 rows 40 2>/dev/null; exec $FERRY --log-level warn run configs/mariadb-to-rocketmq.hcl" /dev/null &
SCRIPT_PID=$!
trap 'kill $SCRIPT_PID 2>/dev/null || true' EXIT
(
  # Wait for the incremental stage (the snapshot is done), then change rows for 8 s.
  for _ in $(seq 1 300); do
    # /status is indented JSON ("stage": "incremental"); the pipeline's own status address is
    # in its lease file, which `ferry status FILE` reads.
    bin/ferry status -o json configs/mariadb-to-rocketmq.hcl 2>/dev/null | grep -Eq '"stage": *"incremental"' && break
    sleep 0.2
  done
  sleep 1
  for i in $(seq 1 40); do
    sql "UPDATE orders SET amount = amount + 1, updated_at = NOW(3) WHERE id = $((i * 3700 % 150000 + 1))"
    sleep 0.2
  done
  kill -INT "$(pgrep -P $SCRIPT_PID)" 2>/dev/null || true
) &
wait $SCRIPT_PID || true
trap - EXIT
echo

step "The messages: the last snapshot rows, then the 40 updates (RocketMQ 5.x, topic demo_orders)"
tail_topic 150040 3 160

step "Resume in the background (plain logs without a terminal): it continues from the checkpoint"
$FERRY --log-format console run configs/mariadb-to-rocketmq.hcl > /tmp/ferry-demo.log 2>&1 &
FERRY_PID=$!
trap 'kill $FERRY_PID 2>/dev/null || true' EXIT
sleep 2
grep -E "pipeline started" /tmp/ferry-demo.log | sed 's/\t/  /g' | cut -c1-200

step "Live changes while it runs"
sql "UPDATE orders SET status = 'paid', amount = amount + 0.01, updated_at = NOW(3) WHERE id <= 3"
sql "DELETE FROM orders WHERE id = 4"
sql "INSERT INTO orders VALUES (150001, 'customer-new', 'new', 99.99, NOW(3))"
sql "UPDATE orders SET status = 'shipped', updated_at = NOW(3) WHERE id = 1"
echo "the 6 change messages (Canal: type UPDATE/DELETE/INSERT, old = changed columns):"
tail_topic 150046 6 0

step "ferry status (the same data is at /status and /metrics of the address it logged at start)"
sleep 1.5
bin/ferry status configs/mariadb-to-rocketmq.hcl

step "Graceful stop (SIGINT): in-flight messages delivered, final checkpoint saved"
kill -INT $FERRY_PID
wait $FERRY_PID
trap - EXIT
grep -E "pipeline (started|stopped)" /tmp/ferry-demo.log | sed 's/\t/  /g'
cat .ferry/checkpoints/demo_orders.json; echo

step "Changes while ferry is down, then resume: it continues from the checkpoint"
sql "UPDATE orders SET status = 'paid', updated_at = NOW(3) WHERE id = 150001"
$FERRY --log-level warn run configs/mariadb-to-rocketmq.hcl &
FERRY_PID=$!
trap 'kill $FERRY_PID 2>/dev/null || true' EXIT
echo "the newest message is the change made while ferry was down, delivered by the resumed run:"
tail_topic 150047 1 0
kill -INT $FERRY_PID
wait $FERRY_PID || true
trap - EXIT

step "A broken pipeline file: every error with file:line:column"
cat > /tmp/ferry-demo-bad.hcl <<'HCL'
pipeline "bad" {
  source "oceanbase" {
    address = "127.0.0.1:13306"
    user    = "ferry"
    tables  = "ferry_demo.orders"
  }
  serializer "canal" {}
  sink "rocketmq" {
    name_servers = ["127.0.0.1:29876"]
    partitioning = "hashh"
  }
  runtime {
    bach_size = 10
  }
}
HCL
$FERRY validate /tmp/ferry-demo-bad.hcl || echo "(exit code $?)"
