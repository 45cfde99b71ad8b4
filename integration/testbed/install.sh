#!/usr/bin/env bash
# Installs what the integration test bed needs: MariaDB and etcd from Debian's packages,
# the RocketMQ 4.9.x and 5.3.x server jars from Maven Central (one classpath per
# version under $FERRY_TESTBED_DIR/lib/<version>/), and the real Debezium and Canal
# engines for the format comparison (install-upstream.sh, $FERRY_TESTBED_DIR/upstream/).
# Idempotent: finishes in a second or two when everything is already there.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

sudo_if_needed() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  # apt_install PKG...: installs the packages that are missing (apt-get update first).
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_if_needed apt-get update -qq
  sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_mariadb() {
  apt_install mariadb-server mariadb-client
  command -v mariadb-install-db >/dev/null || die "mariadb-install-db not found after install"
  # The Debian package may start its own service when installed on a machine with
  # an init system; the test bed never uses it (it runs its own datadir and port).
}

install_etcd() {
  # Debian's etcd-server (3.4.x). Its postinst may try to start the packaged service
  # (on a machine with an init system); the test bed never uses it and runs its own
  # member on 127.0.0.1:$ETCD_CLIENT_PORT (up.sh etcd). policy-rc.d keeps the packaged
  # service from starting during the install.
  dpkg-query -W -f='${Status}' etcd-server 2>/dev/null | grep -q "install ok installed" && return 0
  local rc=/usr/sbin/policy-rc.d made=0
  if [[ ! -e "$rc" ]]; then
    printf '#!/bin/sh\nexit 101\n' | sudo_if_needed tee "$rc" >/dev/null
    sudo_if_needed chmod +x "$rc"
    made=1
  fi
  apt_install etcd-server
  ((made)) && sudo_if_needed rm -f "$rc"
  command -v etcd >/dev/null || die "etcd not found after installing etcd-server"
}

# nftables' nft: TestHACutOff cuts a ferry process off from its store with a packet filter in
# a network namespace of its own (integration/netns).
install_nftables() {
  command -v nft >/dev/null && return 0
  apt_install nftables || log "nftables not installed: TestHACutOff cuts by a proxy instead of a packet filter"
}

install_java_maven() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v javac >/dev/null || apt_install openjdk-17-jdk-headless # for integration/upstream
  command -v mvn >/dev/null || apt_install maven
}

# write_pom VERSION ARTIFACT...: a throw-away pom that depends on the artifacts.
write_pom() {
  local version="$1" a
  shift
  cat <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.ferry.testbed</groupId>
  <artifactId>rocketmq-${version}-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
POM
  for a in "$@"; do
    cat <<POM
    <dependency>
      <groupId>org.apache.rocketmq</groupId>
      <artifactId>${a}</artifactId>
      <version>${version}</version>
    </dependency>
POM
  done
  cat <<POM
  </dependencies>
</project>
POM
}

# resolve_rocketmq VERSION ARTIFACT...: copies the runtime classpath into lib/VERSION.
resolve_rocketmq() {
  local version="$1" lib build
  shift
  lib="$(lib_dir "$version")"
  if lib_ready "$version"; then
    log "RocketMQ $version jars already in $lib"
    return 0
  fi
  build="$STATE/build/$version"
  mkdir -p "$build"
  write_pom "$version" "$@" >"$build/pom.xml"
  rm -rf "$lib.tmp"
  log "resolving RocketMQ $version ($*) from Maven Central"
  # (sed: Maven 3.8 prints colour resets even in batch mode)
  if ! (cd "$build" && mvn -B -q -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib.tmp" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g' >&2); then
    die "maven could not resolve RocketMQ $version (see output above)"
  fi
  [[ -f "$lib.tmp/rocketmq-broker-$version.jar" ]] || die "rocketmq-broker-$version.jar missing from $lib.tmp"
  rm -rf "$lib"
  mv "$lib.tmp" "$lib"
  touch "$lib/.complete"
  log "RocketMQ $version: $(find "$lib" -name '*.jar' | wc -l) jars in $lib"
}

main() {
  mkdir -p "$STATE"
  install_mariadb
  install_etcd
  install_nftables
  install_java_maven
  resolve_rocketmq "$RMQ4_VERSION" rocketmq-namesrv rocketmq-broker rocketmq-tools
  resolve_rocketmq "$RMQ5_VERSION" rocketmq-proxy rocketmq-broker rocketmq-namesrv rocketmq-tools
  # The real Debezium and Canal the format tests compare with (integration/upstream).
  bash "$(dirname "${BASH_SOURCE[0]}")/install-upstream.sh" >/dev/null
  log "install done (state dir $STATE)"
}

main "$@"
