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
	v := map[string]string{
		"version":                  "8.0.23",
		"version_comment":          "OceanBase Binlog Service (ferry stand-in)",
		"server_id":                strconv.FormatUint(uint64(b.srv.cfg.ServerID), 10),
		"server_uuid":              st.st.ServerUUID,
		"gtid_mode":                "ON",
		"enforce_gtid_consistency": "ON",
		"gtid_executed":            st.executed().String(),
		"gtid_purged":              st.purged().String(),
		"gtid_next":                "AUTOMATIC",
		"log_bin":                  "ON",
		"binlog_gtid_display":      "ON",
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
	reShowVars   = regexp.MustCompile(`(?is)^show\s+(?:global\s+|session\s+)?variables(?:\s+like\s+'([^']*)')?$`)
	reShowEvents = regexp.MustCompile(`(?is)^show\s+binlog\s+events(?:\s+in\s+'([^']+)')?(?:\s+from\s+(\d+))?(?:\s+limit\s+(\d+))?$`)
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
			vals = append(vals, []any{f.name, f.size, "No"})
		}
		return rows([]string{"Log_name", "File_size", "Encrypted"}, vals)
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
		return b.showEvents(m[1], m[2], m[3])
	}
	if m := reShowVars.FindStringSubmatch(n); m != nil {
		g := b.globals()
		pat := m[1]
		if pat != "" && !strings.Contains(pat, "%") { // one variable: query_var, ERR when absent
			v, ok := g[strings.ToLower(pat)]
			if !ok {
				return nil, unknownVar(pat)
			}
			return oneRow([]string{"Variable_name", "Value"}, []any{strings.ToLower(pat), v})
		}
		re := likeRegexp(pat)
		var names []string
		for k := range g {
			if re.MatchString(k) {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		vals := [][]any{}
		for _, k := range names {
			vals = append(vals, []any{k, g[k]})
		}
		if len(vals) == 0 {
			return emptyResult("Variable_name", "Value")
		}
		return rows([]string{"Variable_name", "Value"}, vals)
	}
	if m := reSelectVar.FindStringSubmatch(n); m != nil {
		col := strings.TrimSpace(n[len("select "):]) // an alias is not applied (oblogproxy#66)
		name := strings.ToLower(m[2])
		if m[1] == "@" {
			v, ok := b.userVar[name]
			if !ok {
				return oneRow([]string{col}, []any{nil})
			}
			return oneRow([]string{col}, []any{v})
		}
		v, ok := b.globals()[name]
		if !ok {
			return nil, unknownVar(m[2])
		}
		return oneRow([]string{col}, []any{v})
	}
	if m := reSelectFunc.FindStringSubmatch(n); m != nil {
		switch strings.ToLower(m[1]) {
		case "version":
			return oneRow([]string{n[len("select "):]}, []any{b.globals()["version"]})
		case "database", "schema":
			return oneRow([]string{n[len("select "):]}, []any{nil})
		}
	}
	return nil, mysql.NewError(mysql.ER_NOT_SUPPORTED_YET, "Not supported by the binlog service: "+n)
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
		if strings.TrimSpace(m[1]) == "@" {
			b.userVar[strings.ToLower(m[2])] = unquote(m[3])
		}
		// system variables: accepted and ignored (the instance's table is read-only here)
	}
	return nil
}

// showEvents is SHOW BINLOG EVENTS [IN file] [FROM pos] [LIMIT n].
func (b *binlogSession) showEvents(file, from, limit string) (*mysql.Result, error) {
	v := b.srv.store.view()
	if file == "" {
		file = v.files[0]
	}
	pos := int64(4)
	if from != "" {
		pos, _ = strconv.ParseInt(from, 10, 64)
	}
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
	for len(vals) < max && pos < end {
		ev, err := readEventAt(f, pos)
		if err != nil {
			break
		}
		typ := replication.EventType(ev[4])
		vals = append(vals, []any{file, pos, typ.String(), binary.LittleEndian.Uint32(ev[5:]),
			binary.LittleEndian.Uint32(ev[13:]), ""})
		pos += int64(len(ev))
	}
	names := []string{"Log_name", "Pos", "Event_type", "Server_id", "End_log_pos", "Info"}
	if len(vals) == 0 {
		return emptyResult(names...)
	}
	return rows(names, vals)
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
