package obstandin

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-mysql-org/go-mysql/server"
)

// binlogSession is one client session of the Binlog Service role (oblogproxy
// src/binlog/connection.cpp, sql_cmd_processor.cpp, binlog_dumper.cpp). The ODP role keeps
// one per client connection too and hands it what ODP routes to the binlog instance.
type binlogSession struct {
	srv     *Server
	conn    *server.Conn
	tenant  string
	userVar map[string]string // @master_binlog_checksum, @master_heartbeat_period, @slave_uuid, ...
}

func newBinlogSession(s *Server) *binlogSession {
	return &binlogSession{srv: s, userVar: map[string]string{}}
}

// globals is the binlog instance's variable table (sys_var.h): it emulates 8.0.23 with
// gtid_mode ON; the old table has no binlog_checksum/binlog_format/binlog_row_image.
func (b *binlogSession) globals() map[string]string {
	st := b.srv.store
	// a few of sys_var.h's entries (values as there), plus server_id/server_uuid and the
	// GTID sets filled in at run time
	v := map[string]string{
		"version":                     "8.0.23",
		"version_comment":             "MySQL Community Server - GPL",
		"server_id":                   strconv.FormatUint(uint64(b.srv.cfg.ServerID), 10),
		"server_uuid":                 st.st.ServerUUID,
		"gtid_mode":                   "ON",
		"enforce_gtid_consistency":    "OFF",
		"gtid_executed":               st.executed().String(),
		"gtid_purged":                 st.purged().String(),
		"gtid_next":                   "AUTOMATIC",
		"gtid_owned":                  "",
		"binlog_gtid_simple_recovery": "ON",
		"log_bin":                     "OFF",
		"expire_logs_days":            "0",
		"max_binlog_size":             "1073741824",
		"read_only":                   "OFF",
		"autocommit":                  "ON",
		"character_set_server":        "utf8mb4",
		"collation_server":            "utf8mb4_general_ci",
		"time_zone":                   "SYSTEM",
		"transaction_isolation":       "REPEATABLE-READ",
		"lower_case_table_names":      "0",
		"max_allowed_packet":          "4194304",
		"net_read_timeout":            "30",
		"net_write_timeout":           "60",
	}
	if !b.srv.cfg.OldVariables {
		v["binlog_checksum"] = "CRC32"
		v["binlog_format"] = "ROW"
		v["binlog_row_image"] = "FULL"
	}
	return v
}

var (
	reSelectVar  = regexp.MustCompile(`(?is)^select\s+(@@(?:global\.|session\.)?|@)([a-z_0-9]+)(\s+as\s+\S+)?$`)
	reSelectFunc = regexp.MustCompile(`(?is)^select\s+([a-z_]+)\(\s*\)$`)
	reShowVars   = regexp.MustCompile(`(?is)^show\s+(?:(global|session|local)\s+)?variables(?:\s+like\s+'([^']*)')?$`)
	reShowEvents = regexp.MustCompile(`(?is)^show\s+binlog\s+events(?:\s+in\s+'([^']+)')?(?:\s+from\s+(\d+))?(?:\s+limit\s+(?:(\d+)\s*,\s*)?(\d+))?$`)
	reKill       = regexp.MustCompile(`(?is)^kill\s+(?:connection\s+|query\s+)?(\d+)$`)
	rePurgeTo    = regexp.MustCompile(`(?is)^purge\s+(?:binary|master)\s+logs\s+to\s+'([^']+)'$`)
	reSetAssign  = regexp.MustCompile(`(?is)^\s*(@@(?:global\.|session\.)?|@|global\s+|session\s+)?([a-z_0-9]+)\s*=\s*(.+?)\s*$`)
)

func normalize(q string) string {
	q = strings.TrimSpace(q)
	q = strings.TrimRight(q, "; \t\n")
	return strings.Join(strings.Fields(q), " ")
}

func oneRow(names []string, vals []any) (*mysql.Result, error) {
	return rows(names, [][]any{vals})
}

