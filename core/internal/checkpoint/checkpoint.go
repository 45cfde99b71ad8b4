package checkpoint

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-cdc/ferry/sdk/change"
)

// FormatVersion is the version of the checkpoint file format this package writes. Load
// accepts this version and older ones.
const FormatVersion = 1

// Checkpoint is the durable progress of one pipeline.
type Checkpoint struct {
	// Pipeline is the pipeline's name.
	Pipeline string `json:"pipeline"`
	// Position is the source position of the last batch that was fully acknowledged together
	// with every batch before it. The source resumes after it.
	Position change.Position `json:"position"`
	// SavedAt is when the checkpoint was taken.
	SavedAt time.Time `json:"saved_at"`
	// Sequence counts the source batches acknowledged so far, over every run.
	Sequence uint64 `json:"sequence"`
	// Changes counts the changes of those batches.
	Changes uint64 `json:"changes"`
}

// Clone returns a deep copy of c.
func (c *Checkpoint) Clone() *Checkpoint {
	if c == nil {
		return nil
	}
	d := *c
	if c.Position != nil {
		d.Position = append(change.Position(nil), c.Position...)
	}
	return &d
}

// Store persists checkpoints.
type Store interface {
	// Load returns the pipeline's checkpoint, or nil and no error when it has none.
	Load(ctx context.Context, pipeline string) (*Checkpoint, error)
	// Save replaces the pipeline's checkpoint atomically. On error the previous checkpoint
	// stays intact.
	Save(ctx context.Context, cp *Checkpoint) error
	// Close releases the store.
	Close() error
}

// ValidateName checks a pipeline name: 1..64 ASCII letters, digits, '_' or '-'. Names become
// file names, so nothing else is accepted.
func ValidateName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("%w %q: must be 1 to 64 characters", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: use only letters, digits, '_' and '-'", ErrInvalidName, name)
		}
	}
	return nil
}
