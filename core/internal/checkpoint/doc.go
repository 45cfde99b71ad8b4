// Package checkpoint keeps a pipeline's progress: where its source may resume without losing
// a change.
//
// A Checkpoint names the position of the last source batch whose every record the sink has
// acknowledged, together with every batch before it. The Tracker computes that position as
// acknowledgements arrive out of order from parallel write lanes (a contiguous-ack
// watermark). A Store persists checkpoints: FileStore writes one JSON file per pipeline
// atomically (temporary file, fsync, rename, fsync of the directory) with a checksum, so a
// crash leaves either the old or the new checkpoint and a damaged file is reported instead of
// being silently ignored; MemoryStore serves tests.
package checkpoint