// rows builds a text result set (empty strings stay empty, nil is NULL).
func rows(names []string, vals [][]any) (*mysql.Result, error) {
	r, _ := emptyResult(names...)
	rs := r.Resultset
	for i := range names {
		if len(vals) > 0 {
			switch vals[0][i].(type) {
			case int, int64, uint32, uint64:
				rs.Fields[i].Type = mysql.MYSQL_TYPE_LONGLONG
				rs.Fields[i].Charset = 63
			}
		}
	}
	for _, row := range vals {
		var b []byte
		for _, v := range row {
			if v == nil {
				b = append(b, 0xfb)
				continue
			}
			b = append(b, mysql.PutLengthEncodedString([]byte(fmt.Sprint(v)))...)
		}
		rs.RowDatas = append(rs.RowDatas, b)
	}
	return r, nil
}

func unknownVar(name string) error {
	return mysql.NewError(mysql.ER_UNKNOWN_SYSTEM_VARIABLE, fmt.Sprintf("Unknown system variable '%s'", name))
}

// queryVar is ShowVarProcessor::query_var: a GLOBAL name must be in the instance's table
// (else 1236 "Unknown system variable x"); a SESSION name must not be (else 1236 "Variable
// 'x' is a GLOBAL variable ") and reads the session's value ("" when unset).
func (b *binlogSession) queryVar(name string, global bool) (string, error) {
	v, isGlobal := b.globals()[name]
	if global {
		if !isGlobal {
			return "", mysql.NewError(mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, "Unknown system variable "+name)
		}
		return v, nil
	}
	if isGlobal {
		return "", mysql.NewError(mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, "Variable '"+name+"' is a GLOBAL variable ")
	}
	return b.userVar[name], nil
}

// query answers the SQL the Binlog Service handles.
func (b *binlogSession) query(q string) (*mysql.Result, error) {
	n := normalize(q)
	l := strings.ToLower(n)
	st := b.srv.store
	switch {
	case l == "show master status":
		m := st.master(b.srv.cfg.MasterStatusLag)
		return oneRow([]string{"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB", "Executed_Gtid_Set"},
			[]any{m.file, m.pos, "", "", m.exec})
	case l == "show binary logs" || l == "show master logs":
		var vals [][]any
		for _, f := range st.list() {
			vals = append(vals, []any{f.name, f.size})
		}
		return rows([]string{"Log_name", "File_size"}, vals)
	case l == "flush binary logs" || l == "flush logs":
		return nil, st.flush()
	case strings.HasPrefix(l, "set "):
		return nil, b.set(n[4:])
	case reKill.MatchString(n):
		id, _ := strconv.ParseUint(reKill.FindStringSubmatch(n)[1], 10, 32)
		b.srv.kill(uint32(id))
		return nil, nil
	case strings.HasPrefix(l, "show slave status") || strings.HasPrefix(l, "show replica status") || l == "reset master":
		return nil, mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, "This version of the binlog service doesn't yet support '"+n+"'")
	}
	if m := rePurgeTo.FindStringSubmatch(n); m != nil {
		st.purge(0, 0, m[1])
		return nil, nil
	}
	if m := reShowEvents.FindStringSubmatch(n); m != nil {
		return b.showEvents(m[1], m[2], m[3], m[4])
	}
	if m := reShowVars.FindStringSubmatch(n); m != nil {
		return b.showVariables(m[1], m[2])
	}
	if m := reSelectVar.FindStringSubmatch(n); m != nil {
		return b.selectVariable(m[1], m[2])
	}
	if m := reSelectFunc.FindStringSubmatch(n); m != nil {
		switch strings.ToLower(m[1]) {
		case "version":
			return oneRow([]string{n[len("select "):]}, []any{b.globals()["version"]})
		}
		return nil, nil // an unknown function: no result set (EOF only)
	}
	if strings.HasPrefix(l, "select ") {
		return nil, nil // SelectProcessor answers other selects with EOF only
	}
	return nil, mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, "Not supported by the binlog service: "+n)
}

