package oceanbase

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/sdk"
)

// Modes of the source.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
	ModeBoth        = "both"
)

// TLS settings.
const (
	tlsDisabled   = "disabled"
	tlsSkipVerify = "skip-verify"
	tlsVerify     = "verify"
)

type config struct {
	Address             string       `json:"address"`
	BinlogAddress       string       `json:"binlog_address"`
	User                string       `json:"user"`
	Password            sdk.Secret   `json:"password"`
	TLS                 string       `json:"tls"`
	BinlogTLS           string       `json:"binlog_tls"`
	QueryTimeout        sdk.Duration `json:"query_timeout"`
	ServerID            int64        `json:"server_id"`
	Tables              []string     `json:"tables"`
	ExcludeTables       []string     `json:"exclude_tables"`
	Mode                string       `json:"mode"`
	StartTimestamp      string       `json:"start_timestamp"`
	SnapshotConcurrency int64        `json:"snapshot_concurrency"`
	ChunkSize           int64        `json:"chunk_size"`
	HeartbeatInterval   sdk.Duration `json:"heartbeat_interval"`
	WatermarkDatabase   string       `json:"watermark_database"`
	BatchSize           int64        `json:"batch_size"`
	EmitDDL             bool         `json:"emit_ddl"`
	ReaderMemory        byteSize     `json:"reader_memory"`

	// derived
	tables    []tableName // exact names; after Open also the tables the patterns matched
	patterns  []string    // entries of tables with '*'
	exclude   []string    // exclude_tables
	tenant    string
	startTime time.Time
}

type tableName struct{ DB, Name string }

func (t tableName) String() string { return t.DB + "." + t.Name }

// defaultConfig is the configuration with every attribute at its Spec default (the defaults
// are written once, in spec()).
func defaultConfig() config {
	var c config
	if err := spec().DecodeDefaults(&c); err != nil {
		panic(err) // the Spec's own defaults: TestDefaultsFromSpec proves they decode
	}
	return c
}

// Bounds of reader_memory.
const (
	defaultReaderMemory = 64 << 20
	minReaderMemory     = 1 << 20
)

// byteSize is a size attribute: the host passes a number of bytes; a string with a unit
// ("64MiB") is accepted too, for configurations built by hand.
type byteSize int64

