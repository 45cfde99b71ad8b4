package obstandin

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/google/uuid"
)

// store holds the converted binlog files (binlog_storage in oblogproxy): mysql-bin.NNNNNN
// files, each FORMAT_DESCRIPTION + PREVIOUS_GTIDS + transactions, and state.json with the
// committed end of the current file and the MariaDB position it corresponds to, so that a
// restart truncates a half-written transaction and continues from MariaDB where it left off.
type store struct {
	dir      string
	serverID uint32
	rotate   int64

	mu      sync.Mutex
	st      storeState
	sid     [16]byte
	exec    *mysql.MysqlGTIDSet
	f       *os.File
	files   []string // names, oldest first
	prev    map[string]*mysql.MysqlGTIDSet
	changed chan struct{}
	history []masterSnap // for the lagging SHOW MASTER STATUS
	dirty   time.Time    // MariaDB position changed without a commit
}

type storeState struct {
	ServerUUID  string `json:"server_uuid"`
	MariaDBGTID string `json:"mariadb_gtid"` // MariaDB gtid position already converted
	NextGNO     int64  `json:"next_gno"`
	File        string `json:"file"`
	Size        int64  `json:"size"` // committed end of File
	Executed    string `json:"executed"`
}

type masterSnap struct {
	at   time.Time
	file string
	pos  int64
	exec string
}

const binlogMagic = "\xfebin"

func openStore(dir string, serverID uint32, rotate int64) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &store{dir: dir, serverID: serverID, rotate: rotate, prev: map[string]*mysql.MysqlGTIDSet{}, changed: make(chan struct{})}
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.st = storeState{ServerUUID: uuid.New().String(), NextGNO: 1}
		s.exec = emptySet()
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &s.st); err != nil {
			return nil, fmt.Errorf("state.json: %w", err)
		}
		set, err := mysql.ParseMysqlGTIDSet(s.st.Executed)
		if err != nil {
			return nil, fmt.Errorf("state.json executed: %w", err)
		}
		s.exec = set.(*mysql.MysqlGTIDSet)
	}
	u, err := uuid.Parse(s.st.ServerUUID)
	if err != nil {
		return nil, err
	}
	s.sid = u
	if err := s.scanFiles(); err != nil {
		return nil, err
	}
	if s.st.File == "" || len(s.files) == 0 {
		if err := s.newFile(nextName(s.files)); err != nil {
			return nil, err
		}
	} else {
		f, err := os.OpenFile(filepath.Join(dir, s.st.File), os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		if err := f.Truncate(s.st.Size); err != nil {
			return nil, err
		}
		if _, err := f.Seek(s.st.Size, io.SeekStart); err != nil {
			return nil, err
		}
		s.f = f
		// files after the current one (written but never committed) are dropped
		for i, n := range s.files {
			if n == s.st.File {
				for _, later := range s.files[i+1:] {
					_ = os.Remove(filepath.Join(dir, later))
				}
				s.files = s.files[:i+1]
				break
			}
		}
	}
	s.history = []masterSnap{{at: time.Time{}, file: s.st.File, pos: s.st.Size, exec: s.exec.String()}}
	return s, nil
}

func emptySet() *mysql.MysqlGTIDSet {
	set, _ := mysql.ParseMysqlGTIDSet("")
	return set.(*mysql.MysqlGTIDSet)
}

func nextName(files []string) string {
	n := 1
	if len(files) > 0 {
		_, _ = fmt.Sscanf(strings.TrimPrefix(files[len(files)-1], "mysql-bin."), "%d", &n)
		n++
	}
	return fmt.Sprintf("mysql-bin.%06d", n)
}

func (s *store) scanFiles() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	s.files = s.files[:0]
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "mysql-bin.") && !e.IsDir() {
			s.files = append(s.files, e.Name())
		}
	}
	sort.Strings(s.files)
	for _, n := range s.files {
		p, err := readPrevGTIDs(filepath.Join(s.dir, n))
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		s.prev[n] = p
	}
	return nil
}

// readPrevGTIDs reads the PREVIOUS_GTIDS event that follows a file's format description.
func readPrevGTIDs(path string) (*mysql.MysqlGTIDSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pos := int64(4)
	for i := 0; i < 2; i++ {
		ev, err := readEventAt(f, pos)
		if err != nil {
			return nil, err
		}
		if replication.EventType(ev[4]) == replication.PREVIOUS_GTIDS_EVENT {
			return mysql.DecodeMysqlGTIDSet(ev[headerSize : len(ev)-4])
		}
		pos += int64(len(ev))
	}
	return nil, errors.New("no PREVIOUS_GTIDS event")
}

func readEventAt(f *os.File, pos int64) ([]byte, error) {
	h := make([]byte, headerSize)
	if _, err := f.ReadAt(h, pos); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(h[9:])
	if size < headerSize || size > 1<<30 {
		return nil, fmt.Errorf("bad event size %d at %d", size, pos)
	}
	ev := make([]byte, size)
	if _, err := f.ReadAt(ev, pos); err != nil {
		return nil, err
	}
	return ev, nil
}

// newFile starts a file: magic, FORMAT_DESCRIPTION, PREVIOUS_GTIDS (the executed set).
func (s *store) newFile(name string) error {
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	ts := uint32(time.Now().Unix())
	buf := []byte(binlogMagic)
	buf = append(buf, fdeEvent(ts).finish(s.serverID, uint32(len(buf)), true)...)
	buf = append(buf, previousGTIDsEvent(ts, s.exec).finish(s.serverID, uint32(len(buf)), true)...)
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f = f
	s.files = append(s.files, name)
	s.prev[name] = s.exec.Clone().(*mysql.MysqlGTIDSet)
	s.st.File = name
	s.st.Size = int64(len(buf))
	return s.saveLocked()
}

