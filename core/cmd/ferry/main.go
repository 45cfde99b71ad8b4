// Command ferry streams OceanBase (MySQL-compatible) tables into RocketMQ. See README.md.
package main

import (
	"os"

	"github.com/ferry-cdc/ferry/core/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
