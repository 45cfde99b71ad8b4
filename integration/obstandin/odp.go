package obstandin

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// odpConn is one client session of the ODP role: SQL goes to MariaDB, what ODP routes to
// the binlog instance (obproxy ob_proxy_parser.l/.y, ob_mysql_transact.cpp
// is_binlog_request) goes to an in-process binlog session.
type odpConn struct {
	srv      *Server
	conn     *server.Conn
	bl       *binlogSession
	back     *client.Conn
	db       string
	plain    string
	password string
	vars     map[string]string // session ob_* variables
}

// plainUser splits "user@tenant#cluster", "user@tenant" and "cluster:tenant:user".
func plainUser(u string) (user, tenant string) {
	if m := tenantUser.FindStringSubmatch(u); m != nil {
		return m[1], m[2]
	}
	if a, b, ok := strings.Cut(u, "@"); ok {
		return a, b
	}
	if p := strings.Split(u, ":"); len(p) == 3 {
		return p[2], p[1]
	}
	return u, ""
}

func (o *odpConn) GetCredential(username string) (server.Credential, bool, error) {
	u, _ := plainUser(username)
	pw, ok := o.srv.userPassword(u)
	if !ok {
		return server.Credential{}, false, nil
	}
	if pw == "" {
		pw = "" // empty password allowed
	}
	return server.Credential{Passwords: []string{pw}, AuthPluginName: mysql.AUTH_NATIVE_PASSWORD}, true, nil
}

// OnAuthSuccess logs in to MariaDB as the plain user: MariaDB is the authority.
func (o *odpConn) OnAuthSuccess(c *server.Conn) error {
	u, tenant := plainUser(c.GetUser())
	if tenant == "" {
		return mysql.NewError(mysql.ER_ACCESS_DENIED_ERROR, fmt.Sprintf("Access denied for user '%s' (no tenant: use user@tenant#cluster)", c.GetUser()))
	}
	o.plain = u
	o.password, _ = o.srv.userPassword(u)
	back, err := client.Connect(o.srv.cfg.MariaDBAddr, u, o.password, o.db)
	if err != nil {
		if me, ok := err.(*mysql.MyError); ok {
			return me
		}
		return mysql.NewError(mysql.ER_ACCESS_DENIED_ERROR, fmt.Sprintf("Access denied for user '%s': %v", c.GetUser(), err))
	}
	o.back = back
	o.bl.tenant = tenant
	return nil
}
func (o *odpConn) OnAuthFailure(*server.Conn, error) {}

func (o *odpConn) UseDB(db string) error {
	o.db = db
	if o.back != nil {
		return o.back.UseDB(db)
	}
	return nil
}

