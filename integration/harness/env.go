// Package harness holds helpers for ferry's integration tests: it finds the local
// test bed started by integration/testbed/up.sh (MariaDB with binlog, RocketMQ 4.9.x
// and 5.3.x on 127.0.0.1), opens connections to it and moves messages in and out.
//
// Tests call RequireTestbed first. Without the test bed a test is skipped, unless
// FERRY_REQUIRE_TESTBED=1 is set (CI sets it), in which case the test fails and
// says how to start the test bed.
package harness

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Environment is where the test bed's servers listen. The values come from the
// process environment, and for each variable that is unset from
// ${FERRY_TESTBED_DIR:-$HOME/.cache/ferry-testbed}/env.sh written by up.sh.
type Environment struct {
	Dir string // state dir of the test bed

	MariaDBAddr     string // FERRY_MARIADB_ADDR, host:port
	MariaDBUser     string // FERRY_MARIADB_USER
	MariaDBPassword string // FERRY_MARIADB_PASSWORD
	MariaDBSocket   string // FERRY_MARIADB_SOCKET (root, no password, over this socket)

	RMQ4Version    string // FERRY_RMQ4_VERSION
	RMQ4NameServer string // FERRY_RMQ4_NAMESRV
	RMQ4Broker     string // FERRY_RMQ4_BROKER
	MQAdmin4       string // FERRY_RMQ_MQADMIN_4: mqadmin wrapper for 4.x

	RMQ5Version       string // FERRY_RMQ5_VERSION
	RMQ5NameServer    string // FERRY_RMQ5_NAMESRV
	RMQ5Broker        string // FERRY_RMQ5_BROKER
	RMQ5Proxy         string // FERRY_RMQ5_PROXY: gRPC endpoint of the 5.x proxy
	RMQ5ProxyRemoting string // FERRY_RMQ5_PROXY_REMOTING
	MQAdmin5          string // FERRY_RMQ_MQADMIN_5: mqadmin wrapper for 5.x

	// The OceanBase stand-in (integration/obstandin), backed by the MariaDB above.
	OBAddr        string // FERRY_OB_ADDR: ODP (OBProxy) role, SQL and routed binlog traffic
	OBBinlogAddr  string // FERRY_OB_BINLOG_ADDR: direct Binlog Service role
	OBUser        string // FERRY_OB_USER: user@tenant#cluster
	OBPassword    string // FERRY_OB_PASSWORD
	OBControlAddr string // FERRY_OB_CONTROL_ADDR: HTTP fault knobs (/drop, /delay, /fail, /reset, /status)

	// EtcdEndpoints is the test bed's etcd (Debian's etcd-server, one member), for the shared
	// checkpoint stores: FERRY_ETCD_ENDPOINTS, host:port[,host:port...].
	EtcdEndpoints string

	// EnvFile is the env.sh that filled unset variables ("" if none was read).
	EnvFile string
}

// Dir returns the test bed's state dir: $FERRY_TESTBED_DIR or ~/.cache/ferry-testbed.
func Dir() string {
	if d := os.Getenv("FERRY_TESTBED_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "ferry-testbed")
}

// Env reads the test bed's addresses (see Environment). It never fails: missing
// values stay empty and RequireTestbed reports them.
func Env() Environment {
	dir := Dir()
	file := filepath.Join(dir, "env.sh")
	fromFile, err := readEnvFile(file)
	if err != nil {
		file = ""
	}
	get := func(key string) string {
		if v, ok := os.LookupEnv(key); ok && v != "" {
			return v
		}
		return fromFile[key]
	}
	return Environment{
		Dir:               dir,
		MariaDBAddr:       get("FERRY_MARIADB_ADDR"),
		MariaDBUser:       get("FERRY_MARIADB_USER"),
		MariaDBPassword:   get("FERRY_MARIADB_PASSWORD"),
		MariaDBSocket:     get("FERRY_MARIADB_SOCKET"),
		RMQ4Version:       get("FERRY_RMQ4_VERSION"),
		RMQ4NameServer:    get("FERRY_RMQ4_NAMESRV"),
		RMQ4Broker:        get("FERRY_RMQ4_BROKER"),
		MQAdmin4:          get("FERRY_RMQ_MQADMIN_4"),
		RMQ5Version:       get("FERRY_RMQ5_VERSION"),
		RMQ5NameServer:    get("FERRY_RMQ5_NAMESRV"),
		RMQ5Broker:        get("FERRY_RMQ5_BROKER"),
		RMQ5Proxy:         get("FERRY_RMQ5_PROXY"),
		RMQ5ProxyRemoting: get("FERRY_RMQ5_PROXY_REMOTING"),
		MQAdmin5:          get("FERRY_RMQ_MQADMIN_5"),
		OBAddr:            get("FERRY_OB_ADDR"),
		OBBinlogAddr:      get("FERRY_OB_BINLOG_ADDR"),
		OBUser:            get("FERRY_OB_USER"),
		OBPassword:        get("FERRY_OB_PASSWORD"),
		OBControlAddr:     get("FERRY_OB_CONTROL_ADDR"),
		EtcdEndpoints:     get("FERRY_ETCD_ENDPOINTS"),
		EnvFile:           file,
	}
}

// readEnvFile parses the `export KEY='value'` lines that up.sh writes (plain
// KEY=value and double quotes are accepted too; nothing is expanded).
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '\'' || val[0] == '"') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		out[key] = val
	}
	return out, sc.Err()
}

