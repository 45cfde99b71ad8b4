package logging

// Structured field names. Use these constants, not string literals, so logs stay greppable.
const (
	FieldPipeline = "pipeline"
	FieldPlugin   = "plugin"
	FieldKind     = "kind"
	FieldTable    = "table"
	FieldPosition = "position"
	FieldQueue    = "queue"
	FieldLane     = "lane"
	FieldAttempt  = "attempt"
	FieldFile     = "file"
	FieldPath     = "path"
	// FieldComponent names a library inside ferry or a plugin whose line it is.
	FieldComponent = "component"
)
