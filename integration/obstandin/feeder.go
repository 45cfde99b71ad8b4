package obstandin

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	_ "github.com/go-sql-driver/mysql" // information_schema reads
)

// feeder reads MariaDB's binlog as a replica and appends the changes to the store in the
// Binlog Service's shape: per transaction GTID, QUERY BEGIN, one TABLE_MAP and one v2 rows
// event per row, XID; DDL as GTID + QUERY (binlog_convert.cpp 1086-1131).
type feeder struct {
	cfg    *Config
	st     *store
	db     *sql.DB
	tables map[string]map[int]colInfo // "schema.table" -> ordinal (0-based) -> info
	logf   func(string, ...any)
}

type colInfo struct {
	floatPrec int
	json      bool
}

type pendingTx struct {
	gtid       string
	standalone bool
	ts         uint32
	tables     map[uint64]*table
	events     []rawEvent
	schema     string
}

var tableQualifier = regexp.MustCompile("(?is)^\\s*(?:alter|create|drop|rename|truncate)\\s+(?:table\\s+|index\\s+\\S+\\s+on\\s+)?(?:if\\s+(?:not\\s+)?exists\\s+)?`?([A-Za-z0-9_$]+)`?\\.")

var dbLevelDDL = regexp.MustCompile(`(?is)^\s*(create|drop|alter)\s+(database|schema)\b`)

func (f *feeder) included(schema string) bool {
	if len(f.cfg.DBPrefixes) == 0 {
		return true
	}
	for _, p := range f.cfg.DBPrefixes {
		if strings.HasPrefix(schema, p) {
			return true
		}
	}
	return false
}

func (f *feeder) ddlIncluded(schema, q string) bool {
	if f.included(schema) {
		return true
	}
	lq := strings.ToLower(q)
	for _, p := range f.cfg.DBPrefixes {
		if strings.Contains(lq, strings.ToLower(p)) {
			return true
		}
	}
	return false
}

func (f *feeder) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := f.once(ctx); err != nil && ctx.Err() == nil {
			f.logf("feeder: %v (retrying in 1s)", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (f *feeder) once(ctx context.Context) error {
	set, err := f.startSet(ctx)
	if err != nil {
		return err
	}
	syncer := f.syncer()
	defer syncer.Close()
	stream, err := syncer.StartSyncGTID(set)
	if err != nil {
		return err
	}
	cur := set.Clone().(*mysql.MariadbGTIDSet)
	crc := false
	var tx *pendingTx
	for {
		ev, err := stream.GetEvent(ctx)
		if err != nil {
			return err
		}
		ts := ev.Header.Timestamp
		switch e := ev.Event.(type) {
		case *replication.FormatDescriptionEvent:
			crc = e.ChecksumAlgorithm == replication.BINLOG_CHECKSUM_ALG_CRC32
		case *replication.MariadbGTIDEvent:
			tx = &pendingTx{gtid: e.GTID.String(), standalone: e.IsStandalone(), ts: ts, tables: map[uint64]*table{}}
		case *replication.TableMapEvent:
			if tx == nil || !f.included(string(e.Schema)) {
				continue
			}
			t, err := f.table(ctx, e)
			if err != nil {
				return err
			}
			tx.tables[e.TableID] = t
		case *replication.RowsEvent:
			if tx == nil {
				continue
			}
			if err := tx.addRows(ev, e, crc); err != nil {
				return err
			}
		case *replication.QueryEvent:
			if tx, err = f.query(tx, cur, ts, e); err != nil {
				return err
			}
		case *replication.XIDEvent:
			if tx != nil {
				if err := f.finish(tx, cur, ts, e.XID); err != nil {
					return err
				}
				tx = nil
			}
		}
	}
}

// startSet is the MariaDB GTID set to convert from: where the last run stopped, or at the
// first start where MariaDB is now.
func (f *feeder) startSet(ctx context.Context) (*mysql.MariadbGTIDSet, error) {
	pos := f.st.mariaDBPos()
	if pos == "" {
		// First start: convert from where MariaDB is now.
		if err := f.db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos); err != nil {
			return nil, fmt.Errorf("read gtid_binlog_pos: %w", err)
		}
		if err := f.st.skip(pos); err != nil {
			return nil, err
		}
	}
	set, err := mysql.ParseMariadbGTIDSet(pos)
	if err != nil {
		return nil, err
	}
	return set.(*mysql.MariadbGTIDSet), nil
}

// syncer is a replication client of MariaDB's binlog.
func (f *feeder) syncer() *replication.BinlogSyncer {
	host, port, _ := net.SplitHostPort(f.cfg.MariaDBAddr)
	p, _ := strconv.Atoi(port)
	return replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID:        f.cfg.FeederServerID,
		Flavor:          mysql.MariaDBFlavor,
		Host:            host,
		Port:            uint16(p),
		User:            f.cfg.MariaDBUser,
		Password:        f.cfg.MariaDBPassword,
		HeartbeatPeriod: time.Second,
		ReadTimeout:     10 * time.Second,
		Logger:          quietLogger(),
	})
}

