package rocketmq

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// B3: the remoting client accepts only IP addresses; host names are resolved first.
func TestResolveHosts(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]string, error) {
		switch host {
		case "localhost":
			return []string{"::1", "127.0.0.1"}, nil
		case "ns.example":
			return []string{"10.0.0.1", "10.0.0.2"}, nil
		case "v6only":
			return []string{"fd00::1"}, nil
		}
		return nil, errors.New("no such host")
	}
	got, err := resolveHosts(context.Background(), lookup,
		[]string{"localhost:19876", "10.0.0.1:9876", "ns.example:9876", "v6only:9876", "http://ns.url:8080", "127.0.0.1:19876"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:19876", "10.0.0.1:9876", "10.0.0.2:9876", "[fd00::1]:9876", "http://ns.url:8080"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := resolveHosts(context.Background(), lookup, []string{"nowhere:9876"}); err == nil {
		t.Error("no error for an unknown host")
	}
}
