package checkpoint

import (
	"context"
	"sync"
)

// MemoryStore keeps checkpoints in memory. It is meant for tests and is safe for concurrent
// use.
type MemoryStore struct {
	mu     sync.Mutex
	cps    map[string]*Checkpoint
	saves  int
	closed bool
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{cps: make(map[string]*Checkpoint)}
}

// Load returns a copy of the pipeline's checkpoint, or nil.
func (s *MemoryStore) Load(_ context.Context, pipeline string) (*Checkpoint, error) {
	if err := ValidateName(pipeline); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.cps[pipeline].Clone(), nil
}

// Save stores a copy of cp.
func (s *MemoryStore) Save(_ context.Context, cp *Checkpoint) error {
	if err := ValidateName(cp.Pipeline); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.cps[cp.Pipeline] = cp.Clone()
	s.saves++
	return nil
}

// Saves returns how many times Save succeeded.
func (s *MemoryStore) Saves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saves
}

// Close marks the store closed.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
