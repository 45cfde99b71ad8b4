//go:build integration

package integration

import (
	"database/sql"
	"math/rand"

	"context"
	"fmt"
	"github.com/ferry-cdc/ferry/integration/harness"
	"io"
	"strings"
	"testing"
	"time"
)

// BenchmarkOceanBaseSnapshot: mode full over a 200,000-row, 10-column table; reports rows/s.
func BenchmarkOceanBaseSnapshot(b *testing.B) {
	const rows = 200000
	db, h := benchDB(b, "bsnap")
	_ = db
	mustExec(b, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY, a INT, b BIGINT, c VARCHAR(40), d DECIMAL(12,2), e DATETIME(3), f DOUBLE, g VARCHAR(20), h TINYINT, i DATE)")
	for i := 0; i < rows; i += 5000 {
		var sb strings.Builder
		for j := i; j < i+5000; j++ {
			if j > i {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "(%d,%d,%d,'row %d',%d.25,'2024-01-02 03:04:05.678',%d.5,'g%d',%d,'2024-05-06')", j, j, int64(j)*1000003, j, j, j, j%100, j%128)
		}
		mustExec(b, h, "INSERT INTO t VALUES "+sb.String())
	}
	b.ResetTimer()
	total := 0
	start := time.Now()
	for n := 0; n < b.N; n++ {
		src := openOB(b, obConfig(b, map[string]any{"tables": []string{db + ".t"}, "mode": "full", "snapshot_concurrency": 4, "chunk_size": 4096}), nil)
		for {
			bt, err := src.Read(context.Background())
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			total += len(bt.Changes)
		}
		src.Close(context.Background())
	}
	if total != rows*b.N {
		b.Fatalf("read %d rows, want %d", total, rows*b.N)
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkOceanBaseBinlog: ~100,000 row events written first, then decoded; reports events/s.
func BenchmarkOceanBaseBinlog(b *testing.B) {
	const rows = 100000
	db, h := benchDB(b, "bbin")
	mustExec(b, h, "USE `"+db+"`", "CREATE TABLE t (id INT PRIMARY KEY, a INT, b BIGINT, c VARCHAR(40), d DECIMAL(12,2), e DATETIME(3), f DOUBLE, g VARCHAR(20), h TINYINT, i DATE)")
	total := 0
	var elapsed time.Duration
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		mustExec(b, h, "TRUNCATE TABLE t")
		src := openOB(b, obConfig(b, map[string]any{"tables": []string{db + ".t"}, "mode": "incremental", "batch_size": 4096}), nil)
		// 100 INSERT statements of 1,000 rows each: 100,000 row changes
		for i := 0; i < rows; i += 1000 {
			var sb strings.Builder
			for j := i; j < i+1000; j++ {
				if j > i {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "(%d,%d,%d,'row %d',%d.25,'2024-01-02 03:04:05.678',%d.5,'g%d',%d,'2024-05-06')", j, j, int64(j)*1000003, j, j, j, j%100, j%128)
			}
			mustExec(b, h, "INSERT INTO t VALUES "+sb.String())
		}
		b.StartTimer()
		start := time.Now()
		got := 0
		for got < rows {
			bt, err := src.Read(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range bt.Changes {
				if c.Op.IsRow() {
					got++
				}
			}
		}
		elapsed += time.Since(start)
		total += got
		src.Close(context.Background())
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "rowchanges/s")
}

func benchDB(b *testing.B, suffix string) (string, *sql.DB) {
	name := fmt.Sprintf("ferry_ob_%s_%d", suffix, rand.Intn(1_000_000))
	h := harness.OpenMariaDB(b, name)
	b.Cleanup(func() { harness.DropDatabase(b, name) })
	return name, h
}
