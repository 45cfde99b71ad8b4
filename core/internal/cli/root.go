package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/ferry-cdc/ferry/core/internal/logging"
	"github.com/ferry-cdc/ferry/core/internal/plugin"
	"github.com/ferry-cdc/ferry/sdk/protocol"
)

// Version is set at build time (-ldflags "-X .../cli.Version=...").
var Version = "dev"

type globals struct {
	logLevel   string
	logFormat  string
	pluginDirs []string
	stdout     io.Writer
	stderr     io.Writer
	logger     *zap.Logger
	// secrets masks the secret values of the pipeline file in logs, errors and precheck
	// details (set by load).
	secrets logging.Redactor
	// collect, when set, receives load's diagnostics (for -o json) instead of w.
	collect *diagCollector
}

func (g *globals) dirs() []string {
	if len(g.pluginDirs) > 0 {
		return g.pluginDirs
	}
	return plugin.DefaultDirs()
}

// Main runs the CLI with args (without the program name) and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	// One signal-aware root context for every command: the first SIGINT or SIGTERM cancels
	// it (a command stops what it waits for and exits), and gives the signals back to their
	// default, so a second one ends a command that does not stop. `ferry run` has its own
	// handling (a graceful drain, then a forced stop).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	err := root.ExecuteContext(ctx)
	if g.logger != nil {
		_ = g.logger.Sync()
	}
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			if g.logger != nil && g.logFormat == "json" {
				// stderr stays one JSON object a line (log collectors parse it); the
				// logger masks secrets (logging.Redacting)
				g.logger.Error(ee.err.Error(), zap.Int("exit_code", ee.code))
				_ = g.logger.Sync()
			} else {
				fmt.Fprintln(stderr, "Error:", g.secrets.Redact(ee.err.Error()))
			}
		}
		return ee.code
	}
	// Anything cobra reports itself (unknown command or flag, wrong argument count).
	fmt.Fprintln(stderr, "Error:", err)
	fmt.Fprintln(stderr, "Run 'ferry --help' for usage.")
	return ExitUsage
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "ferry",
		Short: "Stream OceanBase (MySQL-compatible) tables into RocketMQ in real time",
		Long: `ferry streams tables from OceanBase MySQL-mode tenants (and MySQL/MariaDB) into
Apache RocketMQ: a consistent full snapshot, then every INSERT, UPDATE and DELETE, in order per
key, with nothing lost. A pipeline is one HCL file; sources, filters, serializers and sinks are
plugins.

Exit codes: 0 success, 1 the pipeline failed while running, 2 wrong usage,
3 invalid pipeline file or plugin not found, 4 a precheck failed.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			l, err := logging.New(logging.Options{Level: g.logLevel, Format: g.logFormat, Output: g.stderr})
			if err != nil {
				return withCode(ExitUsage, err)
			}
			g.logger = logging.Redacting(l, &g.secrets)
			// the client libraries' lines go through the same logger, masked too
			logging.RouteLibraries(g.logger)
			return nil
		},
	}
	// ferry --version prints what `ferry version` prints.
	root.Version = Version
	root.SetVersionTemplate(versionText())
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "console", "log format: console or json")
	pf.StringArrayVar(&g.pluginDirs, "plugin-dir", nil,
		"directory with external plugins (ferry-<kind>-<name>); repeatable (default $FERRY_PLUGIN_DIR, <ferry dir>/plugins, ~/.ferry/plugins)")
	root.AddCommand(newValidate(g), newRun(g), newStatus(g), newPrecheck(g), newObjects(g), newSnapshot(g), newRewind(g), newPlugins(g), newVersion(g), newPluginServe(g))
	return root
}

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print ferry's version and the plugin protocol versions it speaks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(g.stdout, versionText())
			return nil
		},
	}
}

func versionText() string {
	return fmt.Sprintf("ferry %s\nplugin protocol: %d\ngo: %s %s/%s\n",
		Version, protocol.ProtocolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
