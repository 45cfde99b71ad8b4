package plugin

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferry-cdc/ferry/sdk"
)

// External is a plugin executable found in a plugin directory.
type External struct {
	Kind sdk.Kind
	Name string
	Path string
	// ShadowedBy is the path of the copy in an earlier directory that is used instead
	// (DiscoverAll only).
	ShadowedBy string
}

// ExecutableName is the file name ferry looks for: ferry-<kind>-<name>.
func ExecutableName(kind sdk.Kind, name string) string { return "ferry-" + string(kind) + "-" + name }

// Discover lists the plugin executables in dirs (missing directories are skipped). When two
// directories hold the same plugin, the earlier directory wins.
func Discover(dirs []string) []External {
	var out []External
	for _, e := range DiscoverAll(dirs) {
		if e.ShadowedBy == "" {
			out = append(out, e)
		}
	}
	return out
}

// DiscoverAll lists every plugin executable in dirs, also those an earlier directory's copy
// hides (their ShadowedBy is that copy's path), by kind, name and directory order.
func DiscoverAll(dirs []string) []External {
	seen := map[string]string{}
	var out []External
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			kind, name, ok := parseExecutableName(e.Name())
			if !ok || e.IsDir() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
				continue
			}
			k := key(kind, name)
			if first, ok := seen[k]; ok {
				if first != p {
					out = append(out, External{Kind: kind, Name: name, Path: p, ShadowedBy: first})
				}
				continue
			}
			seen[k] = p
			out = append(out, External{Kind: kind, Name: name, Path: p})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return key(out[i].Kind, out[i].Name) < key(out[j].Kind, out[j].Name) })
	return out
}

func parseExecutableName(file string) (sdk.Kind, string, bool) {
	rest, ok := strings.CutPrefix(file, "ferry-")
	if !ok {
		return "", "", false
	}
	for _, k := range sdk.Kinds {
		if name, ok := strings.CutPrefix(rest, string(k)+"-"); ok && name != "" && !strings.ContainsAny(name, ". ") {
			return k, name, true
		}
	}
	return "", "", false
}

// DefaultDirs returns the plugin directories used when none are configured: $FERRY_PLUGIN_DIR
// (a list separated by the OS path-list separator), then ./plugins beside the ferry
// executable, then ~/.ferry/plugins.
func DefaultDirs() []string {
	var dirs []string
	if v := os.Getenv("FERRY_PLUGIN_DIR"); v != "" {
		dirs = append(dirs, filepath.SplitList(v)...)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Join(filepath.Dir(exe), "plugins"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".ferry", "plugins"))
	}
	return dirs
}
