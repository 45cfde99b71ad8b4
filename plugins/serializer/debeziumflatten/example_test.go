package debeziumflatten

import (
	"context"
	"fmt"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func Example() {
	s := newSerializer()
	s.Hooks.Now = fixture.Now
	recs, _ := s.Serialize(context.Background(), []*change.Change{fixture.ExampleChange()}, nil)
	for _, r := range recs {
		fmt.Printf("%s\n", r.Value)
	}
	// Output:
	// {"before":{"id":1,"name":"old","amount":"9.90"},"after":{"id":1,"name":"new","amount":"9.90"},"source":{"version":"ferry-0.1.0","connector":"mysql","name":"ferry","ts_ms":1700000000000,"snapshot":"false","db":"shop","sequence":null,"ts_us":1700000000000000,"ts_ns":1700000000000000000,"table":"orders","server_id":0,"gtid":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23","file":"","pos":0,"row":0,"thread":null,"query":null},"transaction":null,"op":"u","ts_ms":1748779205500,"ts_us":1748779205500000,"ts_ns":1748779205500000000}
}
