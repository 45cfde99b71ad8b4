package debeziumsmt

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
	// {"id":1,"name":"new","amount":"9.90","__op":"u","__db":"shop","__table":"orders","__source_ts_ms":1700000000000,"__deleted":"false"}
}