var (
	reLeadComment = regexp.MustCompile(`^(\s*/\*[^+].*?\*/)+\s*`)
	// what ODP routes to the binlog instance
	reBinlogStmt = regexp.MustCompile(`(?is)^(show\s+master\s+status|show\s+(binary|master)\s+logs|show\s+binlog\s+events\b.*|purge\s+(binary|master)\s+logs\b.*|reset\s+master|flush\s+binary\s+logs|show\s+slave\s+status)$`)
	binlogSysVar = `(gtid_mode|server_id|server_uuid|gtid_executed|gtid_purged|gtid_next|gtid_owned)`
	reBinlogSel  = regexp.MustCompile(`(?is)^select\b.*(@@(global\.|session\.)?` + binlogSysVar + `\b|@(slave_uuid|master_heartbeat_period|master_binlog_checksum)\b)`)
	reBinlogShow = regexp.MustCompile(`(?is)^show\s+(global\s+|session\s+)?variables\s+like\s+'` + binlogSysVar + `'$`)
	// refused as OceanBase refuses them
	reRefuse = regexp.MustCompile(`(?is)^(flush\s+tables?(\s+\S+)*\s+with\s+read\s+lock|lock\s+tables?\b.*|start\s+transaction\s+with\s+consistent\s+snapshot\b.*)$`)
	// OB variables MariaDB lacks
	obVar       = `(ob_query_timeout|ob_trx_timeout|ob_trx_idle_timeout|ob_read_consistency)`
	reObVarRef  = regexp.MustCompile(`(?i)@@(global\.|session\.|local\.)?` + obVar + `\b`)
	reObSelect1 = regexp.MustCompile(`(?is)^select\s+@@(global\.|session\.|local\.)?` + obVar + `$`)
	reObShow    = regexp.MustCompile(`(?is)^show\s+(global\s+|session\s+)?variables\s+like\s+'(ob_[^']*)'$`)
	// MariaDB's GTID variables: an OceanBase tenant has none (ob_system_variable_alias.h)
	// and no binlog expiry variables either (expiry is the Binlog Service instance's setting)
	reMariaVar = regexp.MustCompile(`(?i)@@(?:global\.|session\.)?(gtid_(?:binlog_pos|binlog_state|current_pos|slave_pos|domain_id|strict_mode|seq_no|ignore_duplicates|pos_auto_engines|cleanup_batch_size)|expire_logs_days|binlog_expire_logs_seconds)\b`)
	reVersion  = regexp.MustCompile(`(?is)^select\s+(version\(\)|@@version|@@global\.version)$`)
	reHintTO   = regexp.MustCompile(`(?i)/\*\+[^*]*query_timeout\s*\(\s*(\d+)\s*\)`)
	reUse      = regexp.MustCompile("(?is)^use\\s+`?([^`\\s]+)`?$")
	// OceanBase's tenant view (4.1+): in a user tenant it lists that tenant only
	reTenants = regexp.MustCompile("(?is)^select\\s+(.+?)\\s+from\\s+`?oceanbase`?\\.`?dba_ob_tenants`?(\\s.*)?$")
)

func (o *odpConn) HandleQuery(q string) (*mysql.Result, error) {
	if err := o.srv.injected(); err != nil {
		return nil, err
	}
	n := normalize(reLeadComment.ReplaceAllString(q, ""))
	l := strings.ToLower(n)
	switch {
	case reRefuse.MatchString(n):
		what := strings.ToLower(strings.Join(strings.Fields(n), " "))
		if len(what) > 48 {
			what = what[:48]
		}
		return nil, &mysql.MyError{Code: mysql.ER_NOT_SUPPORTED_YET, State: "0A000", Message: what + " not supported"}
	case reBinlogStmt.MatchString(n), reBinlogSel.MatchString(n), reBinlogShow.MatchString(n):
		return o.bl.query(n)
	case reMariaVar.MatchString(n):
		return nil, unknownVar(reMariaVar.FindStringSubmatch(n)[1])
	case reVersion.MatchString(n):
		return oneRow([]string{n[len("select "):]}, []any{ODPVersion})
	case strings.HasPrefix(l, "set "):
		return o.set(n)
	case reKill.MatchString(n):
		// ODP owns the connection ids its clients see: never forwarded to a server
		m := reKill.FindStringSubmatch(n)
		id, _ := strconv.ParseUint(m[1], 10, 32)
		if !o.srv.killODP(uint32(id), strings.Contains(l, "query")) {
			return nil, mysql.NewError(mysql.ER_NO_SUCH_THREAD, fmt.Sprintf("Unknown thread id: %d", id))
		}
		return nil, nil
	}
	if m := reObSelect1.FindStringSubmatch(n); m != nil {
		return oneRow([]string{n[len("select "):]}, []any{o.obValue(m[2], m[1])})
	}
	if m := reObShow.FindStringSubmatch(n); m != nil {
		re := likeRegexp(m[2])
		var vals [][]any
		for _, k := range []string{"ob_query_timeout", "ob_read_consistency", "ob_trx_idle_timeout", "ob_trx_timeout"} {
			if re.MatchString(k) {
				vals = append(vals, []any{k, o.obValue(k, m[1])})
			}
		}
		if len(vals) == 0 {
			return emptyResult("Variable_name", "Value")
		}
		return rows([]string{"Variable_name", "Value"}, vals)
	}
	if m := reUse.FindStringSubmatch(n); m != nil {
		return nil, o.UseDB(m[1])
	}
	if m := reTenants.FindStringSubmatch(n); m != nil {
		return o.tenants(m[1])
	}
	// other references to ob_* variables: substitute their values
	if reObVarRef.MatchString(q) {
		q = reObVarRef.ReplaceAllStringFunc(q, func(ref string) string {
			m := reObVarRef.FindStringSubmatch(ref)
			v := o.obValue(m[2], m[1])
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				return v
			}
			return "'" + v + "'"
		})
	}
	return o.forward(q)
}

