package oceanbase

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	gosql "github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Status is the verdict of a precheck (sdk.CheckStatus).
type Status = sdk.CheckStatus

// Verdicts.
const (
	StatusPass = sdk.CheckPass
	StatusWarn = sdk.CheckWarn
	StatusFail = sdk.CheckFail
)

// Check is the verdict of one precheck: its name, pass/warn/fail, what was found and what
// skipping a failed (or ignoring a warned) check means for the pipeline (sdk.Check, so the
// host shows it in `ferry precheck`).
type Check = sdk.Check

// Precheck implements sdk.Prechecker: every check of the source as configured.
func (s *Source) Precheck(ctx context.Context) ([]sdk.Check, error) {
	return Precheck(ctx, s.raw), nil
}

// Names of the checks.
const (
	CheckConnectivity   = "connectivity"
	CheckTables         = "tables"
	CheckBinlogFormat   = "binlog_format"
	CheckBinlogRowImage = "binlog_row_image"
	CheckLogRetention   = "log_retention"
	CheckStandby        = "standby_source"
	CheckNames          = "unsupported_names"
	CheckVirtualColumns = "virtual_generated_columns"
	CheckLOBBeforeImage = "lob_before_image"
	CheckPrimaryKeys    = "tables_without_primary_key"
	CheckPrivileges     = "privileges"
	CheckStartTimestamp = "start_timestamp"
)

// Retention needed by the pipeline's mode.
const (
	RetentionIncremental = 48 * time.Hour
	RetentionFull        = 7 * 24 * time.Hour
)

// Precheck runs every check of the source for configuration cfg and returns their verdicts, in
// a fixed order. A configuration or connection problem gives a single failed check.
func Precheck(ctx context.Context, cfg sdk.Config) []Check {
	p, err := NewPrechecker(ctx, cfg)
	if err != nil {
		name := CheckConnectivity
		var ae *sdk.AttributeError
		if errors.As(err, &ae) {
			name = "configuration"
		}
		return []Check{{Name: name, Status: StatusFail, Detail: err.Error(),
			Consequence: "the pipeline cannot start"}}
	}
	defer p.Close()
	return p.All(ctx)
}

// Prechecker runs the checks against one configured source.
type Prechecker struct {
	s      *Source
	now    func() time.Time
	tables []*change.Table // loaded schemas of the selected tables
	errs   []string        // tables that could not be loaded

	dumpTried bool
	dumpErr   error     // result of reading the oldest binlog over the replication protocol
	oldest    time.Time // first event of the oldest retained binlog
	oldestLog string
	logs      []binlogFile // SHOW BINARY LOGS on binlog_address
}

// NewPrechecker decodes cfg and connects to the SQL endpoint.
func NewPrechecker(ctx context.Context, cfg sdk.Config) (*Prechecker, error) {
	s := New()
	if err := s.Configure(ctx, cfg); err != nil {
		return nil, err
	}
	s.pipeline = "precheck"
	// never the pipeline's own server id: a second dump with it would cut a running pipeline off
	s.serverID = 1<<31 + rand.Uint32N(1<<30)
	if err := s.connect(ctx); err != nil {
		if s.db != nil {
			s.db.Close()
		}
		return nil, err
	}
	p := &Prechecker{s: s, now: time.Now}
	if err := s.resolvePatterns(ctx); err != nil {
		p.errs = append(p.errs, err.Error())
	}
	for _, n := range s.cfg.tables {
		tb, err := loadTable(ctx, s.db, s.cfg.tenant, n, 1)
		if err != nil {
			msg := err.Error()
			if errors.Is(err, ErrNoTable) {
				msg += " (or the user may not see it: check SELECT on it)"
			}
			p.errs = append(p.errs, msg)
			continue
		}
		p.tables = append(p.tables, tb.t)
	}
	return p, nil
}

// Close releases the connection.
func (p *Prechecker) Close() error { return p.s.db.Close() }

// Flavor is the detected server flavor ("mysql" or "mariadb").
func (p *Prechecker) Flavor() string { return p.s.flavor }

