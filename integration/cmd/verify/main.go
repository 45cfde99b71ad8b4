// Command verify checks a topic against a source table with the independent verifier
// (integration/verify): every row of the table is the last state of its key, no ghost rows,
// per-key order (with -version) and duplicates. It reads every message of the topic from the
// first offset and re-checks until the check passes or -timeout ends.
//
//	go run ./integration/cmd/verify -ns 127.0.0.1:29876 -topic T -format canal \
//	  -dsn 'ferry:ferry@tcp(127.0.0.1:13306)/' -table ferry_x.t -key id -version ver
//
// Exit status 0 when the check passes, 1 otherwise.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/ferry-cdc/ferry/integration/verify"
)

func main() {
	ns := flag.String("ns", "127.0.0.1:29876", "name server host:port")
	topics := flag.String("topic", "", "topic(s), comma-separated")
	format := flag.String("format", "canal", "message format (serializer name): "+strings.Join(verify.Formats, ", "))
	dsn := flag.String("dsn", "", "go-sql-driver/mysql DSN of the source")
	tables := flag.String("table", "", "db.table list, comma-separated")
	key := flag.String("key", "id", "key column(s), comma-separated")
	version := flag.String("version", "", "per-key version column (empty: no order/gap checks)")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after this long")
	quiet := flag.Duration("quiet", 3*time.Second, "check once no message arrived for this long")
	flag.Parse()
	if *topics == "" || *dsn == "" || *tables == "" {
		flag.Usage()
		os.Exit(2)
	}
	db, err := sql.Open("mysql", *dsn)
	if err != nil {
		fail(err)
	}
	defer db.Close()
	var ts []verify.Table
	for _, t := range strings.Split(*tables, ",") {
		d, n, ok := strings.Cut(strings.TrimSpace(t), ".")
		if !ok {
			fail(fmt.Errorf("table %q: want db.table", t))
		}
		ts = append(ts, verify.Table{DB: d, Name: n, Key: strings.Split(*key, ","), Version: *version})
	}
	c, err := verify.NewConsumer(*ns, strings.Split(*topics, ",")...)
	if err != nil {
		fail(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	s, err := verify.Until(ctx, c, db, *format, ts, *quiet)
	fmt.Println(verify.Header())
	fmt.Println(s.Row(*topics))
	fmt.Println(s)
	for _, p := range s.Problems {
		fmt.Println("  " + p)
	}
	if err != nil || !s.OK() {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "verify:", err)
	os.Exit(1)
}