// Component names a part of the test bed for RequireTestbed.
type Component string

const (
	MariaDB   Component = "mariadb"    // MariaDB with binlog
	RocketMQ4 Component = "rmq4"       // RocketMQ 4.9.x name server + broker
	RocketMQ5 Component = "rmq5"       // RocketMQ 5.3.x name server + broker
	RMQ5Proxy Component = "rmq5-proxy" // RocketMQ 5.3.x gRPC proxy
	// OBStandin is the OceanBase ODP + Binlog Service stand-in; not in AllComponents.
	OBStandin Component = "obstandin"
	// Etcd is the etcd server of the shared checkpoint stores; not in AllComponents.
	Etcd Component = "etcd"
)

// AllComponents is what RequireTestbed checks when given none.
var AllComponents = []Component{MariaDB, RocketMQ4, RocketMQ5, RMQ5Proxy}

// RequireTestbedVar is the variable that turns a missing test bed into a failure.
const RequireTestbedVar = "FERRY_REQUIRE_TESTBED"

// RequireTestbed checks that the named components of the test bed (all of them
// when none is named) are configured and accept TCP connections, and returns the
// environment. When something is missing it skips the test, or fails it when
// FERRY_REQUIRE_TESTBED=1, with a message that says to run `make up`.
func RequireTestbed(t testing.TB, need ...Component) Environment {
	t.Helper()
	env := Env()
	if problems := env.Check(need...); len(problems) > 0 {
		msg := fmt.Sprintf("integration test bed not available: %s\n"+
			"start it with `make up` (or integration/testbed/install.sh && integration/testbed/up.sh); "+
			"state dir %s", strings.Join(problems, "; "), env.Dir)
		if os.Getenv(RequireTestbedVar) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (set " + RequireTestbedVar + "=1 to make this a failure)")
	}
	return env
}

// Check returns what is missing or unreachable among the named components
// (all when none is named); nil means everything answered.
func (e Environment) Check(need ...Component) []string {
	if len(need) == 0 {
		need = AllComponents
	}
	var problems []string
	probe := func(what, key, addr string) {
		if addr == "" {
			problems = append(problems, fmt.Sprintf("%s: %s is not set and no env.sh provides it", what, key))
			return
		}
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s at %s: %v", what, addr, err))
			return
		}
		c.Close()
	}
	for _, c := range need {
		switch c {
		case MariaDB:
			probe("MariaDB", "FERRY_MARIADB_ADDR", e.MariaDBAddr)
		case RocketMQ4:
			probe("RocketMQ 4 name server", "FERRY_RMQ4_NAMESRV", e.RMQ4NameServer)
			if e.RMQ4Broker != "" { // optional: older env files lack it
				probe("RocketMQ 4 broker", "FERRY_RMQ4_BROKER", e.RMQ4Broker)
			}
			if e.MQAdmin4 == "" {
				problems = append(problems, "RocketMQ 4: FERRY_RMQ_MQADMIN_4 is not set")
			}
		case RocketMQ5:
			probe("RocketMQ 5 name server", "FERRY_RMQ5_NAMESRV", e.RMQ5NameServer)
			if e.RMQ5Broker != "" {
				probe("RocketMQ 5 broker", "FERRY_RMQ5_BROKER", e.RMQ5Broker)
			}
			if e.MQAdmin5 == "" {
				problems = append(problems, "RocketMQ 5: FERRY_RMQ_MQADMIN_5 is not set")
			}
		case RMQ5Proxy:
			probe("RocketMQ 5 gRPC proxy", "FERRY_RMQ5_PROXY", e.RMQ5Proxy)
		case Etcd:
			first, _, _ := strings.Cut(e.EtcdEndpoints, ",")
			probe("etcd", "FERRY_ETCD_ENDPOINTS", first)
		case OBStandin:
			probe("OceanBase stand-in (ODP role)", "FERRY_OB_ADDR", e.OBAddr)
			probe("OceanBase stand-in (Binlog Service role)", "FERRY_OB_BINLOG_ADDR", e.OBBinlogAddr)
			if e.OBUser == "" {
				problems = append(problems, "OceanBase stand-in: FERRY_OB_USER is not set")
			}
		default:
			problems = append(problems, fmt.Sprintf("unknown component %q", c))
		}
	}
	return problems
}
