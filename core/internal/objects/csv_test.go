package objects

import (
	"reflect"
	"strings"
	"testing"
)

func TestObjectsCSVErrors(t *testing.T) {
	in := "database,table,topic,row_filter,columns,sharding_columns\n" +
		"shop,orders,orders,`status` <> 'draft',\"id,status\",customer_id\n" + // 2 ok
		"shop,bad.name,t,,,\n" + // 3 bad name
		"shop,x,${schema},,,\n" + // 4 bad topic
		"shop,y,t,a = = 1,,\n" + // 5 bad filter
		"shop,z,t,,\"a,a\",\n" + // 6 duplicate column
		"shop,orders,t,,,\n" + // 7 duplicate object
		"shop,w,t\n" + // 8 field count
		"shop,order_item_*,${db}_${table},,,\n" // 9 ok (rule)
	_, errs := ReadCSV(strings.NewReader(in))
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if !reflect.DeepEqual(lines, []int{3, 4, 5, 6, 7, 8}) {
		t.Fatalf("bad lines %v: %+v", lines, errs)
	}
}
