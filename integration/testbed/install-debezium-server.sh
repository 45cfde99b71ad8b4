#!/usr/bin/env bash
# Installs Debezium Server, as Debezium distributes it, for the side-by-side run of the bench
# (integration/cmd/bench, -debezium; issue 19): the tarball io.debezium:debezium-server-dist:
# <version>:tar.gz from Maven Central (through mvn, so the Maven settings of the machine
# apply), unpacked into $FERRY_TESTBED_DIR/debezium-server-<version>/. It holds the runner jar,
# lib/ with the MariaDB connector (debezium-connector-mariadb) and the RocketMQ sink
# (debezium-server-rocketmq). A complete install is reused (a second run takes milliseconds).
# Prints one line: "debezium-server <dir> <java>".
#
#   install-debezium-server.sh
#
# Environment:
#   FERRY_DEBEZIUM_SERVER_VERSION  default 3.6.1.Final
#   FERRY_DEBEZIUM_JAVA_HOME       the Java it runs on (21 or newer: Debezium 3.6's classes need
#                                  21); default /usr/lib/jvm/temurin-25-jdk-amd64
#
# The tarball is about 780 MB (every connector and sink); mvn keeps it in ~/.m2, and the
# unpacked tree takes about as much again.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VERSION="${FERRY_DEBEZIUM_SERVER_VERSION:-3.6.1.Final}"
JAVA_HOME_DBZ="${FERRY_DEBEZIUM_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
DIR="$STATE/debezium-server-$VERSION"
ARTIFACT="io.debezium:debezium-server-dist:$VERSION:tar.gz"

check_java() {
  local java="$JAVA_HOME_DBZ/bin/java" line major
  [[ -x "$java" ]] || die "no Java at $java: Debezium Server $VERSION needs Java 21 or newer (set FERRY_DEBEZIUM_JAVA_HOME)"
  line="$("$java" -version 2>&1 | head -1)"
  major="$(sed -E 's/.*version "([0-9]+).*/\1/' <<<"$line")"
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge 21 ]] ||
    die "$java is \"$line\": Debezium Server $VERSION needs Java 21 or newer (set FERRY_DEBEZIUM_JAVA_HOME)"
  echo "$java"
}

install() {
  local t0=$SECONDS tmp tarball
  command -v mvn >/dev/null || die "mvn not found: run install.sh"
  log "installing Debezium Server $VERSION into $DIR ($ARTIFACT from Maven Central)"
  rm -rf "$DIR.tmp"
  mkdir -p "$DIR.tmp"
  tmp="$(mktemp -d)"
  if ! mvn -B -q -Dstyle.color=never \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="$ARTIFACT" -DoutputDirectory="$tmp" -Dmdep.overWriteReleases=true 2>&1 |
    sed -u 's/\x1b\[[0-9;]*m//g' >&2; then
    rm -rf "$tmp"
    die "maven could not fetch $ARTIFACT (see output above)"
  fi
  tarball="$(find "$tmp" -name "debezium-server-dist-$VERSION.tar.gz" | head -1)"
  [[ -s "$tarball" ]] || die "maven named no $ARTIFACT in $tmp"
  tar -xzf "$tarball" -C "$DIR.tmp" --strip-components=1 ||
    die "could not unpack $tarball into $DIR.tmp"
  rm -rf "$tmp" # the copy; mvn keeps the tarball in its local repository
  ls "$DIR.tmp"/debezium-server-dist-*-runner.jar >/dev/null 2>&1 ||
    die "$ARTIFACT has no debezium-server-dist-*-runner.jar"
  local need
  for need in debezium-server-rocketmq debezium-connector-mariadb debezium-storage-file connect-transforms; do
    ls "$DIR.tmp/lib/$need-"*.jar >/dev/null 2>&1 || die "$ARTIFACT has no lib/$need-*.jar"
  done
  rm -rf "$DIR"
  mv "$DIR.tmp" "$DIR"
  touch "$DIR/.complete"
  log "Debezium Server $VERSION: $(find "$DIR/lib" -name '*.jar' | wc -l) jars in lib/, installed in $((SECONDS - t0))s"
  # Other versions' trees are stale now.
  find "$STATE" -maxdepth 1 -name 'debezium-server-*' ! -name "debezium-server-$VERSION" -exec rm -rf {} + 2>/dev/null || true
}

main() {
  local java
  java="$(check_java)"
  mkdir -p "$STATE"
  exec 9>"$STATE/.debezium-server.lock"
  flock 9 # one install at a time
  [[ -f "$DIR/.complete" ]] || install
  echo "debezium-server $DIR $java"
}

main "$@"