// showVariables is ShowVarProcessor: LIKE names one variable (no wildcards); GLOBAL and no
// modifier read the instance's table (ShowStatement's var_type defaults to Global, the
// grammar sets Session/Local only for SHOW SESSION/LOCAL VARIABLES), SESSION and LOCAL the
// session's variables. scope is the modifier as written, like the LIKE pattern.
func (b *binlogSession) showVariables(scope, like string) (*mysql.Result, error) {
	global := scope == "" || strings.EqualFold(scope, "global")
	name := strings.ToLower(like)
	g := b.globals()
	cols := []string{"Variable_name", "Value"}
	switch {
	case name == "" && global:
		var names []string
		for k := range g {
			names = append(names, k)
		}
		sort.Strings(names)
		var vals [][]any
		for _, k := range names {
			vals = append(vals, []any{k, g[k]})
		}
		return rows(cols, vals)
	case name == "":
		var vals [][]any
		for k, v := range b.userVar {
			vals = append(vals, []any{k, v})
		}
		if len(vals) == 0 {
			return emptyResult(cols...)
		}
		return rows(cols, vals)
	}
	v, err := b.queryVar(name, global)
	if err != nil {
		return nil, err
	}
	return oneRow(cols, []any{name, v})
}

// selectVariable is SelectProcessor's SELECT @@name or @name (prefix is "@@", "@@global.",
// "@@session." or "@"): the column is @@name or @name, an alias is not applied
// (oblogproxy#66).
func (b *binlogSession) selectVariable(prefix, name string) (*mysql.Result, error) {
	name = strings.ToLower(name)
	global := strings.HasPrefix(prefix, "@@") && !strings.EqualFold(prefix, "@@session.")
	col := "@" + name
	if global {
		col = "@@" + name
	}
	v, err := b.queryVar(name, global)
	if err != nil {
		return nil, err
	}
	return oneRow([]string{col}, []any{v})
}