// All runs every check.
func (p *Prechecker) All(ctx context.Context) []Check {
	checks := []Check{
		p.Tables(), p.BinlogFormat(ctx), p.BinlogRowImage(ctx), p.LogRetention(ctx), p.Standby(ctx),
		NamesVerdict(p.tables), VirtualColumnsVerdict(p.tables), LOBVerdict(p.tables), KeysVerdict(p.tables),
		p.Privileges(ctx),
	}
	if p.s.cfg.StartTimestamp != "" {
		checks = append(checks, p.StartTimestamp(ctx))
	}
	return checks
}

// StartTimestamp checks start_timestamp against the retained binlogs: older than the oldest
// retained binlog fails (Open would refuse it); in the future warns (the pipeline reads
// nothing until then).
func (p *Prechecker) StartTimestamp(ctx context.Context) Check {
	ts := p.s.cfg.startTime
	c := Check{Name: CheckStartTimestamp, Status: StatusPass}
	now := p.now()
	p.readOldest(ctx)
	switch {
	case !p.oldest.IsZero() && ts.Before(p.oldest):
		c.Status = StatusFail
		c.Detail = fmt.Sprintf("start_timestamp %s is older than the oldest retained binlog %s (starts %s): the changes in between are purged",
			ts.UTC().Format(time.RFC3339), p.oldestLog, p.oldest.UTC().Format(time.RFC3339))
		c.Consequence = "the pipeline cannot start (Open refuses a start before the oldest binlog)"
	case ts.After(now.Add(time.Minute)):
		c.Status = StatusWarn
		c.Detail = fmt.Sprintf("start_timestamp %s is in the future (now %s): nothing is read until transactions commit after it",
			ts.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		c.Consequence = "the pipeline runs without sending anything until then"
	case p.oldest.IsZero():
		c.Status = StatusWarn
		c.Detail = fmt.Sprintf("start_timestamp %s: the oldest retained binlog could not be read (%v)", ts.UTC().Format(time.RFC3339), p.dumpErr)
		c.Consequence = "a start before the oldest retained binlog fails at Open"
	default:
		c.Detail = fmt.Sprintf("start_timestamp %s is within the retained binlogs (oldest %s starts %s)",
			ts.UTC().Format(time.RFC3339), p.oldestLog, p.oldest.UTC().Format(time.RFC3339))
	}
	return c
}

// Tables checks that every selected table exists and is a base table.
func (p *Prechecker) Tables() Check {
	c := Check{Name: CheckTables, Consequence: "the pipeline cannot start: Open fails on a missing or non-base table"}
	if len(p.errs) > 0 {
		c.Status, c.Detail = StatusFail, strings.Join(p.errs, "; ")
		return c
	}
	c.Status, c.Detail = StatusPass, fmt.Sprintf("%d base tables found", len(p.tables))
	return c
}

func (p *Prechecker) variable(ctx context.Context, name string) (string, error) {
	var v sql.NullString
	err := p.s.db.QueryRowContext(ctx, "SELECT @@GLOBAL."+name).Scan(&v)
	return v.String, err
}

// BinlogFormat checks that the server logs rows (binlog_format ROW).
func (p *Prechecker) BinlogFormat(ctx context.Context) Check {
	v, err := p.variable(ctx, "binlog_format")
	return BinlogFormatVerdict(v, err)
}

// BinlogFormatVerdict judges a binlog_format value (err: it could not be read).
func BinlogFormatVerdict(v string, err error) Check {
	c := Check{Name: CheckBinlogFormat,
		Consequence: "changes logged as statements are not seen: INSERT/UPDATE/DELETE would be lost"}
	switch {
	case err != nil:
		c.Status, c.Detail = StatusWarn, fmt.Sprintf("cannot read binlog_format (%v); it must be ROW", err)
	case strings.EqualFold(v, "ROW"):
		c.Status, c.Detail = StatusPass, "binlog_format is ROW"
	default:
		c.Status, c.Detail = StatusFail, fmt.Sprintf("binlog_format is %s, must be ROW (SET GLOBAL binlog_format = 'ROW' and restart writers)", v)
	}
	return c
}

// BinlogRowImage checks that the server logs full row images (binlog_row_image FULL).
func (p *Prechecker) BinlogRowImage(ctx context.Context) Check {
	v, err := p.variable(ctx, "binlog_row_image")
	return BinlogRowImageVerdict(v, err)
}

// BinlogRowImageVerdict judges a binlog_row_image value.
func BinlogRowImageVerdict(v string, err error) Check {
	c := Check{Name: CheckBinlogRowImage,
		Consequence: "columns not in the logged image arrive as NULL: before images and unchanged columns would be wrong"}
	switch {
	case err != nil:
		c.Status, c.Detail = StatusWarn, fmt.Sprintf("cannot read binlog_row_image (%v); it must be FULL", err)
	case strings.EqualFold(v, "FULL"):
		c.Status, c.Detail = StatusPass, "binlog_row_image is FULL"
	default:
		c.Status, c.Detail = StatusFail, fmt.Sprintf("binlog_row_image is %s, must be FULL", v)
	}
	return c
}

// readOldest reads the first event of the oldest retained binlog over the replication
// protocol (once): its time, and whether the user may dump the binlog at all.
func (p *Prechecker) readOldest(ctx context.Context) {
	if p.dumpTried {
		return
	}
	p.dumpTried = true
	files, err := p.s.binaryLogs(ctx)
	if err != nil {
		p.dumpErr = err
		return
	}
	p.oldestLog = files[0].name
	p.logs = files
	cfg, err := p.s.syncerConfig()
	if err != nil {
		p.dumpErr = err
		return
	}
	cfg.ReadTimeout = 10 * time.Second
	sy := replication.NewBinlogSyncer(cfg)
	defer sy.Close()
	st, err := sy.StartSync(mysql.Position{Name: files[0].name, Pos: 4})
	if err != nil {
		p.dumpErr = err
		return
	}
	for i := 0; i < 8; i++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		e, err := st.GetEvent(cctx)
		cancel()
		if err != nil {
			p.dumpErr = err
			return
		}
		if e.Header.Timestamp != 0 {
			p.oldest = time.Unix(int64(e.Header.Timestamp), 0)
			return
		}
	}
	p.dumpErr = errors.New("no timestamped event at the start of " + files[0].name)
}

