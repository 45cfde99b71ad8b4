package canal

import (
	"context"
	"fmt"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func Example() {
	s := newSerializer()
	s.hooks.Now, s.hooks.Seq = fixture.Now, fixture.Seq
	recs, _ := s.Serialize(context.Background(), []*change.Change{fixture.ExampleChange()}, nil)
	for _, r := range recs {
		fmt.Printf("%s\n", r.Value)
	}
	// Output:
	// {"data":[{"id":"1","name":"new","amount":"9.90"}],"database":"shop","es":1700000000000,"gtid":"","id":7,"isDdl":false,"mysqlType":{"id":"int(11)","name":"varchar(32)","amount":"decimal(8,2)"},"old":[{"name":"old"}],"pkNames":["id"],"sql":"","sqlType":{"id":4,"name":12,"amount":3},"table":"orders","ts":1748779205500,"type":"UPDATE"}
}
