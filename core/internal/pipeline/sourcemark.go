package pipeline

// Opened is closed once Run opened the source: from then on the source's optional abilities
// that need an open source (SetTables, Resnapshot) may be called. It is never closed when Run
// fails before.
func (p *Pipeline) Opened() <-chan struct{} { return p.opened }

// Done is closed when Run returned.
func (p *Pipeline) Done() <-chan struct{} { return p.done }

// ReadBound returns a checkpoint sequence that every batch the source returned before the
// call has, or is below: a checkpoint saved with a greater sequence (Stats.CommittedSequence)
// holds the position of a batch the source returned after the call. Callers use it to learn
// when something the source did (a re-snapshot planned into its positions) is in a saved
// checkpoint.
//
// Every batch the tracker numbers was counted in BatchesRead before it was numbered; the one
// batch the reader may have received and not yet counted is covered by the +1.
func (p *Pipeline) ReadBound() uint64 {
	return p.startSeq.Load() + p.stats.batchesRead.Load() + 1
}
