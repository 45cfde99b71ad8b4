// Command obstandin runs the OceanBase ODP + Binlog Service stand-in of the test bed
// (integration/obstandin) against the test bed's MariaDB. up.sh starts it.
package main

import (
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ferry-cdc/ferry/integration/obstandin"
)

func main() {
	var cfg obstandin.Config
	var users, prefixes string
	flag.StringVar(&cfg.MariaDBAddr, "mariadb", "127.0.0.1:13306", "MariaDB address (backend)")
	flag.StringVar(&cfg.MariaDBUser, "mariadb-user", "ferry", "MariaDB user of the binlog feeder")
	flag.StringVar(&cfg.MariaDBPassword, "mariadb-password", "ferry", "its password")
	flag.StringVar(&users, "users", "ferry:ferry", "user:password,... the ODP role accepts (as user@tenant#cluster)")
	flag.StringVar(&cfg.ODPAddr, "odp", "127.0.0.1:12881", "ODP role listen address")
	flag.StringVar(&cfg.BinlogAddr, "binlog", "127.0.0.1:12882", "Binlog Service role listen address")
	flag.StringVar(&cfg.ControlAddr, "control", "127.0.0.1:12883", "HTTP fault-knob address")
	flag.StringVar(&cfg.StoreDir, "store", "obstandin-binlog", "directory of the converted binlog files")
	server := flag.Uint("server-id", 2, "@@server_id of the binlog instance")
	feeder := flag.Uint("feeder-server-id", 0, "server id towards MariaDB (0 = random)")
	flag.DurationVar(&cfg.QueryTimeout, "query-timeout", 0, "default ob_query_timeout (0 = 10s)")
	flag.DurationVar(&cfg.MasterStatusLag, "master-status-lag", 0, "SHOW MASTER STATUS lags real writes by this")
	flag.BoolVar(&cfg.OldVariables, "old-variables", false, "binlog variables without binlog_checksum/binlog_format/binlog_row_image (oblogproxy 2024-03)")
	flag.Int64Var(&cfg.RotateSize, "rotate-size", 4<<20, "rotate binlog files at this many bytes")
	flag.DurationVar(&cfg.PurgeAge, "purge-age", 0, "purge binlog files older than this (0 = never)")
	flag.Int64Var(&cfg.PurgeSize, "purge-size", 256<<20, "purge oldest binlog files while the total exceeds this (0 = never)")
	flag.BoolVar(&cfg.HeartbeatInTx, "heartbeat-in-tx", true, "send a heartbeat after each transaction's BEGIN")
	flag.StringVar(&cfg.TenantRole, "tenant-role", "PRIMARY", "TENANT_ROLE in oceanbase.DBA_OB_TENANTS (PRIMARY, STANDBY, or denied: no SELECT on the view)")
	flag.StringVar(&prefixes, "db-prefixes", "ferry_ob", "comma-separated database prefixes to convert (empty = all)")
	flag.Parse()
	cfg.ServerID, cfg.FeederServerID = uint32(*server), uint32(*feeder)
	cfg.Users = map[string]string{}
	for _, u := range strings.Split(users, ",") {
		if n, p, ok := strings.Cut(strings.TrimSpace(u), ":"); ok {
			cfg.Users[n] = p
		}
	}
	for _, p := range strings.Split(prefixes, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.DBPrefixes = append(cfg.DBPrefixes, p)
		}
	}
	s, err := obstandin.Start(cfg)
	if err != nil {
		log.Fatalf("obstandin: %v", err)
	}
	log.Printf("obstandin: ODP %s, binlog %s, control %s, store %s", s.ODPAddr(), s.BinlogAddr(), s.ControlAddr(), cfg.StoreDir)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	s.Close()
}