func likeRegexp(pat string) *regexp.Regexp {
	if pat == "" {
		return regexp.MustCompile(".*")
	}
	var sb strings.Builder
	sb.WriteString("(?i)^")
	for _, r := range pat {
		switch r {
		case '%':
			sb.WriteString(".*")
		case '_':
			sb.WriteString(".")
		default:
			sb.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	sb.WriteString("$")
	return regexp.MustCompile(sb.String())
}

// splitTop splits on commas outside quotes and parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"' || r == '`':
			quote = r
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

func (b *binlogSession) set(assigns string) error {
	for _, a := range splitTop(assigns) {
		m := reSetAssign.FindStringSubmatch(a)
		if m == nil {
			return mysql.NewError(mysql.ER_PARSE_ERROR, "You have an error in your SQL syntax near '"+a+"'")
		}
		// SetVarProcessor: session (and user) variables are kept per session, GLOBAL ones ignored
		if scope := strings.ToLower(strings.TrimSpace(m[1])); !strings.Contains(scope, "global") {
			b.userVar[strings.ToLower(m[2])] = unquote(m[3])
		}
	}
	return nil
}

// showEvents is SHOW BINLOG EVENTS [IN file] [FROM pos] [LIMIT [offset,] n]
// (ShowBinlogEventsProcessor: MySQL's event type names, Info as mysqlbinlog prints it).
func (b *binlogSession) showEvents(file, from, offset, limit string) (*mysql.Result, error) {
	v := b.srv.store.view()
	if file == "" {
		file = v.files[0]
	}
	pos := int64(4)
	if from != "" {
		pos, _ = strconv.ParseInt(from, 10, 64)
	}
	skip, _ := strconv.Atoi(offset)
	max := 1 << 30
	if limit != "" {
		max, _ = strconv.Atoi(limit)
	}
	f, err := os.Open(filepath.Join(b.srv.store.dir, file))
	if err != nil {
		return nil, mysql.NewError(mysql.ER_ERROR_WHEN_EXECUTING_COMMAND, "Error when executing command SHOW BINLOG EVENTS: Could not find target log")
	}
	defer f.Close()
	end := int64(1 << 62)
	if file == v.current {
		end = v.size
	}
	var vals [][]any
	for i := 0; len(vals) < max && pos < end; i++ {
		ev, err := readEventAt(f, pos)
		if err != nil {
			break
		}
		if i >= skip {
			vals = append(vals, []any{file, pos, eventTypeName(ev), strconv.FormatUint(uint64(binary.LittleEndian.Uint32(ev[5:])), 10),
				binary.LittleEndian.Uint32(ev[13:]), eventInfo(ev)})
		}
		pos += int64(len(ev))
	}
	names := []string{"Log_name", "Pos", "Event_type", "Server_id", "End_log_pos", "Info"}
	if len(vals) == 0 {
		return emptyResult(names...)
	}
	return rows(names, vals)
}

func eventTypeName(ev []byte) string {
	switch replication.EventType(ev[4]) {
	case replication.FORMAT_DESCRIPTION_EVENT:
		return "Format_desc"
	case replication.PREVIOUS_GTIDS_EVENT:
		return "Previous_gtids"
	case replication.GTID_EVENT:
		return "Gtid"
	case replication.QUERY_EVENT:
		return "Query"
	case replication.TABLE_MAP_EVENT:
		return "Table_map"
	case replication.WRITE_ROWS_EVENTv2:
		return "Write_rows"
	case replication.UPDATE_ROWS_EVENTv2:
		return "Update_rows"
	case replication.DELETE_ROWS_EVENTv2:
		return "Delete_rows"
	case replication.XID_EVENT:
		return "Xid"
	case replication.ROTATE_EVENT:
		return "Rotate"
	}
	return replication.EventType(ev[4]).String()
}

func eventInfo(ev []byte) string {
	body := ev[headerSize : len(ev)-4]
	switch replication.EventType(ev[4]) {
	case replication.FORMAT_DESCRIPTION_EVENT:
		return "Server ver: " + strings.TrimRight(string(body[2:52]), "\x00") + ", Binlog ver: 4"
	case replication.PREVIOUS_GTIDS_EVENT:
		if set, err := mysql.DecodeMysqlGTIDSet(body); err == nil {
			return set.String()
		}
	case replication.GTID_EVENT:
		var u [16]byte
		copy(u[:], body[1:17])
		one := emptySet()
		one.AddGTID(u, int64(binary.LittleEndian.Uint64(body[17:])))
		return "SET @@SESSION.GTID_NEXT= '" + one.String() + "'"
	case replication.QUERY_EVENT:
		dbLen := int(body[8])
		sv := int(binary.LittleEndian.Uint16(body[11:]))
		return string(body[13+sv+dbLen+1:])
	case replication.TABLE_MAP_EVENT:
		id := uint64(0)
		for i := 5; i >= 0; i-- {
			id = id<<8 | uint64(body[i])
		}
		sl := int(body[8])
		schema := string(body[9 : 9+sl])
		tl := int(body[9+sl+1])
		return fmt.Sprintf("table_id: %d (%s.%s)", id, schema, body[9+sl+2:9+sl+2+tl])
	case replication.XID_EVENT:
		return fmt.Sprintf("COMMIT /* xid=%d */", binary.LittleEndian.Uint64(body))
	case replication.ROTATE_EVENT:
		return fmt.Sprintf("%s;pos=%d", body[8:], binary.LittleEndian.Uint64(body))
	case replication.WRITE_ROWS_EVENTv2, replication.UPDATE_ROWS_EVENTv2, replication.DELETE_ROWS_EVENTv2:
		id := uint64(0)
		for i := 5; i >= 0; i-- {
			id = id<<8 | uint64(body[i])
		}
		return fmt.Sprintf("table_id: %d flags: STMT_END_F", id)
	}
	return ""
}

// command handles COM_REGISTER_SLAVE, COM_BINLOG_DUMP and COM_BINLOG_DUMP_GTID by writing
// the raw packets (heartbeats, checksums and the GTID rule are the stand-in's own).
func (b *binlogSession) command(cmd byte, data []byte) error {
	switch cmd {
	case mysql.COM_REGISTER_SLAVE:
		return nil
	case mysql.COM_BINLOG_DUMP:
		if len(data) < 10 {
			return mysql.ErrMalformPacket
		}
		pos := int64(binary.LittleEndian.Uint32(data[0:4]))
		name := string(data[10:])
		return b.dump(name, pos, nil)
	case mysql.COM_BINLOG_DUMP_GTID:
		if len(data) < 22 {
			return mysql.ErrMalformPacket
		}
		nameSize := int(binary.LittleEndian.Uint32(data[6:10]))
		p := 10 + nameSize + 8
		size := int(binary.LittleEndian.Uint32(data[p:]))
		set, err := mysql.DecodeMysqlGTIDSet(data[p+4 : p+4+size])
		if err != nil {
			return err
		}
		return b.dumpGTID(set)
	}
	return mysql.NewError(mysql.ER_UNKNOWN_COM_ERROR, "Unknown command")
}

func errNoGTID() error {
	return mysql.NewError(mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG,
		"The requested gtid transaction no longer exists and may have been cleaned up")
}

// dumpGTID applies the Binlog Service's rule (binlog_dumper.cpp 150-255): scan files newest
// to oldest for the first whose PREVIOUS_GTIDS is contained in the requested set, stream
// from there and skip the requested GTIDs. No such file: fail. An empty set streams from
// the oldest file (seek_first_binlog_file).
func (b *binlogSession) dumpGTID(req *mysql.MysqlGTIDSet) error {
	v := b.srv.store.view()
	if req.IsEmpty() {
		return b.dump(v.files[0], 4, nil)
	}
	for i := len(v.files) - 1; i >= 0; i-- {
		prev := b.srv.store.prevOf(v.files[i])
		if prev != nil && req.Contain(prev) {
			return b.dump(v.files[i], 4, req)
		}
	}
	return errNoGTID()
}

func (b *binlogSession) heartbeatPeriod() time.Duration {
	if v, ok := b.userVar["master_heartbeat_period"]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return time.Duration(n) // nanoseconds, as MySQL's variable
		}
	}
	if v, ok := b.userVar["source_heartbeat_period"]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			return time.Duration(n)
		}
	}
	return time.Second // binlog_heartbeat_interval_us default
}

