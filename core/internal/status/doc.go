// Package status measures a running pipeline for operators: phase, position, throughput,
// commit-to-acknowledgement latency (with a note when clocks disagree) and the last error. It
// serves them over HTTP as JSON (/status) and as Prometheus metrics (/metrics); `ferry status`
// reads the JSON.
package status
