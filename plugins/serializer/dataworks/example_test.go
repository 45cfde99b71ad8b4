package dataworks

import (
	"context"
	"fmt"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func Example() {
	s := newSerializer()
	_ = s.Configure(context.Background(), sdk.NewConfig([]byte(`{"business_name":"shop"}`)))
	s.hooks.Now = fixture.Now
	recs, _ := s.Serialize(context.Background(), []*change.Change{fixture.ExampleChange()}, nil)
	for _, r := range recs {
		fmt.Printf("%s\n", r.Value)
	}
	// Output:
	// {"schema":{"dataColumn":[{"name":"id","type":"LONG"},{"name":"name","type":"STRING"},{"name":"amount","type":"STRING"}],"primaryKey":["id"],"source":{"dbType":"OceanBase","dbVersion":"","dbName":"shop","schemaName":"shop","tableName":"orders"}},"payload":{"before":{"dataColumn":{"id":1,"name":"old","amount":"9.90"}},"after":null,"sequenceId":"bin.000003:1200:0","scn":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23","op":"UPDATE_BEFOR","timestamp":{"eventTime":1700000000000,"systemTime":1748779205500,"checkpointTime":1700000000000}},"extend":{"businessName":"shop"},"version":"1.0.0"}
	// {"schema":{"dataColumn":[{"name":"id","type":"LONG"},{"name":"name","type":"STRING"},{"name":"amount","type":"STRING"}],"primaryKey":["id"],"source":{"dbType":"OceanBase","dbVersion":"","dbName":"shop","schemaName":"shop","tableName":"orders"}},"payload":{"before":{"dataColumn":{"id":1,"name":"old","amount":"9.90"}},"after":{"dataColumn":{"id":1,"name":"new","amount":"9.90"}},"sequenceId":"bin.000003:1200:0","scn":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23","op":"UPDATE_AFTER","timestamp":{"eventTime":1700000000000,"systemTime":1748779205500,"checkpointTime":1700000000000}},"extend":{"businessName":"shop"},"version":"1.0.0"}
}