// addRows re-encodes a rows event of a table the transaction maps as v2 rows events of one
// row image each (two for an update), each after its own TABLE_MAP; rows of tables left out
// are dropped.
func (tx *pendingTx) addRows(ev *replication.BinlogEvent, e *replication.RowsEvent, crc bool) error {
	t := tx.tables[e.TableID]
	if t == nil {
		return nil // filtered out
	}
	ts := ev.Header.Timestamp
	body := ev.RawData[headerSize:]
	if crc {
		body = body[:len(body)-4]
	}
	typ := ev.Header.EventType
	var out replication.EventType
	v2 := false
	update := false
	switch typ {
	case replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2:
		out = replication.WRITE_ROWS_EVENTv2
	case replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2:
		out, update = replication.UPDATE_ROWS_EVENTv2, true
	case replication.DELETE_ROWS_EVENTv1, replication.DELETE_ROWS_EVENTv2:
		out = replication.DELETE_ROWS_EVENTv2
	default:
		return fmt.Errorf("unsupported rows event type %s", typ)
	}
	v2 = typ >= replication.WRITE_ROWS_EVENTv2 && typ <= replication.DELETE_ROWS_EVENTv2
	rb, err := t.splitRows(body, v2, update)
	if err != nil {
		return err
	}
	step := 1
	if update {
		step = 2
	}
	if tx.schema == "" {
		tx.schema = t.schema
	}
	for i := 0; i+step <= len(rb.images); i += step {
		tx.events = append(tx.events, t.tableMapEvent(ts), t.rowsEvent(ts, out, rb, rb.images[i:i+step]))
	}
	return nil
}

// query handles a QUERY event within transaction tx (nil: none open) and returns the
// transaction open after it: a commit finishes tx, a rollback drops it, and the statement
// of a standalone transaction (DDL) is converted on its own.
func (f *feeder) query(tx *pendingTx, cur *mysql.MariadbGTIDSet, ts uint32, e *replication.QueryEvent) (*pendingTx, error) {
	q := strings.TrimSpace(string(e.Query))
	uq := strings.ToUpper(q)
	switch {
	case tx == nil:
		return nil, nil
	case uq == "BEGIN":
		return tx, nil
	case uq == "COMMIT" || uq == "XA END" || !tx.standalone && strings.HasPrefix(uq, "COMMIT"):
		return nil, f.finish(tx, cur, ts, 0)
	case uq == "ROLLBACK":
		return nil, nil
	case tx.standalone:
		return nil, f.standalone(tx, cur, ts, e, q)
	}
	return tx, nil
}

