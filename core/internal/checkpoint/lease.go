package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

var (
	// ErrLeaseHeld is returned by Acquire when another process runs the pipeline.
	ErrLeaseHeld = errors.New("pipeline already running")
	// ErrNameTaken is returned by Acquire when the pipeline's name in this store belongs to
	// another pipeline file.
	ErrNameTaken = errors.New("pipeline name taken")
)

// Owner describes the process that holds (or last held) a pipeline's lease.
type Owner struct {
	// Pipeline is the pipeline's name.
	Pipeline string `json:"pipeline"`
	// File is the absolute path of the pipeline file.
	File string `json:"file"`
	// Host and PID identify the process.
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Since is when the lease was taken.
	Since time.Time `json:"since"`
	// StatusAddr is where the holder serves its status (and takes `ferry snapshot`
	// requests), once it does; empty when it does not.
	StatusAddr string `json:"status_addr,omitempty"`
}

func (o Owner) String() string {
	return fmt.Sprintf("pid %d on %s, file %s, since %s", o.PID, o.Host, o.File, o.Since.UTC().Format(time.RFC3339))
}

// Lease is a held pipeline lease: while it is held no other process can acquire the same
// pipeline's lease in the same store. It is an exclusive advisory lock (flock) on
// <dir>/<pipeline>.lock, so it is released by the kernel when the process dies, even by
// kill -9; it holds across processes on one machine and, for a shared store, on file systems
// whose flock is cluster-wide (NFSv4, CephFS; not NFSv3 without lockd).
type Lease struct {
	f     *os.File
	owner Owner
}

// Owner returns the owner recorded by this lease.
func (l *Lease) Owner() Owner { return l.owner }

// Release gives the lease up. The lock file stays: it records the last owner, which is how
// Acquire tells a moved pipeline file from a second pipeline that reuses the name.
func (l *Lease) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

// SetStatusAddr records in the lease file where the holder serves its status, so that other
// commands (`ferry snapshot`) find it from the pipeline file.
func (l *Lease) SetStatusAddr(addr string) error {
	if l == nil || l.f == nil {
		return errors.New("lease not held")
	}
	l.owner.StatusAddr = addr
	data, _ := json.Marshal(l.owner)
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	if _, err := l.f.WriteAt(append(data, '\n'), 0); err != nil {
		return err
	}
	return l.f.Sync()
}

// LockPath returns the file that holds pipeline's lease.
func (s *FileStore) LockPath(pipeline string) string {
	return filepath.Join(s.dir, pipeline+".lock")
}

// Acquire takes the lease of o.Pipeline. It fails with ErrLeaseHeld, naming the holder, when
// another process holds it. It fails with ErrNameTaken when the store already has a
// checkpoint of a pipeline of that name that was last run from another file (two pipelines
// must not share a name, or one would resume from the other's position), unless adopt is set
// (the file was moved or renamed on purpose).
func (s *FileStore) Acquire(o Owner, adopt bool) (*Lease, error) {
	if err := ValidateName(o.Pipeline); err != nil {
		return nil, err
	}
	path := s.LockPath(o.Pipeline)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lease file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		prev := readOwner(f)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if prev != nil {
				holder = prev.String()
			}
			return nil, fmt.Errorf("%w: pipeline %q is already running (%s); two copies of one pipeline never run at once (lease %s)",
				ErrLeaseHeld, o.Pipeline, holder, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	prev := readOwner(f)
	if prev != nil && prev.File != "" && o.File != "" && prev.File != o.File && !adopt {
		if _, err := os.Stat(s.Path(o.Pipeline)); err == nil {
			_ = f.Close()
			return nil, fmt.Errorf("%w: the checkpoint store %s already holds pipeline %q of %s (last run: %s); this is %s. "+
				"Give this pipeline another name, or, if the file was moved, run with --adopt to continue from that checkpoint",
				ErrNameTaken, s.dir, o.Pipeline, prev.File, prev.String(), o.File)
		}
	}
	if o.Since.IsZero() {
		o.Since = time.Now().UTC()
	}
	data, _ := json.Marshal(o)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(append(data, '\n'), 0)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("write lease file %s: %w", path, err)
		}
	}
	return &Lease{f: f, owner: o}, nil
}

func readOwner(f *os.File) *Owner {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil || len(b) == 0 {
		return nil
	}
	var o Owner
	if json.Unmarshal(b, &o) != nil {
		return nil
	}
	return &o
}

// ReadOwner returns the recorded owner of pipeline's lease (the holder when it is running,
// else the last one), or nil when there is none.
func (s *FileStore) ReadOwner(pipeline string) *Owner {
	f, err := os.Open(s.LockPath(pipeline))
	if err != nil {
		return nil
	}
	defer f.Close()
	return readOwner(f)
}

// ReadOwnerIn is ReadOwner for a store directory that is not opened (and not created).
func ReadOwnerIn(dir, pipeline string) *Owner {
	return (&FileStore{dir: dir}).ReadOwner(pipeline)
}
