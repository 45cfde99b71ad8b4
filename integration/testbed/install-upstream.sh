#!/usr/bin/env bash
# Builds the real upstream engines that ferry's formats are compared with (issue 14):
#   debezium  Debezium's embedded engine with the MariaDB connector (integration/upstream/debezium)
#   canal     Canal's binlog parser and MQ FlatMessage assembly (integration/upstream/canal)
# each into $FERRY_TESTBED_DIR/upstream/<engine>-<hash>/ (lib/: the jars from Maven Central by
# maven-dependency-plugin:copy-dependencies; classes/: the program, compiled with javac), where
# <hash> is taken over the engine's pom.xml and sources, so a change rebuilds and an unchanged
# tree is reused (about a second). Prints one line per engine: "<engine> <dir>".
#
#   install-upstream.sh                # both
#   install-upstream.sh debezium       # only this one
#
# Java: $FERRY_UPSTREAM_JAVA_HOME, else $JAVA_HOME, else the java/javac on PATH (17 or newer;
# Debezium 3.5's classes are Java 17). install.sh calls this script; the integration tests call
# it too (integration/upstream), so `go test` alone also works on a fresh test bed.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SRC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../upstream" && pwd)"
UP_DIR="$STATE/upstream"

java_bin() {
  local home="${FERRY_UPSTREAM_JAVA_HOME:-${JAVA_HOME:-}}"
  if [[ -n "$home" && -x "$home/bin/$1" ]]; then echo "$home/bin/$1"; else command -v "$1"; fi
}

source_hash() {
  (cd "$SRC_ROOT/$1" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
}

build_engine() {
  local engine="$1" hash dir javac
  [[ -f "$SRC_ROOT/$engine/pom.xml" ]] || die "no $SRC_ROOT/$engine/pom.xml"
  hash="$(source_hash "$engine")"
  dir="$UP_DIR/$engine-$hash"
  if [[ ! -f "$dir/.complete" ]]; then
    javac="$(java_bin javac)" || die "javac not found (install a JDK 17+, or set FERRY_UPSTREAM_JAVA_HOME)"
    local t0=$SECONDS
    log "building upstream $engine ($dir)"
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp/classes"
    if ! (cd "$SRC_ROOT/$engine" && mvn -B -q -Dstyle.color=never \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$dir.tmp/lib" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' >&2); then
      die "maven could not resolve the upstream $engine jars (see output above)"
    fi
    "$javac" -nowarn -encoding UTF-8 --release 17 -cp "$dir.tmp/lib/*" -d "$dir.tmp/classes" \
      $(find "$SRC_ROOT/$engine/src/main/java" -name '*.java') 2>&1 | grep -v '^Note: ' >&2 || true
    ls "$dir.tmp/classes/dev/ferry/upstream/"*.class >/dev/null 2>&1 || die "javac failed for upstream $engine"
    if [[ -d "$SRC_ROOT/$engine/src/main/resources" ]]; then
      cp -r "$SRC_ROOT/$engine/src/main/resources/." "$dir.tmp/classes/"
    fi
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
    touch "$dir/.complete"
    log "upstream $engine: $(find "$dir/lib" -name '*.jar' | wc -l) jars, built in $((SECONDS - t0))s"
    # Older builds of this engine are stale now; keep only this one.
    find "$UP_DIR" -maxdepth 1 -name "$engine-*" ! -name "$engine-$hash" -exec rm -rf {} + 2>/dev/null || true
  fi
  echo "$engine $dir"
}

main() {
  (($# == 0)) && set -- debezium canal
  mkdir -p "$UP_DIR"
  exec 9>"$UP_DIR/.lock"
  flock 9 # one build at a time (install.sh and a test may both ask)
  command -v mvn >/dev/null || die "mvn not found: run install.sh"
  local e
  for e in "$@"; do build_engine "$e"; done
}

main "$@"
