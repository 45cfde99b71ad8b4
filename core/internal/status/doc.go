// Package status measures a running pipeline for operators: phase and stage (snapshot or
// incremental), position, throughput, commit-to-acknowledgement latency (with a note when
// clocks disagree), the last error, and the snapshot's progress per table as the source
// reports it (polled about once a second). It serves them over HTTP as JSON (/status) and as
// Prometheus metrics (/metrics); `ferry status` reads the JSON and the console of `ferry run`
// reads Tracker.Snapshot.
package status
