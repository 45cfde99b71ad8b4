package defaultext

import (
	"context"
	"fmt"

	"github.com/ferry-cdc/ferry/plugins/serializer/internal/fixture"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func Example() {
	s := newSerializer()
	s.Hooks.Now, s.Hooks.Seq = fixture.Now, fixture.Seq
	recs, _ := s.Serialize(context.Background(), []*change.Change{fixture.ExampleChange()}, nil)
	for _, r := range recs {
		fmt.Printf("%s\n", r.Value)
	}
	// Output:
	// {"prevStruct":{"id":"1","name":"old","amount":"9.90","__light_type":{"id":{"schemaType":"INT"},"name":{"schemaType":"VARCHAR"},"amount":{"schemaType":"DECIMAL"}}},"postStruct":{"id":"1","name":"new","amount":"9.90","__light_type":{"id":{"schemaType":"INT"},"name":{"schemaType":"VARCHAR"},"amount":{"schemaType":"DECIMAL"}}},"allMetaData":{"checkpoint":"1700000000","record_primary_key":"id","record_primary_value":"1","source_identity":null,"dbType":"OB_MYSQL","storeDataSequence":170000000000007,"table_name":"orders","db":"t1.shop","timestamp":"1700000000","uniqueId":"bin.000003:1200:0","transId":"3e11fa47-71ca-11e1-9e33-c80aa9429562:23","clusterId":null,"ddlType":null},"recordType":"UPDATE"}
}
