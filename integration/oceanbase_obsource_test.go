//go:build integration

package integration

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/integration/harness"
	"github.com/ferry-cdc/ferry/plugins/source/oceanbase"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

// Tests of the source against OceanBase's behaviours that the real MariaDB of the test bed
// can show: binlog SQL sent to binlog_address, non-UTF-8 character sets decoded alike in
// snapshot and stream, the session statement limit lifted for unchunkable tables.

func obsrcDB(t *testing.T, suffix string) (string, *sql.DB) {
	t.Helper()
	name := fmt.Sprintf("ferry_obsrc_%s_%d", suffix, rand.Intn(1_000_000))
	h := harness.OpenMariaDB(t, name)
	t.Cleanup(func() { harness.DropDatabase(t, name) })
	h.SetMaxOpenConns(1)
	return name, h
}

// relay forwards TCP connections to the real server and records what clients send (COM_QUERY
// text is plain without TLS). It is not a server: every byte comes from the real MariaDB.
type relay struct {
	ln    net.Listener
	mu    sync.Mutex
	sent  bytes.Buffer
	conns int
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns++
			r.mu.Unlock()
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(c, up); c.Close() }()
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						r.mu.Lock()
						r.sent.Write(buf[:n])
						r.mu.Unlock()
						if _, werr := up.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						up.Close()
						return
					}
				}
			}()
		}
	}()
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) saw(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Contains(bytes.ToUpper(r.sent.Bytes()), []byte(strings.ToUpper(s)))
}

// Binlog SQL goes to binlog_address, everything else to address: two relays in front of the
// same MariaDB show which statement went where, for a start at the binlog's end and for a
// start_timestamp.
func TestOceanBaseBinlogSQLOnBinlogAddress(t *testing.T) {
	env := harness.RequireTestbed(t, harness.MariaDB)
	db, h := obsrcDB(t, "binaddr")
	for _, withTS := range []bool{false, true} {
		t.Run("start_timestamp="+strconv.FormatBool(withTS), func(t *testing.T) {
			tbl := "t_" + strconv.FormatBool(withTS)
			if _, err := h.Exec("CREATE TABLE `" + db + "`." + tbl + " (id INT PRIMARY KEY, v VARCHAR(10))"); err != nil {
				t.Fatal(err)
			}
			sqlSide, binSide := newRelay(t, env.MariaDBAddr), newRelay(t, env.MariaDBAddr)
			attrs := map[string]any{"address": sqlSide.addr(), "binlog_address": binSide.addr(),
				"tables": []string{db + "." + tbl}, "mode": "incremental"}
			base := 1
			if withTS {
				base = 100
				if _, err := h.Exec(fmt.Sprintf("INSERT INTO `%s`.%s VALUES (%d, 'before')", db, tbl, base)); err != nil {
					t.Fatal(err)
				}
				attrs["start_timestamp"] = time.Now().Add(-2 * time.Second).UTC().Format(time.RFC3339)
			}
			src := openOB(t, obConfig(t, attrs), nil)
			if _, err := h.Exec(fmt.Sprintf("INSERT INTO `%s`.%s VALUES (%d, 'after')", db, tbl, base+1)); err != nil {
				t.Fatal(err)
			}
			want := 1
			if withTS {
				want = 2
			}
			rows := rowChanges(readUntil(t, src, 20*time.Second, countRows(want)))
			if len(rows) != want || rows[want-1].After[0].Int() != int64(base+1) {
				t.Fatalf("changes %v", rows)
			}
			binlogSQL := []string{"SHOW MASTER STATUS", "BINLOG_GTID_POS"}
			if withTS {
				binlogSQL = append(binlogSQL, "SHOW BINARY LOGS")
			}
			for _, q := range binlogSQL {
				if !binSide.saw(q) {
					t.Errorf("%s was not sent to binlog_address", q)
				}
				if sqlSide.saw(q) {
					t.Errorf("%s was sent to address", q)
				}
			}
			if !sqlSide.saw("information_schema.COLUMNS") || binSide.saw("information_schema") {
				t.Errorf("schema reads: address %v, binlog_address %v", sqlSide.saw("information_schema"), binSide.saw("information_schema"))
			}
		})
	}
}

