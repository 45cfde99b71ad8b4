#!/bin/sh
# Regenerates sdk/protocol/pluginv1 from proto/ferry/plugin/v1/plugin.proto.
# Needs protoc, protoc-gen-go and protoc-gen-go-grpc on PATH (or in $(go env GOPATH)/bin).
# The generated code is committed: builds and CI do not run this.
set -eu
cd "$(dirname "$0")"
PATH="$PATH:$(go env GOPATH)/bin"
export PATH
protoc -I proto \
  --go_out=pluginv1 --go_opt=paths=source_relative \
  --go-grpc_out=pluginv1 --go-grpc_opt=paths=source_relative \
  ferry/plugin/v1/plugin.proto
# protoc writes under the proto's directory; flatten into the Go package directory.
mv pluginv1/ferry/plugin/v1/*.go pluginv1/
rm -r pluginv1/ferry
