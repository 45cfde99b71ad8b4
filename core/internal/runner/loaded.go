package runner

import (
	"github.com/ferry-cdc/ferry/core/internal/config"
	"github.com/ferry-cdc/ferry/core/internal/plugin"
)

// Loaded is a pipeline file with every plugin found, started and configured: what the CLI
// hands to Run.
type Loaded struct {
	File   *config.File
	Source *plugin.Instance
	// SourceConfig is the source's settings as it was configured with (JSON), with the
	// host-filled ones (config.Pipeline.FillSource).
	SourceConfig []byte
	Filters      []*plugin.Instance
	Serializer   *plugin.Instance
	Sink         *plugin.Instance
	// Host loads more instances (precheck's topic checks) and is closed at a forced stop.
	Host *plugin.Host
}

// Instances lists the plugins in pipeline order.
func (l *Loaded) Instances() []*plugin.Instance {
	out := []*plugin.Instance{l.Source}
	out = append(out, l.Filters...)
	return append(out, l.Serializer, l.Sink)
}
