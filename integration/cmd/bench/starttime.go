package main

import (
	"database/sql"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/ferry-cdc/ferry/integration/verify"
)

var startMB = flag.Int("start-binlog-mb", 700, "starttime section: MB of binlog written into one file ahead of the start time")

// 7. start_timestamp on a large binlog file (issue 19: the first message within 1 s of start
// whatever the binlog size). max_binlog_size is raised to 1 GiB (MariaDB's and MySQL's
// largest) for the run and restored after it; one file gets -start-binlog-mb MB of 1,000-row
// UPDATEs, then, a second later, 1,000 changes: the stream starts at their second, near the
// file's end, the worst place for a resolution that reads the file up to it. Reported:
// process start to the first record, and ferry's CPU until then.
func benchStartTime(b *bed) {
	if b.env.MariaDBSocket == "" {
		log.Fatal("starttime: needs the test bed's root socket (FERRY_MARIADB_SOCKET) to raise max_binlog_size")
	}
	root, err := sql.Open("mysql", "root@unix("+b.env.MariaDBSocket+")/")
	must(err)
	defer root.Close()
	var old int64
	must(root.QueryRow("SELECT @@GLOBAL.max_binlog_size").Scan(&old))
	_, err = root.Exec("SET GLOBAL max_binlog_size = 1073741824")
	must(err)
	defer func() {
		if _, err := root.Exec(fmt.Sprintf("SET GLOBAL max_binlog_size = %d", old)); err != nil {
			log.Printf("restore max_binlog_size %d: %v", old, err)
		}
		_, _ = root.Exec("FLUSH BINARY LOGS") // the big file is closed; the next ones are the usual size
	}()
	_, err = root.Exec("FLUSH BINARY LOGS")
	must(err)
	const rows = 100000
	must(verify.CreateWide(b.db, "st", rows))
	file, size := binlogEnd(b)
	for size < int64(*startMB)<<20 {
		_, err := verify.UpdateWide(b.db, "st", rows, rows)
		must(err)
		var f string
		if f, size = binlogEnd(b); f != file {
			log.Fatalf("starttime: the binlog rotated from %s to %s at %d MB (max_binlog_size not raised?)", file, f, size>>20)
		}
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond))) // the next second
	startTS := time.Now().UTC().Format("2006-01-02 15:04:05")
	n, err := verify.UpdateWide(b.db, "st", rows, 1000)
	must(err)
	_, size = binlogEnd(b)
	log.Printf("starttime: %s has %d MB; the last %d changes start at %s", file, size>>20, n, startTS)
	topic := createTopic(b.broker, "ferry_bench_st")
	r := runFerry(b.bin, b.env, b.broker, topic, b.dbName, pipelineOpts{mode: "incremental", table: "st",
		startTS: startTS, until: uint64(n), format: "canal", cpuProf: profile("starttime")})
	note := fmt.Sprintf("start_timestamp near the end of a %d MB binlog file; %.2f CPU-s until then", size>>20, r.cpuFirst.Seconds())
	add("start_timestamp: process start to first record", r.toFirst.Seconds(), "s", note)
}

// binlogEnd is the server's current binlog file and its size (SHOW MASTER STATUS).
func binlogEnd(b *bed) (string, int64) {
	rs, err := b.db.Query("SHOW MASTER STATUS")
	must(err)
	defer rs.Close()
	cols, err := rs.Columns()
	must(err)
	if !rs.Next() {
		log.Fatal("SHOW MASTER STATUS: no row (binlog off?)")
	}
	vals := make([]any, len(cols))
	var file string
	var pos int64
	vals[0], vals[1] = &file, &pos
	for i := 2; i < len(vals); i++ {
		vals[i] = new(any)
	}
	must(rs.Scan(vals...))
	return file, pos
}
