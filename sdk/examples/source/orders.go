package source

import (
	"strconv"

	"github.com/ferry-cdc/ferry/sdk/change"
)

const ordersColumns = 6

// OrdersTable returns the schema of demo.orders.
func OrdersTable() *change.Table {
	return &change.Table{
		Database: "demo",
		Name:     "orders",
		Columns: []change.Column{
			{Name: "id", Type: "BIGINT", ColumnType: "bigint(20)"},
			{Name: "customer_id", Type: "INT", ColumnType: "int(11)"},
			{Name: "status", Type: "ENUM", ColumnType: "enum('new','paid','shipped')", Elems: statuses[:]},
			{Name: "amount", Type: "DECIMAL", ColumnType: "decimal(12,2)", Precision: 12, Scale: 2},
			{Name: "note", Type: "VARCHAR", ColumnType: "varchar(64)", Length: 64, Charset: "utf8mb4", Nullable: true},
			{Name: "created_at", Type: "DATETIME", ColumnType: "datetime(6)", Fsp: 6},
		},
		PrimaryKey: []int{0},
		Version:    1,
	}
}

var statuses = [...]string{"new", "paid", "shipped"}

// orderRow fills dst (ordersColumns values) with version v of row id; the content is a
// function of (id, v) only.
func orderRow(dst []change.Value, id int64, v uint32) []change.Value {
	h := mix(uint64(id)*0x9e3779b97f4a7c15 ^ uint64(v))
	cents := h % 10000000
	dst[0] = change.NewInt(id)
	dst[1] = change.NewInt(int64(mix(uint64(id)) % 10000))
	dst[2] = change.NewEnum(statuses[v%3], uint64(v%3)+1)
	amount := strconv.FormatUint(cents/100, 10) + "." + strconv.FormatUint(cents%100/10, 10) + strconv.FormatUint(cents%10, 10)
	dst[3] = change.MustDecimal(amount)
	if (uint64(id)+uint64(v))%4 == 0 {
		dst[4] = change.Null
	} else {
		dst[4] = change.NewString("order " + strconv.FormatInt(id, 10) + " v" + strconv.FormatUint(uint64(v), 10))
	}
	sec := uint64(id) % 86400
	dst[5], _ = change.NewDateTime(change.Temporal{Year: 2024, Month: 1, Day: 1 + uint8(uint64(id)/86400%28),
		Hour: uint16(sec / 3600), Minute: uint8(sec / 60 % 60), Second: uint8(sec % 60),
		Microsecond: uint32(uint64(id) * 7919 % 1000000)}, false)
	return dst
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// maxLive bounds the live keys of an endless run: at the bound, inserts become updates.
const maxLive = 1 << 16

// state is the generator's deterministic state machine: the keys that exist and each one's
// row version. It is a function of (seed, rows) and the number of steps taken.
type state struct {
	rng    uint64
	rows   int64
	seq    uint64
	nextID int64
	live   []int64
	index  map[int64]int // id -> position in live
	ver    map[int64]uint32
}

// step is one generated change: its operation, key and the row version before it.
type step struct {
	seq     uint64
	op      change.Op
	id      int64
	version uint32
}

func newState(seed, rows int64) *state {
	return &state{rng: uint64(seed), rows: rows, nextID: 1, index: map[int64]int{}, ver: map[int64]uint32{}}
}

func (s *state) rand() uint64 {
	s.rng += 0x9e3779b97f4a7c15
	return mix(s.rng)
}

func (s *state) step() step {
	s.seq++
	if int64(s.seq) <= s.rows {
		return s.insert(change.OpSnapshot)
	}
	r, k := s.rand()%100, s.rand()
	switch {
	case len(s.live) == 0 || (r < 50 && len(s.live) < maxLive):
		return s.insert(change.OpInsert)
	case r < 85:
		id := s.live[k%uint64(len(s.live))]
		v := s.ver[id]
		s.ver[id] = v + 1
		return step{seq: s.seq, op: change.OpUpdate, id: id, version: v}
	default:
		i := int(k % uint64(len(s.live)))
		id := s.live[i]
		last := s.live[len(s.live)-1]
		s.live[i] = last
		s.index[last] = i
		s.live = s.live[:len(s.live)-1]
		delete(s.index, id)
		v := s.ver[id]
		delete(s.ver, id)
		return step{seq: s.seq, op: change.OpDelete, id: id, version: v}
	}
}

func (s *state) insert(op change.Op) step {
	id := s.nextID
	s.nextID++
	s.index[id] = len(s.live)
	s.live = append(s.live, id)
	s.ver[id] = 0
	return step{seq: s.seq, op: op, id: id}
}