// rotateCRC is init_binlog_checksum: @master_binlog_checksum unset → the instance's
// binlog_checksum (on), CRC32 → CRC32, anything else → OFF. It applies to the first, fake
// ROTATE only: every event from the files (format description included) is sent as stored,
// with CRC32 (binlog_dumper.cpp seek_event resets the flag from each FORMAT_DESCRIPTION).
func (b *binlogSession) rotateCRC() bool {
	v, ok := b.userVar["master_binlog_checksum"]
	if !ok {
		v, ok = b.userVar["source_binlog_checksum"]
	}
	return !ok || v == "" || strings.EqualFold(v, "CRC32")
}

func (b *binlogSession) send(ev []byte, crc bool) error {
	if !crc {
		ev = withoutChecksum(ev)
	}
	pkt := make([]byte, 4, 5+len(ev))
	pkt = append(pkt, mysql.OK_HEADER)
	pkt = append(pkt, ev...)
	return b.conn.WritePacket(pkt)
}

func (b *binlogSession) sendRaw(e rawEvent, pos uint32, crc bool) error {
	return b.send(e.finish(b.srv.cfg.ServerID, pos, true), crc)
}

// dump streams from file:pos, skipping transactions in skip (GTID mode), following
// rotations, then tails the current file with heartbeats.
func (b *binlogSession) dump(name string, pos int64, skip *mysql.MysqlGTIDSet) error {
	st := b.srv.store
	hb := b.heartbeatPeriod()
	v := st.view()
	found := false
	for _, f := range v.files {
		if f == name {
			found = true
		}
	}
	if !found {
		return mysql.NewError(mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, "Could not find first log file name in binary log index file")
	}
	if pos < 4 {
		pos = 4
	}
	if err := b.sendRaw(rotateEvent(0, name, uint64(pos), true), 0, b.rotateCRC()); err != nil {
		return err
	}
	for {
		f, err := os.Open(filepath.Join(st.dir, name))
		if err != nil {
			return mysql.NewError(mysql.ER_MASTER_FATAL_ERROR_READING_BINLOG, "binlog file "+name+" is gone: "+err.Error())
		}
		if pos > 4 {
			fde, err := readEventAt(f, 4)
			if err != nil {
				f.Close()
				return err
			}
			binary.LittleEndian.PutUint32(fde[13:], 0)
			if err := b.send(fde, true); err != nil {
				f.Close()
				return err
			}
		}
		next, err := b.streamFile(f, name, pos, skip, hb)
		f.Close()
		if err != nil {
			return err
		}
		name, pos = next, 4
	}
}