// tenants answers a SELECT of plain columns (or *) from oceanbase.DBA_OB_TENANTS with the
// session's tenant: its role is the stand-in's (Config.TenantRole, knob /role), or a refusal
// as a user without SELECT on the view gets (1142; the code is MySQL's, an inference).
func (o *odpConn) tenants(list string) (*mysql.Result, error) {
	role := o.srv.TenantRole()
	if role == RoleDenied {
		return nil, mysql.NewError(mysql.ER_TABLEACCESS_DENIED_ERROR,
			fmt.Sprintf("SELECT command denied to user '%s'@'%%' for table 'DBA_OB_TENANTS'", o.plain))
	}
	all := []string{"TENANT_ID", "TENANT_NAME", "TENANT_TYPE", "CREATE_TIME", "MODIFY_TIME", "PRIMARY_ZONE",
		"LOCALITY", "STATUS", "TENANT_ROLE", "COMPATIBILITY_MODE", "LOG_MODE"}
	vals := map[string]any{"TENANT_ID": int64(1002), "TENANT_NAME": o.bl.tenant, "TENANT_TYPE": "USER",
		"CREATE_TIME": "2026-01-01 00:00:00.000000", "MODIFY_TIME": "2026-01-01 00:00:00.000000",
		"PRIMARY_ZONE": "RANDOM", "LOCALITY": "FULL{1}@zone1", "STATUS": "NORMAL", "TENANT_ROLE": role,
		"COMPATIBILITY_MODE": "MYSQL", "LOG_MODE": "NOARCHIVELOG"}
	var cols []string
	if strings.TrimSpace(list) == "*" {
		cols = all
	} else {
		for _, c := range splitTop(list) {
			name := strings.ToUpper(strings.Trim(strings.TrimSpace(c), "`"))
			if _, ok := vals[name]; !ok {
				return nil, mysql.NewError(mysql.ER_BAD_FIELD_ERROR, fmt.Sprintf("Unknown column '%s' in 'field list'", strings.TrimSpace(c)))
			}
			cols = append(cols, name)
		}
	}
	row := make([]any, len(cols))
	for i, c := range cols {
		row[i] = vals[c]
	}
	return rows(cols, [][]any{row})
}

func (o *odpConn) obValue(name, scope string) string {
	name = strings.ToLower(name)
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(scope)), "global") {
		o.srv.mu.Lock()
		defer o.srv.mu.Unlock()
		return o.srv.obDef[name]
	}
	return o.vars[name]
}