func (s *store) saveLocked() error {
	s.st.Executed = s.exec.String()
	b, _ := json.MarshalIndent(s.st, "", "  ")
	tmp := filepath.Join(s.dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	s.dirty = time.Time{}
	return os.Rename(tmp, filepath.Join(s.dir, "state.json"))
}

func (s *store) mariaDBPos() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.MariaDBGTID
}

// skip records a MariaDB position whose transaction produced nothing (filtered out); it
// is persisted with the next commit or at most every second.
func (s *store) skip(mariaPos string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.MariaDBGTID = mariaPos
	if s.dirty.IsZero() {
		s.dirty = time.Now()
	} else if time.Since(s.dirty) > time.Second {
		return s.saveLocked()
	}
	return nil
}

// commit appends one transaction; build gets its GTID number. Rotation by size follows.
func (s *store) commit(mariaPos string, build func(gno int64) []rawEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	gno := s.st.NextGNO
	evs := build(gno)
	pos := s.st.Size
	var buf []byte
	for _, e := range evs {
		b := e.finish(s.serverID, uint32(pos), true)
		pos += int64(len(b))
		buf = append(buf, b...)
	}
	if _, err := s.f.WriteAt(buf, s.st.Size); err != nil {
		return err
	}
	s.st.Size = pos
	s.st.NextGNO = gno + 1
	s.st.MariaDBGTID = mariaPos
	s.exec.AddGTID(s.sid, gno)
	if s.rotate > 0 && s.st.Size >= s.rotate {
		if err := s.rotateLocked(); err != nil {
			return err
		}
	} else if err := s.saveLocked(); err != nil {
		return err
	}
	s.history = append(s.history, masterSnap{at: time.Now(), file: s.st.File, pos: s.st.Size, exec: s.exec.String()})
	if len(s.history) > 10000 {
		s.history = append([]masterSnap(nil), s.history[5000:]...)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func (s *store) rotateLocked() error {
	next := nextName(s.files)
	r := rotateEvent(uint32(time.Now().Unix()), next, 4, false).finish(s.serverID, uint32(s.st.Size), true)
	if _, err := s.f.WriteAt(r, s.st.Size); err != nil {
		return err
	}
	s.st.Size += int64(len(r))
	return s.newFile(next)
}

// flush is FLUSH BINARY LOGS: rotate now.
func (s *store) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.rotateLocked()
	close(s.changed)
	s.changed = make(chan struct{})
	return err
}

// view is what a reader may see: the file list, the current file and its committed end.
type view struct {
	files   []string
	current string
	size    int64
	changed <-chan struct{}
}

func (s *store) view() view {
	s.mu.Lock()
	defer s.mu.Unlock()
	return view{files: append([]string(nil), s.files...), current: s.st.File, size: s.st.Size, changed: s.changed}
}

func (s *store) prevOf(name string) *mysql.MysqlGTIDSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.prev[name]; p != nil {
		return p.Clone().(*mysql.MysqlGTIDSet)
	}
	return nil
}

func (s *store) executed() *mysql.MysqlGTIDSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exec.Clone().(*mysql.MysqlGTIDSet)
}

// purged is gtid_purged: what precedes the oldest file still kept.
func (s *store) purged() *mysql.MysqlGTIDSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.files) == 0 {
		return emptySet()
	}
	return s.prev[s.files[0]].Clone().(*mysql.MysqlGTIDSet)
}

// master is SHOW MASTER STATUS as of lag ago (it lags real writes: goInception PR #619).
func (s *store) master(lag time.Duration) masterSnap {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := time.Now().Add(-lag)
	for i := len(s.history) - 1; i >= 0; i-- {
		if !s.history[i].at.After(cut) {
			return s.history[i]
		}
	}
	return s.history[0]
}

type fileStat struct {
	name string
	size int64
	mod  time.Time
}

func (s *store) list() []fileStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []fileStat
	for _, n := range s.files {
		fs := fileStat{name: n}
		if n == s.st.File {
			fs.size = s.st.Size
			fs.mod = time.Now()
		} else if fi, err := os.Stat(filepath.Join(s.dir, n)); err == nil {
			fs.size, fs.mod = fi.Size(), fi.ModTime()
		}
		out = append(out, fs)
	}
	return out
}

// purge removes old files (never the current one): those older than maxAge, then the oldest
// while the total exceeds maxSize (binlog_expire_logs_seconds and binlog_expire_logs_size,
// oblogproxy 1cf30a78 binlog_storage.cpp purge_expired_binlog). to, if set, purges every
// file before it (PURGE BINARY LOGS TO).
func (s *store) purge(maxAge time.Duration, maxSize int64, to string) []string {
	stats := s.list()
	var total int64
	for _, f := range stats {
		total += f.size
	}
	var gone []string
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(stats) > 1 {
		f := stats[0]
		old := maxAge > 0 && time.Since(f.mod) > maxAge
		big := maxSize > 0 && total > maxSize
		before := to != "" && f.name < to
		if !old && !big && !before {
			break
		}
		if err := os.Remove(filepath.Join(s.dir, f.name)); err != nil {
			break
		}
		gone = append(gone, f.name)
		total -= f.size
		stats = stats[1:]
		s.files = s.files[1:]
		delete(s.prev, f.name)
	}
	return gone
}

func (s *store) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty.IsZero() {
		_ = s.saveLocked()
	}
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}
