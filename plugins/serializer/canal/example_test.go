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
	// {"id":7,"database":"shop","table":"orders","pkNames":["id"],"isDdl":false,"type":"UPDATE","es":1700000000000,"ts":1748779205500,"sql":"","sqlType":{"id":4,"name":12,"amount":3},"mysqlType":{"id":"int(11)","name":"varchar(32)","amount":"decimal(8,2)"},"data":[{"id":"1","name":"new","amount":"9.90"}],"old":[{"name":"old"}]}
}