// Columns in latin1 (MySQL's cp1252), gbk, gb2312, big5, utf16 and ucs2: the snapshot reads
// them converted to utf8mb4, the binlog carries the column's own bytes; snapshot rows and
// stream rows of the same values must be equal, and equal to the server's utf8mb4 text.
func TestOceanBaseCharsetsSnapshotEqualsStream(t *testing.T) {
	db, h := obsrcDB(t, "charset")
	if _, err := h.Exec("CREATE TABLE `" + db + "`.t (id INT PRIMARY KEY," +
		" l VARCHAR(40) CHARACTER SET latin1, lt TEXT CHARACTER SET latin1, g VARCHAR(40) CHARACTER SET gbk," +
		" g2 CHAR(10) CHARACTER SET gb2312, b VARCHAR(40) CHARACTER SET big5, u16 VARCHAR(40) CHARACTER SET utf16," +
		" uc VARCHAR(40) CHARACTER SET ucs2, u8 VARCHAR(40) CHARACTER SET utf8mb4, e ENUM('x','ÿ') CHARACTER SET latin1)"); err != nil {
		t.Fatal(err)
	}
	values := []string{
		`'café €‰ ÿ', 'naïve Œuvre – “quoted”', '中文汉字，标点', '简体中文', '繁體中文字', '𝄞 music 🚀', 'é中ü', 'plain ✓', 'ÿ'`,
		`'', NULL, '', '', '', '', '', '', 'x'`,
		// latin1's C1 bytes 0x81 and 0x9D (undefined in cp1252), a supplementary character in utf16
		"CONCAT('ctl', CHAR(0x81 USING latin1), CHAR(0x9D USING latin1)), 'ß', '龘', '中', '嗀', '𠀀', 'Ā', 'ok', NULL",
	}
	insert := func(base int) {
		t.Helper()
		for i, v := range values {
			if _, err := h.Exec(fmt.Sprintf("INSERT INTO `%s`.t VALUES (%d, %s)", db, base+i, v)); err != nil {
				t.Fatalf("insert %d: %v", base+i, err)
			}
		}
	}
	insert(1) // read by the snapshot
	src := openOB(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "both", "chunk_size": int64(2)}), nil)
	bs := readUntil(t, src, 30*time.Second, countRows(len(values))) // the snapshot first
	insert(101)                                                     // then read from the binlog
	bs = append(bs, readUntil(t, src, 30*time.Second, countRows(len(values)))...)
	byID := map[int64]*change.Change{}
	for _, c := range rowChanges(bs) {
		byID[c.After[0].Int()] = c
	}
	_, text := selectTextTable(t, db, "t")
	for i := range values {
		snap, stream := byID[int64(1+i)], byID[int64(101+i)]
		if snap == nil || stream == nil || snap.Op != change.OpSnapshot || stream.Op != change.OpInsert {
			t.Fatalf("row %d: snapshot %v, stream %v", i, snap, stream)
		}
		for j, col := range snap.Table.Columns {
			if j == 0 {
				continue
			}
			a, b := snap.After[j], stream.After[j]
			if a.Kind() != b.Kind() || string(a.AppendText(nil, 0)) != string(b.AppendText(nil, 0)) {
				t.Errorf("row %d column %s (%s): snapshot %s %q, stream %s %q", i, col.Name, col.Charset,
					a.Kind(), a.AppendText(nil, 0), b.Kind(), b.AppendText(nil, 0))
			}
		}
		// both equal the server's utf8mb4 text of the row (the id aside)
		want := text[strconv.Itoa(101+i)]
		want[0] = sql.NullString{String: strconv.Itoa(1 + i), Valid: true}
		sameAsSelect(t, fmt.Sprintf("snapshot row %d", 1+i), snap.Table, snap.After, want)
		want[0].String = strconv.Itoa(101 + i)
		sameAsSelect(t, fmt.Sprintf("stream row %d", 101+i), stream.Table, stream.After, want)
	}
}

// selectTextTable returns the rows of db.tbl as the server prints them in utf8mb4, by id.
func selectTextTable(t *testing.T, db, tbl string) ([]string, map[string][]sql.NullString) {
	t.Helper()
	conn := harness.OpenMariaDB(t, db)
	defer conn.Close()
	r, err := conn.Query("SELECT * FROM `" + db + "`.`" + tbl + "`")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols, _ := r.Columns()
	rows := map[string][]sql.NullString{}
	for r.Next() {
		vals := make([]sql.NullString, len(cols))
		dst := make([]any, len(cols))
		for i := range vals {
			dst[i] = &vals[i]
		}
		if err := r.Scan(dst...); err != nil {
			t.Fatal(err)
		}
		rows[vals[0].String] = vals
	}
	return cols, rows
}

