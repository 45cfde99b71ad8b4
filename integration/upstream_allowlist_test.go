//go:build integration

package integration

import "regexp"

// The one place that says which differences between ferry and the real engines are accepted
// (TestUpstreamFormats). Two kinds of entry:
//   - deliberate (Pending false): ferry differs on purpose; each is documented in
//     docs/formats.md with its reason and, where users differ, the setting that changes it;
//   - pending (Pending true): a difference issue 14 fixes; allowed so that `make test` reports
//     it without failing until the fix lands. Remove the entry with the fix (the report lists
//     entries that matched nothing).
// Anything else fails the test. Fields that legitimately vary are normalized in
// upstreamNormalize, each one by name, never whole messages.

type upAllow struct {
	Format   string // regexp on the format (debezium, debezium_flatten, debezium_smt, canal)
	Kind     string // regexp on the kind (value, missing-in-ferry, extra-in-ferry, only-upstream-message, only-ferry-message, rows-per-message)
	Path     string // regexp on the generalized path
	Ferry    string // regexp on ferry's rendered value ("" = any)
	Upstream string // regexp on upstream's rendered value ("" = any)
	Pending  bool
	Reason   string
}

func (a upAllow) matches(d upDifference) bool {
	m := func(re, s string) bool { return re == "" || regexp.MustCompile("^(?:"+re+")$").MatchString(s) }
	return m(a.Format, d.Format) && m(a.Kind, d.Kind) && m(a.Path, d.Path) && m(a.Ferry, d.Ferry) && m(a.Upstream, d.Upstream)
}

var upstreamAllowList = []upAllow{}

type normRule int

const (
	normAny        normRule = iota // both numbers: equal whatever they are
	normCommitTime                 // snapshot rows: both numbers; stream: within 2 s of each other
)

type upNormalizer struct {
	format, path *regexp.Regexp
	rule         normRule
	name         string // what the value is, shown in place of both
}

// upstreamNormalize: leaves that differ by nature between two runs of two programs. A leaf is
// normalized only when both sides have it and both are numbers; else it is compared as is.
var upstreamNormalize = []upNormalizer{
	// the time the message was built
	{regexp.MustCompile(`^debezium$`), regexp.MustCompile(`^payload\.ts_(ms|us|ns)$`), normAny, "build time"},
	{regexp.MustCompile(`^debezium_flatten$`), regexp.MustCompile(`^ts_(ms|us|ns)$`), normAny, "build time"},
	{regexp.MustCompile(`^canal$`), regexp.MustCompile(`^ts$`), normAny, "build time"},
	// Canal's batch id (a counter of the producer)
	{regexp.MustCompile(`^canal$`), regexp.MustCompile(`^id$`), normAny, "batch id"},
	// the commit time: the same binlog event for stream changes, the read time for snapshot rows
	{regexp.MustCompile(`^debezium(_flatten)?$`), regexp.MustCompile(`^(payload\.)?source\.ts_(ms|us|ns)$`), normCommitTime, ""},
	{regexp.MustCompile(`^debezium_smt$`), regexp.MustCompile(`^__source_ts_ms$`), normCommitTime, ""},
	{regexp.MustCompile(`^canal$`), regexp.MustCompile(`^es$`), normCommitTime, ""},
	// the binlog offset: ferry names the row event, Debezium the transaction's first event
	{regexp.MustCompile(`^debezium(_flatten)?$`), regexp.MustCompile(`^(payload\.)?source\.pos$`), normAny, "binlog offset"},
	// the connection id of the writing session
	{regexp.MustCompile(`^debezium(_flatten)?$`), regexp.MustCompile(`^(payload\.)?source\.thread$`), normAny, "thread id"},
}