// set keeps ob_* variables in the session (GLOBAL ones for new sessions too), hands binlog
// user variables to the binlog session, and forwards the rest to MariaDB.
func (o *odpConn) set(n string) (*mysql.Result, error) {
	var rest []string
	for _, a := range splitTop(n[4:]) {
		m := reSetAssign.FindStringSubmatch(a)
		if m == nil {
			rest = append(rest, a)
			continue
		}
		scope, name := strings.ToLower(strings.TrimSpace(m[1])), strings.ToLower(m[2])
		switch {
		case strings.HasPrefix(name, "ob_") && scope != "@":
			v := unquote(m[3])
			if name == "ob_read_consistency" {
				v = strings.ToUpper(v)
			} else if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return nil, mysql.NewError(mysql.ER_WRONG_TYPE_FOR_VAR, "Incorrect argument type to variable '"+name+"'")
			}
			if strings.HasPrefix(scope, "global") || strings.HasPrefix(scope, "@@global") {
				o.srv.mu.Lock()
				o.srv.obDef[name] = v
				o.srv.mu.Unlock()
			} else {
				o.vars[name] = v
			}
		case scope == "@":
			_ = o.bl.set(a) // ODP keeps user variables for both servers
			rest = append(rest, a)
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 {
		return nil, nil
	}
	return o.forward("SET " + strings.Join(rest, ","))
}

func errTimeout(us int64) error {
	return mysql.NewError(4012, fmt.Sprintf("Timeout, query has reached the maximum query timeout: %d(us), "+
		"maybe you can adjust the session variable ob_query_timeout or query_timeout hint, and try again.", us))
}

// forward runs a statement on MariaDB under ob_query_timeout (or a query_timeout hint):
// past it the query is killed (KILL QUERY) and the client gets error 4012.
func (o *odpConn) forward(q string) (*mysql.Result, error) {
	us, _ := strconv.ParseInt(o.vars["ob_query_timeout"], 10, 64)
	if m := reHintTO.FindStringSubmatch(q); m != nil {
		us, _ = strconv.ParseInt(m[1], 10, 64)
	}
	type res struct {
		r   *mysql.Result
		err error
	}
	ch := make(chan res, 1)
	go func() {
		r, err := o.back.Execute(q)
		ch <- res{r, err}
	}()
	var timer <-chan time.Time
	if us > 0 {
		t := time.NewTimer(time.Duration(us) * time.Microsecond)
		defer t.Stop()
		timer = t.C
	}
	select {
	case r := <-ch:
		return r.r, r.err
	case <-timer:
		o.kill()
		<-ch
		return nil, errTimeout(us)
	}
}

func (o *odpConn) kill() {
	if o.back == nil {
		return
	}
	k, err := client.Connect(o.srv.cfg.MariaDBAddr, o.plain, o.password, "")
	if err != nil {
		o.srv.logf("kill query: %v", err)
		return
	}
	defer k.Close()
	if _, err := k.Execute(fmt.Sprintf("KILL QUERY %d", o.back.GetConnectionID())); err != nil {
		o.srv.logf("kill query: %v", err)
	}
}

func (o *odpConn) HandleFieldList(table, wildcard string) ([]*mysql.Field, error) {
	return o.back.FieldList(table, wildcard)
}

func (o *odpConn) HandleStmtPrepare(q string) (int, int, any, error) {
	if err := o.srv.injected(); err != nil {
		return 0, 0, nil, err
	}
	st, err := o.back.Prepare(q)
	if err != nil {
		return 0, 0, nil, err
	}
	return st.ParamNum(), st.ColumnNum(), st, nil
}

func (o *odpConn) HandleStmtExecute(ctx any, _ string, args []any) (*mysql.Result, error) {
	if err := o.srv.injected(); err != nil {
		return nil, err
	}
	return ctx.(*client.Stmt).Execute(args...)
}

func (o *odpConn) HandleStmtClose(ctx any) error {
	if st, ok := ctx.(*client.Stmt); ok {
		return st.Close()
	}
	return nil
}

func (o *odpConn) HandleOtherCommand(cmd byte, data []byte) error {
	switch cmd {
	case mysql.COM_REGISTER_SLAVE, mysql.COM_BINLOG_DUMP, mysql.COM_BINLOG_DUMP_GTID:
		// routed to the binlog instance; ODP does not retry these (ob_mysql_transact.cpp)
		if d := o.srv.delay(); d > 0 {
			time.Sleep(d)
		}
		return o.bl.command(cmd, data)
	case mysql.COM_SET_OPTION:
		return nil
	}
	return mysql.NewError(mysql.ER_UNKNOWN_COM_ERROR, "Unknown command")
}

func (s *Server) serveODP(nc net.Conn) {
	srv := server.NewServer(ODPVersion, mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil)
	o := &odpConn{srv: s, bl: newBinlogSession(s), vars: map[string]string{}}
	s.mu.Lock()
	for k, v := range s.obDef {
		o.vars[k] = v
	}
	s.mu.Unlock()
	c, err := srv.NewCustomizedConn(nc, o, o)
	if err != nil {
		if o.back != nil {
			o.back.Close()
		}
		nc.Close()
		return
	}
	o.conn, o.bl.conn = c, c
	defer func() {
		if o.back != nil {
			o.back.Close()
		}
	}()
	s.mu.Lock()
	s.odps[c] = o
	s.mu.Unlock()
	s.serveConn(c, nc)
}