// binlogFile is one row of SHOW BINARY LOGS.
type binlogFile struct {
	name string
	size int64 // -1 if not shown
}

// binaryLogs lists the retained binlog files, oldest first (SHOW BINARY LOGS on
// binlog_address).
func (s *Source) binaryLogs(ctx context.Context) ([]binlogFile, error) {
	r, err := s.binlogQuery(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, err
	}
	var files []binlogFile
	for i, row := range r.rows {
		f := binlogFile{name: row[0], size: -1}
		if v, ok := r.col(i, "File_size"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				f.size = n
			}
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, errors.New("SHOW BINARY LOGS lists no files: is the binlog enabled?")
	}
	return files, nil
}

// LogRetention checks that the server keeps binlogs long enough for the mode: 48 hours for
// incremental, 7 days for full + incremental. It reads the expiry setting
// (binlog_expire_logs_seconds, else expire_logs_days) and the oldest retained binlog's first
// event time.
func (p *Prechecker) LogRetention(ctx context.Context) Check {
	var expire time.Duration
	known := false
	if p.s.cfg.Mode == ModeFull {
		return RetentionVerdict(ModeFull, 0, false, time.Time{}, p.now())
	}
	// The expiry is the binlog server's (binlog_address): an OceanBase tenant has no such
	// variable, the Binlog Service's instance may (newer versions) or may not have it.
	if v, err := p.s.binlogVariable(ctx, "binlog_expire_logs_seconds"); err == nil {
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			expire, known = time.Duration(n)*time.Second, true
		}
	}
	if !known || expire == 0 {
		if v, err := p.s.binlogVariable(ctx, "expire_logs_days"); err == nil {
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				expire, known = time.Duration(n*24*float64(time.Hour)), true
			}
		}
	}
	p.readOldest(ctx)
	c := RetentionVerdict(p.s.cfg.Mode, expire, known, p.oldest, p.now())
	if p.oldestLog != "" && !p.oldest.IsZero() {
		c.Detail += fmt.Sprintf("; oldest retained binlog %s starts %s", p.oldestLog, p.oldest.UTC().Format(time.RFC3339))
	} else if p.dumpErr != nil {
		c.Detail += fmt.Sprintf("; the oldest binlog could not be read (%v)", p.dumpErr)
	}
	if p.s.oceanBase {
		c = BinlogServiceRetention(c, p.logs)
	}
	return c
}