func (b *byteSize) UnmarshalJSON(data []byte) error {
	var n int64
	if err := json.Unmarshal(data, &n); err == nil {
		*b = byteSize(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("a size is a number of bytes or a string such as \"64MiB\"")
	}
	n, err := sdk.ParseSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func spec() sdk.Spec {
	return sdk.Spec{Attributes: []sdk.Attribute{
		{Name: "address", Type: sdk.TypeString, Required: true,
			Doc: "host:port of the MySQL-protocol SQL endpoint (OBProxy or OBServer, MySQL, MariaDB)."},
		{Name: "binlog_address", Type: sdk.TypeString, Default: "",
			Doc: "host:port of the binlog service (the OceanBase Binlog Service); empty means address."},
		{Name: "user", Type: sdk.TypeString, Required: true,
			Doc: "User name; OceanBase's user@tenant#cluster form is accepted and the tenant is recorded on every table."},
		{Name: "password", Type: sdk.TypeString, Secret: true, Default: "",
			Doc: "Password of user (use env() or file() in the pipeline file; never logged)."},
		{Name: "tls", Type: sdk.TypeString, Default: tlsDisabled, Enum: []string{tlsDisabled, tlsSkipVerify, tlsVerify},
			Doc: "TLS for SQL and binlog connections: disabled, skip-verify (encrypt without checking the certificate) or verify."},
		{Name: "binlog_tls", Type: sdk.TypeString, Default: "", Enum: []string{"", tlsDisabled, tlsSkipVerify, tlsVerify},
			Doc: "TLS for the connections to binlog_address (binlog dump and binlog SQL); empty means as tls. The OceanBase Binlog Service offers no TLS: connecting to it directly needs binlog_tls = \"disabled\"."},
		{Name: "query_timeout", Type: sdk.TypeDuration, Default: "24h", Min: sdk.Bound(1),
			Doc: "Statement time limit of ferry's SQL sessions (snapshot reads, watermarks): ob_query_timeout and ob_trx_timeout on OceanBase (default 10 s and 100 s there), max_statement_time on MariaDB, max_execution_time on MySQL."},
		{Name: "server_id", Type: sdk.TypeInt, Default: int64(0), Min: sdk.Bound(0), Max: sdk.Bound(4294967295),
			Doc: "Server id of the replication client; unique among the server's replicas. 0 derives one from the pipeline name."},
		{Name: "tables", Type: sdk.TypeStringList, Host: sdk.HostTables,
			Doc: "Tables to read, each as db.table; '*' matches any run of characters (shop.*, shop.order_item_*). Tables created later that match a pattern join while the source runs."},
		{Name: "exclude_tables", Type: sdk.TypeStringList, Host: sdk.HostExcludeTables,
			Doc: "Patterns (db.table, '*' any run) of tables the patterns of tables must not select; tables named exactly are never excluded."},
		{Name: "mode", Type: sdk.TypeString, Default: ModeBoth, Enum: []string{ModeFull, ModeIncremental, ModeBoth},
			Doc: "full: snapshot only, then end; incremental: binlog only; both: snapshot, then binlog, with a watermark hand-over."},
		{Name: "start_timestamp", Type: sdk.TypeString, Default: "",
			Doc: "incremental only: start at the first binlog transaction at or after this time (RFC 3339, or 'YYYY-MM-DD HH:MM:SS' in UTC); empty means now."},
		{Name: "snapshot_concurrency", Type: sdk.TypeInt, Host: sdk.HostSnapshotConcurrency, Default: int64(4), Min: sdk.Bound(1), Max: sdk.Bound(64),
			Doc: "Number of parallel snapshot readers."},
		{Name: "chunk_size", Type: sdk.TypeInt, Default: int64(4096), Min: sdk.Bound(1), Max: sdk.Bound(1000000),
			Doc: "Rows per snapshot chunk (one primary-key range read in one statement)."},
		{Name: "heartbeat_interval", Type: sdk.TypeDuration, Default: "5s", Min: sdk.Bound(0.01),
			Doc: "An idle source emits a heartbeat this often, so the checkpoint and latency still advance."},
		{Name: "watermark_database", Type: sdk.TypeString, Default: "",
			Doc: "Database of the ferry_watermark helper table used by the snapshot hand-over; empty means the database of the first table. The user needs CREATE, INSERT and UPDATE there."},
		{Name: "batch_size", Type: sdk.TypeInt, Default: int64(1024), Min: sdk.Bound(1), Max: sdk.Bound(100000),
			Doc: "Most row changes per batch (a snapshot chunk is always delivered in one batch)."},
		{Name: "emit_ddl", Type: sdk.TypeBool, Default: false,
			Doc: "Emit DDL statements that touch selected tables as ddl changes."},
		{Name: "reader_memory", Type: sdk.TypeSize, Host: sdk.HostReaderMemory, Default: "64MiB", Min: sdk.Bound(minReaderMemory),
			Doc: "Most bytes the log reader buffers between the binlog connection and the host: binlog events received but not decoded (by their size in the log) plus decoded changes not handed over yet (long transactions are delivered in parts before their commit to stay within it). One decoding step (a rows event, or a snapshot chunk's rows) may go past it by its own size."},
	}}
}

// check validates the settings and fills in the derived ones (binlog address and TLS,
// tenant, table names and patterns, start time, watermark database).
func (c *config) check() error {
	var errs []error
	errs = append(errs, c.checkConnection()...)
	errs = append(errs, c.checkTables()...)
	errs = append(errs, c.checkReading()...)
	return errors.Join(errs...)
}

// checkConnection checks the endpoints, TLS, statement time limit and user.
func (c *config) checkConnection() []error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		errs = append(errs, sdk.AttrError("address", "must be host:port"))
	}
	if c.BinlogAddress == "" {
		c.BinlogAddress = c.Address
	} else if _, _, err := net.SplitHostPort(c.BinlogAddress); err != nil {
		errs = append(errs, sdk.AttrError("binlog_address", "must be host:port"))
	}
	switch c.BinlogTLS {
	case "":
		c.BinlogTLS = c.TLS
	case tlsDisabled, tlsSkipVerify, tlsVerify:
	default:
		errs = append(errs, sdk.AttrError("binlog_tls", "must be disabled, skip-verify or verify"))
	}
	if c.QueryTimeout.D() < time.Second {
		errs = append(errs, sdk.AttrError("query_timeout", "must be at least 1s"))
	}
	if strings.TrimSpace(c.User) == "" {
		errs = append(errs, sdk.AttrError("user", "must not be empty"))
	}
	c.tenant = tenantOf(c.User)
	return errs
}

// checkTables parses tables into names and patterns, and exclude_tables.
func (c *config) checkTables() []error {
	var errs []error
	if len(c.Tables) == 0 {
		errs = append(errs, sdk.AttrError("tables", "needs at least one db.table or pattern (or an objects block in the pipeline)"))
	}
	seen := map[string]bool{}
	c.tables, c.patterns, c.exclude = nil, nil, nil
	for i, s := range c.Tables {
		s = strings.TrimSpace(s)
		db, name, ok := strings.Cut(s, ".")
		if !ok || db == "" || name == "" || strings.Contains(name, ".") {
			errs = append(errs, sdk.AttrError(fmt.Sprintf("tables[%d]", i), "%q is not db.table", s))
			continue
		}
		if strings.ContainsAny(s, "?[]") {
			errs = append(errs, sdk.AttrError(fmt.Sprintf("tables[%d]", i), "%q: only '*' is a wildcard", s))
			continue
		}
		key := strings.ToLower(s)
		if seen[key] {
			errs = append(errs, sdk.AttrError(fmt.Sprintf("tables[%d]", i), "%q is listed twice", s))
			continue
		}
		seen[key] = true
		if strings.Contains(s, "*") {
			c.patterns = append(c.patterns, s)
			continue
		}
		c.tables = append(c.tables, tableName{DB: db, Name: name})
	}
	for i, s := range c.ExcludeTables {
		s = strings.TrimSpace(s)
		db, name, ok := strings.Cut(s, ".")
		if !ok || db == "" || name == "" || strings.Contains(name, ".") {
			errs = append(errs, sdk.AttrError(fmt.Sprintf("exclude_tables[%d]", i), "%q is not db.table", s))
			continue
		}
		c.exclude = append(c.exclude, s)
	}
	return errs
}

