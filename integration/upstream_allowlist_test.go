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

const dbzAll = `debezium|debezium_flatten|debezium_smt`
const dbzEnv = `debezium|debezium_flatten` // the formats with the whole envelope

// Row-image paths of the three Debezium layouts (schema'd, flatten, smt) for a column.
func dbzCol(col string) string {
	return `payload\.\(before\|after\)\.` + col + `(\..*)?|\(before\|after\)\.` + col + `(\..*)?|` + col + `(\..*)?`
}

var upstreamAllowList = []upAllow{
	// ---- Debezium: deliberate --------------------------------------------------------------
	{Format: dbzEnv, Kind: "value", Path: `(payload\.)?source\.version`, Ferry: `"ferry-.*"`,
		Reason: "source.version names ferry's version (ferry-<version>), not a Debezium release"},
	{Format: dbzEnv, Kind: "value", Path: `(payload\.)?source\.connector`, Ferry: `"mysql"`, Upstream: `"mariadb"`,
		Reason: "ferry imitates the MySQL connector (connector mysql) for every MySQL-compatible source, MariaDB included"},
	{Format: "debezium", Kind: "value", Path: `schema\.fields\[source\]\.name`, Ferry: `"io\.debezium\.connector\.mysql\.Source"`,
		Reason: "the MySQL connector's Source schema name, as source.connector"},
	{Format: dbzAll, Kind: "value", Path: `headers\.__debezium\.context\.connectorName(\.payload)?`, Ferry: `"mysql"`, Upstream: `"mariadb"`,
		Reason: "the connector imitated, as source.connector (connector = \"mariadb\" names the MariaDB connector)"},
	{Format: dbzAll, Kind: "only-upstream-message", Path: `op=tombstone`,
		Reason: "no tombstone after a delete: RocketMQ has no keyed compaction and refuses an empty body"},
	{Format: dbzAll, Kind: "only-upstream-message", Path: `op=schema_change`,
		Reason: "Debezium's schema-change records (topic <prefix>, a layout of their own) are not imitated"},
	{Format: dbzAll, Kind: "only-upstream-message", Path: `op=heartbeat`,
		Reason: "Debezium's heartbeat records (topic __debezium-heartbeat.<prefix>) are not imitated"},
	{Format: "debezium", Kind: "missing-in-ferry", Path: `schema\.fields\[before\|after\]\.fields\[[a-z_0-9]+\]\.default`,
		Reason: "column schemas carry no default: the change model has no column defaults"},
	{Format: dbzAll, Kind: "value", Path: dbzCol("c_year"), Ferry: `0`, Upstream: `1900`,
		Reason: "YEAR 0000 from the binlog: Debezium 3.5.0 adds 1900 to the stored 0, ferry sends 0 as MariaDB returns it"},

	{Format: dbzEnv, Kind: "value", Path: `(payload\.)?source\.snapshot`,
		Ferry: `"(first|last|first_in_data_collection|last_in_data_collection)"`, Upstream: `"(first|last|first_in_data_collection|last_in_data_collection)"`,
		Reason: "which table carries first/last of the whole snapshot: ferry reads tables and chunks in parallel and marks the first and last rows it hands over; Debezium reads the tables one after another"},
	{Format: dbzAll, Kind: "value", Path: dbzCol("ts"), Ferry: `"1970-01-01T00:00:00Z"`, Upstream: `"2000-01-01T00:00:00Z"`,
		Reason: "a zero TIMESTAMP NOT NULL in a snapshot row: Debezium sends the column's default, ferry the epoch, as both do for the same value from the binlog (the change model has no column defaults)"},

	// ---- Canal: deliberate -------------------------------------------------------------------
	{Format: "canal", Kind: "rows-per-message", Path: `data`,
		Reason: "one row per message (Canal packs a statement's rows into one), so per-key hashing stays exact"},
	{Format: "canal", Kind: "only-ferry-message", Path: `op=(DELETE|INSERT)`,
		Reason: "a primary-key change is a DELETE of the old key then an INSERT of the new key (key_change = \"split\"); key_change = \"update\" sends Canal's single UPDATE"},
	{Format: "canal", Kind: "only-upstream-message", Path: `op=UPDATE`,
		Reason: "Canal's single UPDATE for a primary-key change (see key_change)"},
	{Format: "canal", Kind: "only-upstream-message", Path: `op=QUERY`,
		Reason: "no QUERY records for MariaDB's annotate events (the statement text; Canal's canal.instance.filter.query.dml = true drops them too)"},
	{Format: "canal", Kind: "value", Path: `data\[0\]\.c_(binary|tinyblob|blob|mediumblob|longblob|varbinary)`,
		Reason: "binary values keep their trailing 0x00 bytes (Canal drops them)"},
	{Format: "canal", Kind: "value", Path: `(data|old)\[0\]\.c_decimal0?`,
		Reason: "DECIMAL keeps its scale (1.000000; Canal sends 1.0)"},

	{Format: "canal", Kind: `packed-.*`,
		Reason: "Canal's sqlType/mysqlType maps are one per message and its old lists every column updated in any row of the message; with one row per message ferry's are the row's own, as Canal's are for a one-row statement"},
}

