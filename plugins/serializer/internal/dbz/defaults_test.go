package dbz

import "testing"

// The defaults are written once, in Spec: defaults() decodes them, so they cannot drift.
func TestDefaultsFromSpec(t *testing.T) {
	want := Options{ServerName: "ferry", DecimalHandling: "string", BigintUnsignedHandling: "long", Connector: "mysql",
		TimestampFraction: TimestampFractionDebezium, ContextHeaders: true}
	if got := defaults(); got != want {
		t.Fatalf("defaults decoded from the spec: %+v, want %+v", got, want)
	}
}