// A table whose primary key is a FLOAT (keyset pagination over it is unsafe) but that has
// another unique NOT NULL key is read in chunks on that key, not in one statement (which
// OceanBase would cancel after ob_query_timeout on a large table); every row arrives once,
// and a change during the snapshot wins over the chunk's copy.
func TestOceanBaseChunkOnOtherUniqueKey(t *testing.T) {
	db, h := obsrcDB(t, "ukchunk")
	if _, err := h.Exec("CREATE TABLE `" + db + "`.t (f FLOAT NOT NULL PRIMARY KEY, n INT NOT NULL, v VARCHAR(10), UNIQUE KEY un (n))"); err != nil {
		t.Fatal(err)
	}
	const rows = 40
	for i := 1; i <= rows; i++ {
		if _, err := h.Exec(fmt.Sprintf("INSERT INTO `%s`.t VALUES (%d.5, %d, 'v%d')", db, i, i, i)); err != nil {
			t.Fatal(err)
		}
	}
	src := openOB(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "both",
		"chunk_size": int64(5), "snapshot_concurrency": int64(1)}), nil)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // updates while the chunks are read
		defer close(done)
		for i := 1; ; i = i%rows + 1 {
			select {
			case <-stop:
				return
			default:
			}
			h.Exec(fmt.Sprintf("UPDATE `%s`.t SET v = 'u%d' WHERE n = %d", db, i, i))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	snapBatches := 0
	seen := map[int64]int{}
	final := map[int64]string{}
	// Until the snapshot is done: a key updated while its chunk was open arrives by that
	// change instead of a snapshot row (on a loaded machine a chunk's window can always hold
	// one), so the snapshot rows need not cover every key.
	snapshotDone := func() bool {
		ps := src.Progress()
		return len(ps) == 1 && ps[0].Done
	}
	readUntil(t, src, 30*time.Second, func(bs []*change.Batch) bool {
		if len(bs) > 0 {
			b := bs[len(bs)-1]
			has := false
			for _, c := range b.Changes {
				if !c.Op.IsRow() {
					continue
				}
				n := c.After[1].Int()
				if c.Op == change.OpSnapshot {
					has = true
					seen[n]++
				}
				final[n] = c.After[2].Str()
			}
			if has {
				snapBatches++
			}
		}
		return len(seen) == rows || snapshotDone() && len(final) == rows
	})
	if len(seen) < rows/2 {
		t.Errorf("only %d of %d keys arrived as snapshot rows", len(seen), rows)
	}
	close(stop)
	<-done
	for n, k := range seen {
		if k != 1 {
			t.Errorf("row n=%d: %d snapshot copies", n, k)
		}
	}
	if snapBatches < rows/5 {
		t.Errorf("snapshot in %d batches: not chunked (%d rows, chunk_size 5)", snapBatches, rows)
	}
	// after the writer stopped, the stream brings every row's last state
	_, text := selectTextTable(t, db, "t")
	want := map[int64]string{}
	for _, r := range text {
		n, _ := strconv.ParseInt(r[1].String, 10, 64)
		want[n] = r[2].String
	}
	deadline := time.Now().Add(20 * time.Second)
	for !sameStrings(final, want) && time.Now().Before(deadline) {
		for _, c := range rowChanges(readUntil(t, src, 5*time.Second, func(bs []*change.Batch) bool { return len(bs) > 0 })) {
			final[c.After[1].Int()] = c.After[2].Str()
		}
	}
	if !sameStrings(final, want) {
		t.Errorf("final state differs from the table: got %v, want %v", final, want)
	}
}

func sameStrings(a, b map[int64]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TLS asked for on binlog_address where the server offers none (the OceanBase Binlog Service
// never does; the test bed's MariaDB has TLS disabled) is a clear error naming binlog_tls,
// while SQL without TLS works; binlog_tls = "disabled" is the explicit way to connect.
func TestOceanBaseBinlogTLSRefusedClearly(t *testing.T) {
	db, h := obsrcDB(t, "bintls")
	if _, err := h.Exec("CREATE TABLE `" + db + "`.t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	src := oceanbase.New()
	ctx := context.Background()
	cfg := obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "incremental", "binlog_tls": "skip-verify"})
	if err := src.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	err := src.Open(ctx, sdk.OpenRequest{Pipeline: "it-bintls"})
	src.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "offers no TLS") || !strings.Contains(err.Error(), `binlog_tls = "disabled"`) {
		t.Fatalf("Open with binlog_tls on a server without TLS: %v", err)
	}
	openOB(t, obConfig(t, map[string]any{"tables": []string{db + ".t"}, "mode": "incremental", "binlog_tls": "disabled"}), nil)
}
