package checkpoint

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestLeaseExcludesSecondHolder(t *testing.T) {
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Acquire(Owner{Pipeline: "orders", File: "/etc/ferry/orders.hcl", Host: "h1", PID: 11}, false)
	if err != nil {
		t.Fatal(err)
	}
	// flock conflicts between open file descriptions, also within one process.
	_, err = s.Acquire(Owner{Pipeline: "orders", File: "/etc/ferry/orders.hcl", Host: "h2", PID: 22}, false)
	if !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("second acquire: %v, want ErrLeaseHeld", err)
	}
	for _, want := range []string{`"orders"`, "pid 11 on h1", "/etc/ferry/orders.hcl"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// Another pipeline in the same store is independent.
	b, err := s.Acquire(Owner{Pipeline: "users", File: "/etc/ferry/users.hcl"}, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Release()
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	c, err := s.Acquire(Owner{Pipeline: "orders", File: "/etc/ferry/orders.hcl", PID: 33}, false)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if o := s.ReadOwner("orders"); o == nil || o.PID != 33 {
		t.Fatalf("owner after re-acquire: %+v", o)
	}
	_ = c.Release()
}

func TestLeaseNameTakenByAnotherFile(t *testing.T) {
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Acquire(Owner{Pipeline: "orders", File: "/a/orders.hcl"}, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Release()
	// Without a checkpoint the name is free to move: nothing would be resumed.
	b, err := s.Acquire(Owner{Pipeline: "orders", File: "/b/orders.hcl"}, false)
	if err != nil {
		t.Fatalf("no checkpoint yet: %v", err)
	}
	_ = b.Release()
	if err := s.Save(context.Background(), &Checkpoint{Pipeline: "orders", Position: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Acquire(Owner{Pipeline: "orders", File: "/c/other.hcl"}, false)
	if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "/b/orders.hcl") || !strings.Contains(err.Error(), "--adopt") {
		t.Fatalf("acquire from another file: %v", err)
	}
	c, err := s.Acquire(Owner{Pipeline: "orders", File: "/c/other.hcl"}, true)
	if err != nil {
		t.Fatalf("adopt: %v", err)
	}
	_ = c.Release()
	// Adopted: the new file is now the owner.
	d, err := s.Acquire(Owner{Pipeline: "orders", File: "/c/other.hcl"}, false)
	if err != nil {
		t.Fatalf("after adopt: %v", err)
	}
	_ = d.Release()
}

// The holder records its status address; readers of the lease file (`ferry snapshot`) find it,
// and a long address replaced by a short one leaves no trailing bytes.
func TestLeaseStatusAddr(t *testing.T) {
	s, err := NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(Owner{Pipeline: "orders", File: "/etc/ferry/orders.hcl", PID: 11}, false)
	if err != nil {
		t.Fatal(err)
	}
	if o := s.ReadOwner("orders"); o == nil || o.StatusAddr != "" {
		t.Fatalf("before: %+v", o)
	}
	for _, addr := range []string{"127.0.0.1:40000-with-a-long-tail", "127.0.0.1:9"} {
		if err := l.SetStatusAddr(addr); err != nil {
			t.Fatal(err)
		}
		if o := s.ReadOwner("orders"); o == nil || o.StatusAddr != addr || o.PID != 11 || o.File != "/etc/ferry/orders.hcl" {
			t.Fatalf("after SetStatusAddr(%q): %+v", addr, o)
		}
	}
	_ = l.Release()
	if err := l.SetStatusAddr("x"); err == nil {
		t.Error("SetStatusAddr on a released lease")
	}
}
