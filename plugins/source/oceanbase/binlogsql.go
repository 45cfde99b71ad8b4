package oceanbase

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Binlog SQL: the statements about the binlog (SHOW MASTER STATUS, SHOW BINARY LOGS, SHOW
// BINLOG EVENTS, @@gtid_mode, @@server_uuid, @@gtid_executed, @@gtid_purged, MariaDB's
// BINLOG_GTID_POS) go to binlog_address, never to address. Through ODP with binlog routing
// (address = binlog_address, the normal OceanBase setup) ODP forwards them to the tenant's
// Binlog Service; an OBServer has no binlog at all, and a direct Binlog Service connection
// (binlog_address = the Binlog Service) is the only place that knows them. On MySQL and
// MariaDB both addresses are usually the same server.

// binlogResult is the text of a binlog SQL statement's result.
type binlogResult struct {
	cols []string
	rows [][]string
}

// col returns the value of column name (case-insensitive) in row i, "" if absent.
func (r *binlogResult) col(i int, name string) (string, bool) {
	for j, c := range r.cols {
		if strings.EqualFold(c, name) && i < len(r.rows) {
			return r.rows[i][j], true
		}
	}
	return "", false
}

// binlogQuery runs q on a new connection to binlog_address (go-mysql's client: the same
// handshake as the replication stream, which the Binlog Service's 5.7.35-obs handshake
// serves). Binlog SQL is rare (start, timestamp resolution, precheck): one connection per
// statement.
//
// Transient failures (ODP answering "MySQL server has gone away" to concurrent SHOW MASTER
// STATUS, obproxy#53; a lost connection) are retried with backoff.
func (s *Source) binlogQuery(ctx context.Context, q string) (*binlogResult, error) {
	var out *binlogResult
	err := retry(ctx, s.log, "binlog query", func() error {
		var err error
		out, err = s.binlogQueryOnce(ctx, q)
		return err
	})
	return out, err
}

func (s *Source) binlogQueryOnce(ctx context.Context, q string) (*binlogResult, error) {
	c, err := s.binlogConn(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	type res struct {
		r   *mysql.Result
		err error
	}
	ch := make(chan res, 1)
	go func() {
		r, err := c.Execute(q)
		ch <- res{r, err}
	}()
	var r *mysql.Result
	select {
	case x := <-ch:
		if x.err != nil {
			return nil, fmt.Errorf("%s on binlog_address %s: %w", q, s.cfg.BinlogAddress, x.err)
		}
		r = x.r
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
	out := &binlogResult{}
	if r.Resultset == nil {
		return out, nil
	}
	for _, f := range r.Fields {
		out.cols = append(out.cols, string(f.Name))
	}
	for i := range r.Values {
		row := make([]string, len(out.cols))
		for j := range row {
			v, _ := r.GetString(i, j)
			row[j] = v
		}
		out.rows = append(out.rows, row)
	}
	return out, nil
}

// errBinlogNoTLS is returned when TLS is asked for on binlog_address and the server there
// offers none (the OceanBase Binlog Service never does).
var errBinlogNoTLS = errors.New("the server at binlog_address offers no TLS")

func (s *Source) binlogConn(ctx context.Context) (*client.Conn, error) {
	tc := s.cfg.binlogTLSConfig()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := client.ConnectWithContext(cctx, s.cfg.BinlogAddress, s.cfg.binlogUser(), s.cfg.Password.Reveal(), "", 10*time.Second,
		func(c *client.Conn) error {
			c.ReadTimeout, c.WriteTimeout = time.Minute, time.Minute
			if tc != nil {
				c.SetTLSConfig(tc)
			}
			return nil
		})
	if err != nil {
		return nil, s.binlogConnError(err)
	}
	return c, nil
}

// binlogConnError explains a failed connection to binlog_address.
func (s *Source) binlogConnError(err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "does not support TLS") {
		return fmt.Errorf("connect to binlog_address %s: %w (binlog_tls is %q): set binlog_tls = \"disabled\" to read the binlog without TLS (the OceanBase Binlog Service has none; through ODP TLS ends at ODP)",
			s.cfg.BinlogAddress, errBinlogNoTLS, s.cfg.BinlogTLS)
	}
	return fmt.Errorf("connect to binlog_address %s as %s: %w", s.cfg.BinlogAddress, s.cfg.binlogUser(), err)
}

// binlogVariable reads @@GLOBAL.name on binlog_address.
func (s *Source) binlogVariable(ctx context.Context, name string) (string, error) {
	r, err := s.binlogQuery(ctx, "SELECT @@GLOBAL."+name)
	if err != nil {
		return "", err
	}
	if len(r.rows) == 0 || len(r.rows[0]) == 0 {
		return "", fmt.Errorf("SELECT @@GLOBAL.%s on binlog_address returned nothing", name)
	}
	return r.rows[0][0], nil
}

// binlogGTIDPos is MariaDB's BINLOG_GTID_POS(file, pos) on binlog_address.
func (s *Source) binlogGTIDPos(ctx context.Context, file string, pos uint32) (string, error) {
	r, err := s.binlogQuery(ctx, "SELECT BINLOG_GTID_POS("+sqlString(file)+", "+strconv.FormatUint(uint64(pos), 10)+")")
	if err != nil {
		return "", err
	}
	if len(r.rows) == 0 || len(r.rows[0]) == 0 {
		return "", nil
	}
	return r.rows[0][0], nil
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`).Replace(s) + "'"
}