type normRule int

const (
	normAny        normRule = iota // both numbers: equal whatever they are
	normCommitTime                 // snapshot rows: both numbers; stream: within 2 s of each other
	normString                     // both non-empty strings: equal whatever they are
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
	// the run id of Debezium 3's context headers: one per start
	{regexp.MustCompile(`^debezium.*$`), regexp.MustCompile(`^headers\.__debezium\.context\.runId(\.payload)?$`), normString, "run id"},
	// the connection id of the writing session
	{regexp.MustCompile(`^debezium(_flatten)?$`), regexp.MustCompile(`^(payload\.)?source\.thread$`), normAny, "thread id"},
}

// upstreamAllowListOceanBase: differences that only TestUpstreamFormatsOceanBase (the OceanBase
// stand-in's Binlog Service shape) shows. Deliberate ones are documented in docs/formats.md;
// the test-bed artifacts (the stand-in is not OceanBase) in integration/obstandin/README.md.
var upstreamAllowListOceanBase = []upAllow{
	{Format: "canal", Kind: "value", Path: `(data|old)\[0\]\.c_(gbk|latin1|latin1_text|utf16|added)`,
		Reason: "text of a column not in Canal's connection charset: Canal 1.1.7 decodes every text column with canal.instance.connectionCharset (UTF-8; LogEventConvert), so gbk, latin1 and utf16 text arrives garbled; ferry decodes each column by its own charset"},
	{Format: "canal", Kind: "value", Path: `(data|old)\[0\]\.c_json`, Upstream: `".*[0-9]E-?[0-9].*"`,
		Reason: "doubles inside binary JSON: ferry writes MySQL's JSON text (1e300, as a SELECT and ferry's snapshot give it), Canal Java's Double.toString (1.0E300)"},
	{Format: "canal", Kind: "value", Path: `(data|old)\[0\]\.c_float30`,
		Reason: "FLOAT(p > 24), which the Binlog Service logs as DOUBLE: a value a float32 holds exactly is written as the float (1.0E-10, as the snapshot and every other FLOAT), Canal writes the double's digits (1.000000013351432E-10; on OceanBase the service parses the value's text, so the double there is rarely a widened float)"},
	{Format: "canal", Kind: "value", Path: `sqlType\.c_float30`, Ferry: `7`, Upstream: `8`,
		Reason: "FLOAT(p > 24): ferry's sqlType follows the declared type (REAL 7, in the snapshot and on every source), Canal's the binlog's column type, which the Binlog Service makes DOUBLE (8)"},
	{Format: "canal", Kind: "value", Path: `sqlType\.c_json`, Ferry: `2005`, Upstream: `12|1111`,
		Reason: "test-bed artifact: the stand-in's SQL side is MariaDB, whose JSON is a LONGTEXT (ferry sends Canal's MariaDB sqlType 2005), while its Binlog Service shape logs MySQL binary JSON, which Canal types by the binlog (12, a NULL 1111); on OceanBase information_schema says json and ferry sends 12 and 1111 too"},
}