// checkReading checks how the source reads: the start time, the watermark database (after
// checkTables: its default is the first table's), and the sizes and intervals.
func (c *config) checkReading() []error {
	var errs []error
	if c.StartTimestamp != "" {
		if c.Mode != ModeIncremental {
			errs = append(errs, sdk.AttrError("start_timestamp", "only applies to mode \"incremental\""))
		}
		t, err := parseTimestamp(c.StartTimestamp)
		if err != nil {
			errs = append(errs, sdk.AttrError("start_timestamp", "%v", err))
		}
		c.startTime = t
	}
	if c.WatermarkDatabase == "" {
		c.WatermarkDatabase = c.defaultWatermarkDB()
	}
	if c.SnapshotConcurrency < 1 {
		errs = append(errs, sdk.AttrError("snapshot_concurrency", "must be at least 1"))
	}
	if c.ChunkSize < 1 {
		errs = append(errs, sdk.AttrError("chunk_size", "must be at least 1"))
	}
	if c.BatchSize < 1 {
		errs = append(errs, sdk.AttrError("batch_size", "must be at least 1"))
	}
	if c.HeartbeatInterval.D() <= 0 {
		errs = append(errs, sdk.AttrError("heartbeat_interval", "must be positive"))
	}
	if c.ReaderMemory < minReaderMemory {
		errs = append(errs, sdk.AttrError("reader_memory", "must be at least 1MiB"))
	}
	if c.ServerID < 0 || c.ServerID > 4294967295 {
		errs = append(errs, sdk.AttrError("server_id", "must be between 0 and 4294967295"))
	}
	return errs
}

// tenantOf returns the tenant of an OceanBase user name "user@tenant#cluster" (or
// "user@tenant", or "cluster:tenant:user"), "" for plain user names.
func tenantOf(user string) string {
	if _, rest, ok := strings.Cut(user, "@"); ok {
		tenant, _, _ := strings.Cut(rest, "#")
		return tenant
	}
	if parts := strings.Split(user, ":"); len(parts) == 3 {
		return parts[1]
	}
	return ""
}

// binlogUser is the user name for connections to binlog_address. The Binlog Service finds
// the tenant only in the form user@tenant#cluster, so OceanBase's other form,
// cluster:tenant:user (which ODP accepts too), is rewritten into it.
func (c *config) binlogUser() string {
	if strings.Contains(c.User, "@") {
		return c.User
	}
	if parts := strings.Split(c.User, ":"); len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "" {
		return parts[2] + "@" + parts[1] + "#" + parts[0]
	}
	return c.User
}

func parseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, 'YYYY-MM-DD HH:MM:SS' UTC, or Unix seconds)", s)
}

func (c *config) serverID(pipeline string) uint32 {
	if c.ServerID > 0 {
		return uint32(c.ServerID)
	}
	h := fnv.New32a()
	h.Write([]byte(pipeline))
	for _, t := range c.Tables { // as configured: the same before and after Open resolves patterns
		h.Write([]byte(strings.TrimSpace(t)))
	}
	return 1<<20 + h.Sum32()%(1<<30)
}

// tlsConfig is the TLS configuration of the SQL connections (to address).
func (c *config) tlsConfig() *tls.Config { return tlsFor(c.TLS, c.Address) }

// binlogTLSConfig is the TLS configuration of the connections to binlog_address: its own
// setting (binlog_tls, default tls) and, with verify, binlog_address's own host name.
func (c *config) binlogTLSConfig() *tls.Config { return tlsFor(c.BinlogTLS, c.BinlogAddress) }

func tlsFor(mode, addr string) *tls.Config {
	switch mode {
	case tlsSkipVerify:
		return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by the user
	case tlsVerify:
		host, _, _ := net.SplitHostPort(addr)
		return &tls.Config{ServerName: host}
	}
	return nil
}

// dsn returns the go-sql-driver configuration for SQL connections: text protocol only
// (interpolated parameters), UTC session time zone so TIMESTAMP values read as UTC.
func (c *config) dsn() (*mysql.Config, error) {
	mc := mysql.NewConfig()
	mc.User = c.User
	mc.Passwd = c.Password.Reveal()
	mc.Net = "tcp"
	mc.Addr = c.Address
	mc.InterpolateParams = true
	mc.Timeout = 10 * time.Second
	mc.ReadTimeout = 10 * time.Minute
	mc.WriteTimeout = 1 * time.Minute
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	if tc := c.tlsConfig(); tc != nil {
		name := "ferry-oceanbase-" + c.TLS + "-" + c.Address
		if err := mysql.RegisterTLSConfig(name, tc); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		mc.TLSConfig = name
	}
	return mc, nil
}
