package config

// ScrubText masks the secret values f knows of in s, as WriteDiagnostics does in the text it
// renders (for diagnostics printed another way, such as JSON). f may be nil.
func (f *File) ScrubText(s string) string { return scrubber(f.secrets().values)(s) }