// standalone converts the statement q of a standalone transaction (DDL): a GTID event and
// the QUERY, in the database the Binlog Service writes; statements on databases left out
// only advance the position.
func (f *feeder) standalone(tx *pendingTx, cur *mysql.MariadbGTIDSet, ts uint32, e *replication.QueryEvent, q string) error {
	if err := cur.Update(tx.gtid); err != nil {
		return err
	}
	f.tables = map[string]map[int]colInfo{} // schema may have changed
	schema := string(e.Schema)
	if !f.ddlIncluded(schema, q) {
		return f.st.skip(cur.String())
	}
	if dbLevelDDL.MatchString(q) {
		schema = ""
	} else if m := tableQualifier.FindStringSubmatch(q); schema == "" && m != nil {
		schema = m[1] // the database of the table, as the Binlog Service writes it
	}
	return f.st.commit(cur.String(), func(gno int64) []rawEvent {
		return []rawEvent{gtidEvent(tx.ts, f.st.sid, gno, gno-1, gno), queryEvent(ts, schema, q)}
	})
}

func (f *feeder) finish(tx *pendingTx, cur *mysql.MariadbGTIDSet, ts uint32, xid uint64) error {
	if err := cur.Update(tx.gtid); err != nil {
		return err
	}
	if len(tx.events) == 0 {
		return f.st.skip(cur.String())
	}
	return f.st.commit(cur.String(), func(gno int64) []rawEvent {
		evs := []rawEvent{gtidEvent(tx.ts, f.st.sid, gno, gno-1, gno), queryEvent(tx.ts, tx.schema, "BEGIN")}
		evs = append(evs, tx.events...)
		if xid == 0 {
			xid = uint64(gno)
		}
		return append(evs, xidEvent(ts, xid))
	})
}

var jsonCheck = regexp.MustCompile("(?i)^json_valid\\(`?([^`)]+)`?\\)$")

// table builds the converted table of a TABLE_MAP: declared FLOAT precision and JSON-ness
// come from information_schema (as of now, not as of the event: a stand-in's shortcut).
func (f *feeder) table(ctx context.Context, e *replication.TableMapEvent) (*table, error) {
	key := string(e.Schema) + "." + string(e.Table)
	info, ok := f.tables[key]
	if !ok {
		info = map[int]colInfo{}
		rows, err := f.db.QueryContext(ctx, `SELECT ORDINAL_POSITION, COLUMN_NAME, DATA_TYPE, COALESCE(NUMERIC_PRECISION, 0)
			FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
			string(e.Schema), string(e.Table))
		if err != nil {
			return nil, err
		}
		byName := map[string]int{}
		for rows.Next() {
			var ord, prec int
			var name, typ string
			if err := rows.Scan(&ord, &name, &typ, &prec); err != nil {
				rows.Close()
				return nil, err
			}
			ci := colInfo{}
			if strings.EqualFold(typ, "float") {
				ci.floatPrec = prec
			}
			info[ord-1] = ci
			byName[strings.ToLower(name)] = ord - 1
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		crows, err := f.db.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
			WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?`, string(e.Schema), string(e.Table))
		if err == nil {
			for crows.Next() {
				var clause string
				if crows.Scan(&clause) == nil {
					if m := jsonCheck.FindStringSubmatch(strings.TrimSpace(clause)); m != nil {
						if i, ok := byName[strings.ToLower(m[1])]; ok {
							ci := info[i]
							ci.json = true
							info[i] = ci
						}
					}
				}
			}
			crows.Close()
		}
		f.tables[key] = info
	}
	t := &table{id: e.TableID, schema: string(e.Schema), name: string(e.Table), nullBitmap: e.NullBitmap}
	for i, typ := range e.ColumnType {
		c := column{typ: typ, meta: e.ColumnMeta[i]}
		ci := info[i]
		c.floatToDouble = ci.floatPrec > 24
		c.textToJSON = ci.json
		t.cols = append(t.cols, c)
	}
	return t, nil
}
