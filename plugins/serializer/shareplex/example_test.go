package shareplex

import (
	"context"
	"fmt"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func Example() {
	s := newSerializer()
	s.hooks.Now = fixture.Now
	recs, _ := s.Serialize(context.Background(), []*change.Change{fixture.ExampleChange()}, nil)
	for _, r := range recs {
		fmt.Printf("%s\n", r.Value)
	}
	// Output:
	// {"meta":{"time":"2023-11-14T22:13:20","userid":0,"op":"upd","scn":"1700000000000","rowid":"1","trans":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23","seq":1,"size":1,"table":"shop.orders","idx":"1/1","posttime":"2025-06-01T12:00:05"},"data":{"id":"1","name":"new","amount":"9.90"},"key":{"id":"1","name":"old","amount":"9.90"}}
}
