// Package logging builds ferry's zap loggers, names the structured fields every package uses,
// and adapts go-plugin's hclog output into zap so plugin logs appear in ferry's logs under the
// plugin's name.
package logging
