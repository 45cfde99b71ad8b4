package deadletter

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cdc/ferry/sdk"
	"github.com/ferry-cdc/ferry/sdk/change"
)

func TestAppendsOneFsyncedLinePerRecord(t *testing.T) {
	dir := t.TempDir()
	for run := 0; run < 2; run++ { // a restart appends
		d, err := Open(dir, "p1")
		if err != nil {
			t.Fatal(err)
		}
		rec := &sdk.Record{Database: "shop", Table: "orders", Key: "7\x01eu", ChangeID: "0-1-9#2", Op: change.OpInsert,
			Position: []byte{0, 1, 0xff}, CommitTime: time.UnixMilli(1700000000123), Value: []byte("body"),
			Properties: []sdk.Property{{Key: "k", Value: "v"}}}
		if err := d.Write(rec, &sdk.TooLargeError{Index: 3, Size: 5000, Limit: 4096, Err: errors.New("too large")}); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(Path(dir, "p1"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st, _ := f.Stat(); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Pipeline != "p1" || l.Database != "shop" || l.Table != "orders" || l.Key != "7\x01eu" || l.ChangeID != "0-1-9#2" ||
			l.Op != "insert" || string(l.Position) != "\x00\x01\xff" || l.CommitMS != 1700000000123 || l.Size != 5000 ||
			l.Limit != 4096 || l.Error != "too large" || string(l.Value) != "body" || len(l.Properties) != 1 {
			t.Errorf("line %d: %+v", n, l)
		}
		if !strings.Contains(sc.Text(), `"position":"AAH/"`) {
			t.Errorf("position not base64: %s", sc.Text())
		}
	}
	if n != 2 {
		t.Errorf("%d lines, want 2", n)
	}
}
