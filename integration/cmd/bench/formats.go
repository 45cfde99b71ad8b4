package main

import (
	"flag"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/ferry-cdc/ferry/integration/verify"
)

var formatsFlag = flag.String("formats", "", "formats of the formats section, comma-separated (default all eight)")

// formats are the eight message formats with the settings the bench uses; debezium is the
// heaviest (every message carries its schema) and the one issue 19's goals name.
var formats = []struct{ name, body string }{
	{"default", ""},
	{"default_extend_column_type", ""},
	{"canal", ""},
	{"dataworks", `business_name = "bench"`},
	{"shareplex", ""},
	{"debezium", `decimal_handling = "precise"`},
	{"debezium_flatten", ""},
	{"debezium_smt", ""},
}

// 5. Every format, snapshot and stream, over the wide table: CPU per change from the first
// record to the end of the run (process start-up and start_timestamp's resolution are
// reported apart), and for the debezium format the broker's ceiling at its message size.
func benchFormats(b *bed) {
	must(verify.CreateWide(b.db, "w", *wideRows))
	startTS := time.Now().Add(-time.Second).UTC().Format("2006-01-02 15:04:05")
	n, err := verify.UpdateWide(b.db, "w", *wideRows, *wideChanges)
	must(err)
	var dbzBytes float64
	var dbzSnap, dbzInc float64
	for _, f := range formats {
		if *formatsFlag != "" && !slices.Contains(strings.Split(*formatsFlag, ","), f.name) {
			continue
		}
		topic := createTopic(b.broker, "ferry_bench_fmt")
		s := runFerry(b.bin, b.env, b.broker, topic, b.dbName, pipelineOpts{mode: "full", table: "w",
			format: f.name, serBody: f.body, cpuProf: profile("snapshot-" + f.name)})
		topic = createTopic(b.broker, "ferry_bench_fmt")
		i := runFerry(b.bin, b.env, b.broker, topic, b.dbName, pipelineOpts{mode: "incremental", table: "w",
			startTS: startTS, until: uint64(n), format: f.name, serBody: f.body, cpuProf: profile("stream-" + f.name)})
		sRate := float64(*wideRows) / s.sinceFirst.Seconds()
		iRate := float64(n) / i.sinceFirst.Seconds()
		add(fmt.Sprintf("%s: snapshot CPU per row", f.name), perChange(s, *wideRows), "µs",
			fmt.Sprintf("first record to exit; %.0f rows/s; %.0f bytes/message; peak RSS %.0f MiB", sRate, bytesPer(s), float64(s.rssKB)/1024))
		add(fmt.Sprintf("%s: stream CPU per change", f.name), perChange(i, n), "µs",
			fmt.Sprintf("first record to exit; %.0f changes/s; %.0f bytes/message; peak RSS %.0f MiB; start to first record %.2fs, %.2f CPU-s",
				iRate, bytesPer(i), float64(i.rssKB)/1024, i.toFirst.Seconds(), i.cpuFirst.Seconds()))
		if f.name == "debezium" {
			dbzBytes, dbzSnap, dbzInc = bytesPer(s), sRate, iRate
		}
	}
	if dbzBytes > 0 {
		ceil := producerCeiling(b.broker, int(dbzBytes), 200000)
		log.Printf("ceiling at %0.f bytes: %.0f msgs/s", dbzBytes, ceil)
		add("broker ceiling at the debezium format's message size", ceil, "msgs/s", fmt.Sprintf("%d-byte bodies", int(dbzBytes)))
		add("debezium snapshot / broker ceiling", dbzSnap/ceil, "x", "the issue's goal is 0.8x")
		add("debezium stream / broker ceiling", dbzInc/ceil, "x", "the issue's goal is 0.8x")
	}
}

// perChange is a run's CPU time from its first record to its end, per change, in µs.
func perChange(r run, n int) float64 {
	return (r.cpu - r.cpuFirst).Seconds() / float64(n) * 1e6
}

func bytesPer(r run) float64 {
	if r.records == 0 {
		return 0
	}
	return float64(r.bytes) / float64(r.records)
}
