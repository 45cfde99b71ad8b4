package rocketmq

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-cdc/ferry/sdk"
)

func TestSpecValid(t *testing.T) {
	if err := New().Spec().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, a := range New().Spec().Attributes {
		if a.Doc == "" {
			t.Errorf("%s has no Doc", a.Name)
		}
	}
	// Every declared attribute decodes into config (Decode rejects unknown members).
	for _, a := range New().Spec().Attributes {
		var v string
		switch a.Type {
		case sdk.TypeStringList:
			v = `[]`
		case sdk.TypeInt, sdk.TypeSize:
			v = `1`
		case sdk.TypeBool:
			v = `true`
		default:
			v = `"1s"`
		}
		var c config
		if err := cfgJSON(`{"` + a.Name + `":` + v + `}`).Decode(&c); err != nil {
			t.Errorf("attribute %s does not decode: %v", a.Name, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		attrs string
		attr  string // "" = valid
		text  string
	}{
		{`"name_servers":["127.0.0.1:9876"]`, "", ""},
		{`"name_servers":["127.0.0.1:9876"],"partitioning":"one","queue":3`, "", ""},
		{``, "name_servers", "at least one"},
		{`"name_servers":["localhost"]`, "name_servers[0]", "host:port"},
		{`"name_servers":["a:1","b:99999"]`, "name_servers[1]", "invalid port"},
		{`"name_servers":["a:1"],"queue":2`, "queue", `partitioning = "one"`},
		{`"name_servers":["a:1"],"partitioning":"one"`, "partitioning", "needs the queue"},
		{`"name_servers":["a:1"],"access_key":"AK"`, "secret_key", "together"},
		{`"name_servers":["a:1"],"topic":"bad topic"`, "topic", "not a valid"},
		{`"name_servers":["a:1"],"tag":"a||b"`, "tag", "'|'"},
		{`"transport":"grpc","endpoint":"127.0.0.1:8081"`, "", ""},
		{`"transport":"grpc","endpoint":"127.0.0.1:8081","access_key":"AK","secret_key":"SK","namespace":"ns1","tls":true`, "", ""},
		{`"transport":"grpc"`, "endpoint", "proxy endpoint"},
		{`"transport":"grpc","endpoint":"proxy"`, "endpoint", "host:port"},
		{`"name_servers":["a:1"],"transport":"grpc","endpoint":"127.0.0.1:8081"`, "name_servers", "remoting"},
		{`"transport":"grpc","endpoint":"127.0.0.1:8081","trace":true`, "trace", "not supported"},
		{`"transport":"grpc","endpoint":"127.0.0.1:8081","auto_create_topic":true`, "auto_create_topic", "never creates"},
		{`"name_servers":["a:1"],"endpoint":"127.0.0.1:8081"`, "endpoint", "grpc"},
		{`"name_servers":["a:1"],"max_batch_bytes":10485760`, "max_batch_bytes", "4MiB"},
		{`"name_servers":["a:1"],"trace_topic":"T"`, "trace_topic", "trace = true"},
	} {
		err := New().Configure(context.Background(), cfgJSON(`{`+tc.attrs+`}`))
		if tc.attr == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.attrs, err)
			}
			continue
		}
		found := false
		for _, ae := range sdk.AttributeErrors(err) {
			if ae.Attribute == tc.attr && strings.Contains(ae.Error(), tc.text) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: got %v, want an error on %s containing %q", tc.attrs, err, tc.attr, tc.text)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	s := New()
	err := s.Configure(context.Background(), cfgJSON(`{"name_servers":["a:1"],"access_key":"AKIDSECRET","secret_key":"hunter2hunter2","topic":"bad topic"}`))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, leak := range []string{"AKIDSECRET", "hunter2"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q shows a secret", err)
		}
	}
	var c config
	_ = cfgJSON(`{"access_key":"AKIDSECRET","secret_key":"hunter2hunter2"}`).Decode(&c)
	if p := strings.Join([]string{c.AccessKey.String(), c.SecretKey.String()}, " "); strings.Contains(p, "hunter2") {
		t.Errorf("printed %q", p)
	}
}