// streamFile sends one file's events from pos; returns the next file's name at its ROTATE.
func (b *binlogSession) streamFile(f *os.File, name string, pos int64, skip *mysql.MysqlGTIDSet, hb time.Duration) (string, error) {
	const crc = true // events go out as stored
	st := b.srv.store
	skipping := false
	lastSent := time.Now()
	for {
		v := st.view()
		end := int64(1 << 62)
		if name == v.current {
			end = v.size
		}
		if pos >= end {
			if b.srv.dropped(b) {
				return "", mysql.NewError(mysql.ER_CON_COUNT_ERROR, "connection dropped by fault injection")
			}
			wait := hb - time.Since(lastSent)
			if wait <= 0 {
				if err := b.sendRaw(heartbeatEvent(name), uint32(pos)-uint32(headerSize+len(name)+4), crc); err != nil {
					return "", err
				}
				lastSent = time.Now()
				continue
			}
			select {
			case <-v.changed:
			case <-time.After(wait):
			}
			continue
		}
		ev, err := readEventAt(f, pos)
		if err != nil {
			return "", err
		}
		pos += int64(len(ev))
		typ := replication.EventType(ev[4])
		switch typ {
		case replication.GTID_EVENT:
			if skip != nil {
				var u [16]byte
				copy(u[:], ev[headerSize+1:headerSize+17])
				gno := int64(binary.LittleEndian.Uint64(ev[headerSize+17:]))
				one := emptySet()
				one.AddGTID(u, gno)
				skipping = skip.Contain(one)
			}
		case replication.ROTATE_EVENT:
			if err := b.send(ev, crc); err != nil {
				return "", err
			}
			return string(ev[headerSize+8 : len(ev)-4]), nil
		}
		if skipping && typ != replication.FORMAT_DESCRIPTION_EVENT && typ != replication.PREVIOUS_GTIDS_EVENT {
			continue
		}
		if err := b.send(ev, crc); err != nil {
			return "", err
		}
		lastSent = time.Now()
		if b.srv.cfg.HeartbeatInTx && typ == replication.QUERY_EVENT && isBegin(ev) {
			// a heartbeat inside the transaction, as the Binlog Service may send one any time
			if err := b.sendRaw(heartbeatEvent(name), uint32(pos)-uint32(headerSize+len(name)+4), crc); err != nil {
				return "", err
			}
		}
		if d := b.srv.delay(); d > 0 {
			time.Sleep(d)
		}
	}
}

func isBegin(ev []byte) bool {
	body := ev[headerSize : len(ev)-4]
	if len(body) < 13 {
		return false
	}
	dbLen := int(body[8])
	sv := int(binary.LittleEndian.Uint16(body[11:]))
	q := body[13+sv+dbLen+1:]
	return string(q) == "BEGIN"
}

func emptyResult(names ...string) (*mysql.Result, error) {
	rs := mysql.NewResultset(len(names))
	for i, n := range names {
		rs.Fields[i] = &mysql.Field{Name: []byte(n), Type: mysql.MYSQL_TYPE_VAR_STRING, Charset: 33}
		rs.FieldNames[n] = i
	}
	return mysql.NewResult(rs), nil
}
