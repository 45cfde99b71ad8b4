// Package pipeline is ferry's runtime: it moves changes from a source through filters and a
// serializer to a sink with no loss, in order per key, with bounded memory, and checkpoints
// only what the sink acknowledged.
//
// # Flow
//
//	Source.Read             reader goroutine: takes the batch's bytes from the budget
//	   │ bounded queue
//	filters, serializer     processor goroutine: Tracker.Add, route by Hash % Writers
//	   │ one bounded queue per lane
//	Sink.Write              Writers lane goroutines: retries, Tracker.Ack, budget release
//	   │
//	Store.Save, Source.Ack  committer goroutine, every CheckpointInterval
//
// The stages:
//
//   - The reader goroutine calls Source.Read. Each batch takes its bytes (the sum of its
//     changes' ApproxSize) from the byte budget, MaxInFlightBytes, before it moves on; it
//     waits while they do not fit, which throttles the source under a slow sink. A batch
//     larger than the whole budget is admitted alone rather than deadlocking.
//   - The processor goroutine takes batches in read order through a bounded queue, runs the
//     filters in order and the serializer, then fills each record's host fields: Hash
//     (Config.Shard of its change, by default the key hash), ChangeID, Op, Database, Table,
//     CommitTime, Position, Topic when empty (the change's Topic) and Key when empty (the
//     key-column values' canonical text joined with "\x01"). It registers the batch with
//     the checkpoint.Tracker (its sequence number is its place in read order), adjusts the
//     batch's budget from its changes' size to its records' size, and routes every record
//     to lane Hash % Writers through that lane's bounded queue.
//   - Each lane accumulates up to BatchSize records, or what arrived within BatchTimeout, and
//     calls Sink.Write. On error it waits (exponential backoff with jitter, RetryPolicy) and
//     retries from the first undelivered record; the lane blocks meanwhile, so records of a
//     key, which always share a lane, keep their order. Each retry is logged with its
//     attempt number. Errors whose `Permanent() bool` method returns true, panics, and
//     exhausting RetryPolicy.MaxAttempts fail the pipeline.
//   - Delivered records are acknowledged to the Tracker; when a batch's last record is
//     acknowledged its bytes return to the budget. Batches with no records (all filtered
//     out, heartbeats the serializer turned into nothing) are complete at once.
//   - The committer saves Tracker.Committed(), the position of the last batch that with
//     every earlier batch is fully acknowledged, every CheckpointInterval when it moved,
//     then calls Source.Ack when the source is an sdk.SourceAcker. A checkpoint therefore
//     never claims a change the sink did not acknowledge.
//
// Every queue between stages is bounded and blocks when full.
//
// # Stopping
//
//   - Source returns io.EOF: everything read is written, the final checkpoint is saved, the
//     sink and the source are closed, and Run returns nil.
//   - The context is cancelled: reading stops; batches already read drain for up to
//     DrainTimeout; the final checkpoint covers what was acknowledged; Run returns nil.
//   - A stage fails: reading stops and the lanes are cancelled; the checkpoint covers only
//     what was acknowledged; the sink and the source are closed; Run returns a *StageError
//     such as `sink "rocketmq": write: ...`. A panic in a plugin call becomes such an error
//     too, with a *PanicError (and the stack) inside.
package pipeline