// BinlogServiceRetention qualifies a retention verdict for the OceanBase Binlog Service,
// which purges by age (binlog_expire_logs_seconds) and by size (binlog_expire_logs_size) of
// its instance configuration, and closes an instance without subscribers after a week: a
// pass that rests on the age of the oldest file, or on an age setting alone, becomes a
// warning naming the instance settings. logs is SHOW BINARY LOGS (for the size held now).
func BinlogServiceRetention(c Check, logs []binlogFile) Check {
	if c.Status == StatusFail || c.Name != CheckLogRetention || strings.HasPrefix(c.Detail, "mode full") {
		return c
	}
	var total int64
	sized := true
	for _, l := range logs {
		if l.size < 0 {
			sized = false
		}
		total += l.size
	}
	held := ""
	if len(logs) > 0 && sized {
		held = fmt.Sprintf("; the Binlog Service holds %d files, %s", len(logs), humanBytes(total))
	}
	c.Status = StatusWarn
	c.Detail += held + "; the OceanBase Binlog Service also purges by size (instance settings binlog_expire_logs_seconds and binlog_expire_logs_size, see SHOW BINLOG INSTANCES on the binlog server): the retention cannot be confirmed from the tenant"
	return c
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// RetentionVerdict judges the binlog retention for mode. expire is the server's expiry
// (0: never), known whether it could be read; oldest the first event time of the oldest
// retained log (zero if unknown). Below the need: fail for incremental; for full +
// incremental a warning between 48 hours and 7 days, fail below 48 hours.
func RetentionVerdict(mode string, expire time.Duration, known bool, oldest, now time.Time) Check {
	c := Check{Name: CheckLogRetention}
	if mode == ModeFull {
		c.Status, c.Detail = StatusPass, "mode full does not read the binlog"
		return c
	}
	need, what := RetentionIncremental, "incremental"
	if mode == ModeBoth {
		need, what = RetentionFull, "full + incremental"
	}
	c.Consequence = fmt.Sprintf("a pipeline that stops or lags longer than the retention cannot resume (its position is purged) and must start over; %s needs %s", what, human(need))
	age := time.Duration(0)
	if !oldest.IsZero() {
		age = now.Sub(oldest)
	}
	switch {
	case known && expire == 0:
		c.Status, c.Detail = StatusPass, "binlogs never expire (expire setting 0)"
	case known && expire >= need:
		c.Status, c.Detail = StatusPass, fmt.Sprintf("binlogs expire after %s (need %s)", human(expire), human(need))
	case known:
		c.Status = StatusFail
		if mode == ModeBoth && expire >= RetentionIncremental {
			c.Status = StatusWarn
		}
		c.Detail = fmt.Sprintf("binlogs expire after %s, %s needs at least %s", human(expire), what, human(need))
	case !oldest.IsZero() && age >= need:
		c.Status, c.Detail = StatusPass, fmt.Sprintf("expiry setting unknown; the oldest retained binlog is %s old (need %s)", human(age), human(need))
	default:
		c.Status = StatusWarn
		c.Detail = fmt.Sprintf("cannot read the expiry setting; the oldest retained binlog is %s old, cannot confirm %s of retention (on OceanBase check the Binlog Service's binlog_expire_logs_seconds)", human(age), human(need))
	}
	return c
}

func human(d time.Duration) string {
	switch {
	case d == 24*time.Hour:
		return "1 day"
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%.1f hours", d.Hours())
	default:
		return d.Round(time.Second).String()
	}
}

// StandbyInfo is what the standby check found.
type StandbyInfo struct {
	TenantRole string // OceanBase: DBA_OB_TENANTS.TENANT_ROLE ("" when the view does not exist)
	// RoleErr is why an OceanBase server's tenant role could not be read (no SELECT on
	// oceanbase.DBA_OB_TENANTS, a version before 4.1): the role is unknown, never a pass.
	RoleErr   string
	ReadOnly  bool   // @@GLOBAL.read_only
	ReplicaOf string // the primary this server replicates from ("" if none or unknown)
}

// Standby checks that the source is not a standby: OceanBase's tenant role, else MySQL's or
// MariaDB's read_only and replica status.
func (p *Prechecker) Standby(ctx context.Context) Check {
	var info StandbyInfo
	var role sql.NullString
	err := p.s.db.QueryRowContext(ctx, "SELECT TENANT_ROLE FROM oceanbase.DBA_OB_TENANTS").Scan(&role)
	switch {
	case err == nil:
		info.TenantRole = role.String
		return StandbyVerdict(info)
	case p.s.oceanBase:
		// On OceanBase read_only does not mark a standby tenant: without the role the
		// answer is unknown (an access error must not fall through to a pass).
		info.RoleErr = err.Error()
		return StandbyVerdict(info)
	}
	if v, err := p.variable(ctx, "read_only"); err == nil {
		info.ReadOnly = v == "1" || strings.EqualFold(v, "ON")
	}
	// replica status needs SLAVE MONITOR / REPLICATION CLIENT; without it this part is skipped
	if rows, err := p.s.db.QueryContext(ctx, "SHOW SLAVE STATUS"); err == nil {
		cols, _ := rows.Columns()
		if rows.Next() {
			raw := make([]sql.RawBytes, len(cols))
			dst := make([]any, len(cols))
			for i := range raw {
				dst[i] = &raw[i]
			}
			if rows.Scan(dst...) == nil {
				for i, c := range cols {
					if strings.EqualFold(c, "Master_Host") || strings.EqualFold(c, "Source_Host") {
						info.ReplicaOf = string(raw[i])
					}
				}
				if info.ReplicaOf == "" {
					info.ReplicaOf = "?"
				}
			}
		}
		rows.Close()
	}
	return StandbyVerdict(info)
}

// StandbyVerdict judges what Standby found.
func StandbyVerdict(info StandbyInfo) Check {
	c := Check{Name: CheckStandby,
		Consequence: "a standby's log may lag, switch over or be discarded, and the snapshot hand-over cannot write its watermark rows"}
	switch {
	case info.RoleErr != "":
		c.Status, c.Detail = StatusWarn, fmt.Sprintf("cannot read the OceanBase tenant's role (%s): grant SELECT on oceanbase.DBA_OB_TENANTS (OceanBase 4.1+) or make sure the tenant is PRIMARY", info.RoleErr)
	case info.TenantRole != "" && !strings.EqualFold(info.TenantRole, "PRIMARY"):
		c.Status, c.Detail = StatusFail, fmt.Sprintf("the OceanBase tenant's role is %s: a standby tenant cannot be the source", info.TenantRole)
	case info.TenantRole != "":
		c.Status, c.Detail = StatusPass, "the OceanBase tenant is PRIMARY"
	case info.ReadOnly:
		c.Status, c.Detail = StatusFail, "the server is read_only (a standby or replica): use the primary"
	case info.ReplicaOf != "":
		c.Status, c.Detail = StatusWarn, fmt.Sprintf("the server replicates from %s: prefer the primary (a replica needs log_slave_updates and may be switched over)", info.ReplicaOf)
	default:
		c.Status, c.Detail = StatusPass, "the server is writable and not a replica"
	}
	return c
}

// unsupportedNameChars are the characters a database, table or column name must not hold.
const unsupportedNameChars = ".|\"'`()=;/&\\"

// NameProblem says why name is unsupported ("" if it is fine): non-ASCII characters, spaces,
// line breaks, control characters or any of . | " ' ` ( ) = ; / & \.
func NameProblem(name string) string {
	if name == "" {
		return "empty name"
	}
	for _, r := range name {
		switch {
		case r > 0x7e:
			return fmt.Sprintf("non-ASCII character %q", r)
		case r == ' ':
			return "a space"
		case r == '\n' || r == '\r':
			return "a line break"
		case r < 0x20:
			return fmt.Sprintf("control character %q", r)
		case strings.ContainsRune(unsupportedNameChars, r):
			return fmt.Sprintf("character %q", r)
		}
	}
	return ""
}

// NamesVerdict fails naming every database, table and column with an unsupported name.
func NamesVerdict(tables []*change.Table) Check {
	c := Check{Name: CheckNames,
		Consequence: "such objects cannot be synchronized: topics, message formats and filters cannot name them unambiguously"}
	var bad []string
	seenDB := map[string]bool{}
	for _, t := range tables {
		if pr := NameProblem(t.Database); pr != "" && !seenDB[t.Database] {
			seenDB[t.Database] = true
			bad = append(bad, fmt.Sprintf("database %q (%s)", t.Database, pr))
		}
		if pr := NameProblem(t.Name); pr != "" {
			bad = append(bad, fmt.Sprintf("table %q.%q (%s)", t.Database, t.Name, pr))
		}
		for _, col := range t.Columns {
			if pr := NameProblem(col.Name); pr != "" {
				bad = append(bad, fmt.Sprintf("column %q of %s (%s)", col.Name, t.QualifiedName(), pr))
			}
		}
	}
	if len(bad) > 0 {
		c.Status, c.Detail = StatusFail, "unsupported names (ASCII only, no spaces, line breaks or . | \" ' ` ( ) = ; / & \\): "+strings.Join(bad, "; ")
		return c
	}
	c.Status, c.Detail = StatusPass, fmt.Sprintf("all names of %d tables are supported", len(tables))
	return c
}

// VirtualColumnsVerdict warns naming each VIRTUAL generated column.
func VirtualColumnsVerdict(tables []*change.Table) Check {
	c := Check{Name: CheckVirtualColumns,
		Consequence: "these columns arrive as NULL in incremental changes (the binlog does not carry them); snapshot rows have their values"}
	var cols []string
	for _, t := range tables {
		for _, col := range t.Columns {
			if col.Generated == change.GeneratedVirtual {
				cols = append(cols, t.QualifiedName()+"."+col.Name)
			}
		}
	}
	if len(cols) > 0 {
		c.Status, c.Detail = StatusWarn, "VIRTUAL generated columns: "+strings.Join(cols, ", ")+" (make them STORED to have their values; on OceanBase 4.x generated columns must be STORED)"
		return c
	}
	c.Status, c.Detail = StatusPass, "no VIRTUAL generated columns"
	return c
}

// IsLOB reports whether a column is a LOB (TEXT and BLOB families, JSON, spatial types).
func IsLOB(col *change.Column) bool {
	switch col.Type {
	case "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "JSON",
		"GEOMETRY", "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
		"GEOMETRYCOLLECTION", "GEOMCOLLECTION", "XMLTYPE":
		return true
	}
	return false
}

// LOBVerdict warns naming each LOB column: where the log carries no before image of an
// unchanged LOB (binlog_row_image NOBLOB/MINIMAL, and on some OceanBase Binlog Service
// versions), it is emitted as NULL.
func LOBVerdict(tables []*change.Table) Check {
	c := Check{Name: CheckLOBBeforeImage,
		Consequence: "when the log omits an unchanged LOB's image, the column is emitted as NULL in that change (never a wrong value)"}
	var cols []string
	for _, t := range tables {
		for i := range t.Columns {
			if IsLOB(&t.Columns[i]) {
				cols = append(cols, t.QualifiedName()+"."+t.Columns[i].Name+" "+t.Columns[i].Type)
			}
		}
	}
	if len(cols) > 0 {
		c.Status, c.Detail = StatusWarn, "LOB columns (TEXT/BLOB/JSON/spatial): "+strings.Join(cols, ", ")
		return c
	}
	c.Status, c.Detail = StatusPass, "no LOB columns"
	return c
}

// KeysVerdict warns naming each table without a primary key and the fallback used for it.
func KeysVerdict(tables []*change.Table) Check {
	c := Check{Name: CheckPrimaryKeys,
		Consequence: "rows are identified by the fallback key: with all columns, duplicate rows cannot be told apart and per-key order covers whole rows; the snapshot of a table without a NOT NULL unique key is read in one statement"}
	var bad []string
	for _, t := range tables {
		if len(t.PrimaryKey) > 0 {
			continue
		}
		if hasRealKey(t) {
			kc := t.KeyColumns()
			names := make([]string, len(kc))
			for i, k := range kc {
				names[i] = t.Columns[k].Name
			}
			bad = append(bad, fmt.Sprintf("%s (unique key (%s) used)", t.QualifiedName(), strings.Join(names, ", ")))
		} else {
			bad = append(bad, fmt.Sprintf("%s (no NOT NULL unique key: all columns form the key, snapshot in one chunk)", t.QualifiedName()))
		}
	}
	if len(bad) > 0 {
		c.Status, c.Detail = StatusWarn, "tables without primary key: "+strings.Join(bad, "; ")
		return c
	}
	c.Status, c.Detail = StatusPass, "every table has a primary key"
	return c
}

// Privileges checks SELECT on the selected tables, REPLICATION SLAVE and REPLICATION CLIENT
// (BINLOG MONITOR on MariaDB) for the binlog, and CREATE/INSERT/UPDATE/DELETE on the watermark
// database in mode both. It parses SHOW GRANTS and confirms by trying statements: a SELECT
// LIMIT 0 of each table, SHOW MASTER STATUS, and a binlog dump.
func (p *Prechecker) Privileges(ctx context.Context) Check {
	var grants []string
	rows, err := p.s.db.QueryContext(ctx, "SHOW GRANTS")
	if err == nil {
		for rows.Next() {
			var g string
			if rows.Scan(&g) == nil {
				grants = append(grants, g)
			}
		}
		rows.Close()
	}
	need := requiredPrivileges(p.s.flavor, p.s.cfg.Mode, p.s.cfg.tables, p.s.cfg.WatermarkDatabase)
	missing := MissingPrivileges(grants, need)
	// what the tries prove overrides the grant parsing (roles, proxies, OceanBase's format)
	tried := map[string]bool{}
	for _, n := range p.s.cfg.tables {
		_, err := p.s.db.ExecContext(ctx, "SELECT 1 FROM "+qualified(n.DB, n.Name)+" LIMIT 0")
		tried["SELECT ON "+n.String()] = err == nil || !isDenied(err)
	}
	if p.s.cfg.Mode != ModeFull {
		_, err := p.s.binlogQuery(ctx, "SHOW MASTER STATUS")
		tried[clientPriv(p.s.flavor)+" ON *.*"] = err == nil || !isDenied(err)
		p.readOldest(ctx)
		if p.dumpErr == nil {
			tried["REPLICATION SLAVE ON *.*"] = true
		} else if isDenied(p.dumpErr) {
			tried["REPLICATION SLAVE ON *.*"] = false
		}
	}
	var out []string
	for _, m := range missing {
		if ok, t := tried[m]; t && ok {
			continue
		}
		out = append(out, m)
	}
	for m, ok := range tried {
		if !ok && !contains(out, m) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	c := Check{Name: CheckPrivileges, Consequence: "the snapshot, the binlog stream or the watermark hand-over fails with an access error"}
	if len(out) > 0 {
		c.Status, c.Detail = StatusFail, fmt.Sprintf("user %s lacks: %s", p.s.cfg.User, strings.Join(out, "; "))
		return c
	}
	c.Status, c.Detail = StatusPass, fmt.Sprintf("user %s has %s", p.s.cfg.User, strings.Join(need, "; "))
	return c
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func isDenied(err error) bool {
	denied := func(code uint16) bool {
		return code == 1044 || code == 1045 || code == 1142 || code == 1143 || code == 1227
	}
	var me *mysql.MyError
	if errors.As(err, &me) {
		return denied(me.Code)
	}
	var ge *gosql.MySQLError
	if errors.As(err, &ge) {
		return denied(ge.Number)
	}
	msg := err.Error()
	return strings.Contains(msg, "Error 1044") || strings.Contains(msg, "Error 1142") ||
		strings.Contains(msg, "Error 1227") || strings.Contains(msg, "denied")
}

func clientPriv(flavor string) string {
	if flavor == mysql.MariaDBFlavor {
		return "BINLOG MONITOR"
	}
	return "REPLICATION CLIENT"
}

// requiredPrivileges lists what the mode needs, as "PRIV ON object".
func requiredPrivileges(flavor, mode string, tables []tableName, wmDB string) []string {
	var need []string
	for _, t := range tables {
		need = append(need, "SELECT ON "+t.String())
	}
	if mode != ModeFull {
		need = append(need, "REPLICATION SLAVE ON *.*", clientPriv(flavor)+" ON *.*")
	}
	if mode == ModeBoth {
		for _, p := range []string{"CREATE", "INSERT", "UPDATE", "DELETE"} {
			need = append(need, p+" ON "+wmDB+".*")
		}
	}
	return need
}

var grantRE = regexp.MustCompile(`(?is)^GRANT\s+(.+?)\s+ON\s+(?:TABLE\s+)?(\S+)\s+TO\s`)

// MissingPrivileges returns the entries of need ("PRIV ON db.table", "PRIV ON db.*" or
// "PRIV ON *.*") that the SHOW GRANTS lines do not give. Database patterns (`ferry\_%`) are
// matched as LIKE patterns; ALL PRIVILEGES gives everything but GRANT OPTION; on MariaDB
// REPLICATION CLIENT and BINLOG MONITOR are one privilege.
func MissingPrivileges(grants []string, need []string) []string {
	type grant struct {
		privs  map[string]bool
		db, tb string // "*" for any
	}
	var gs []grant
	for _, line := range grants {
		m := grantRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		g := grant{privs: map[string]bool{}}
		for _, pr := range splitTop(m[1]) {
			pr = strings.ToUpper(strings.TrimSpace(pr))
			if i := strings.IndexByte(pr, '('); i >= 0 { // column privileges: not enough for SELECT *
				continue
			}
			pr = strings.Join(strings.Fields(pr), " ")
			if pr == "ALL" {
				pr = "ALL PRIVILEGES"
			}
			g.privs[pr] = true
		}
		obj := m[2]
		db, tb, ok := strings.Cut(obj, ".")
		if !ok {
			db, tb = "*", obj
		}
		g.db, g.tb = unquoteIdent(db), unquoteIdent(tb)
		gs = append(gs, g)
	}
	has := func(g grant, priv string) bool {
		if g.privs[priv] || (g.privs["ALL PRIVILEGES"] && priv != "GRANT OPTION") {
			return true
		}
		if priv == "REPLICATION CLIENT" || priv == "BINLOG MONITOR" {
			return g.privs["REPLICATION CLIENT"] || g.privs["BINLOG MONITOR"]
		}
		return false
	}
	var missing []string
	for _, n := range need {
		priv, obj, _ := strings.Cut(n, " ON ")
		db, tb, _ := strings.Cut(obj, ".")
		ok := false
		for _, g := range gs {
			if !has(g, priv) {
				continue
			}
			if g.db == "*" && g.tb == "*" {
				ok = true
			} else if db != "*" && likeMatch(g.db, db) && (g.tb == "*" || (tb != "*" && strings.EqualFold(g.tb, tb))) {
				ok = true
			}
			if ok {
				break
			}
		}
		if !ok {
			missing = append(missing, n)
		}
	}
	return missing
}

// splitTop splits s at commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func unquoteIdent(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '`' || s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		q := string(s[0])
		return strings.ReplaceAll(s[1:len(s)-1], q+q, q)
	}
	return s
}

// likeMatch matches name against a grant's database pattern (% and _ wildcards, \ escapes).
func likeMatch(pattern, name string) bool {
	var b strings.Builder
	b.WriteString("(?is)^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(string(pattern[i])))
		case c == '%':
			b.WriteString(".*")
		case c == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(name)
}
