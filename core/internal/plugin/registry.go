package plugin

import (
	"fmt"
	"sort"

	"github.com/ferry-cdc/ferry/sdk"
)

// Factory makes a fresh, unconfigured plugin instance.
type Factory func() sdk.Plugin

// Builtin is a plugin compiled into ferry.
type Builtin struct {
	Kind sdk.Kind
	Name string
	New  Factory
}

// Registry holds built-in plugins. It is a value so tests can build their own.
type Registry struct {
	byKey map[string]Builtin
}

func key(kind sdk.Kind, name string) string { return string(kind) + "/" + name }

// NewRegistry checks and indexes built-ins: each factory must make a plugin whose Info
// matches its entry and whose Spec is valid.
func NewRegistry(builtins ...Builtin) (*Registry, error) {
	r := &Registry{byKey: map[string]Builtin{}}
	for _, b := range builtins {
		k := key(b.Kind, b.Name)
		if _, dup := r.byKey[k]; dup {
			return nil, fmt.Errorf("built-in %s registered twice", k)
		}
		p := b.New()
		info := p.Info()
		if info.Kind != b.Kind || info.Name != b.Name {
			return nil, fmt.Errorf("built-in %s: plugin reports itself as %s/%s", k, info.Kind, info.Name)
		}
		if err := checkKind(b.Kind, p); err != nil {
			return nil, fmt.Errorf("built-in %s: %w", k, err)
		}
		if err := p.Spec().Validate(); err != nil {
			return nil, fmt.Errorf("built-in %s: invalid spec: %w", k, err)
		}
		r.byKey[k] = b
	}
	return r, nil
}

// Lookup returns the built-in of that kind and name.
func (r *Registry) Lookup(kind sdk.Kind, name string) (Builtin, bool) {
	b, ok := r.byKey[key(kind, name)]
	return b, ok
}

// All returns the built-ins sorted by kind (pipeline order) and name.
func (r *Registry) All() []Builtin {
	out := make([]Builtin, 0, len(r.byKey))
	for _, b := range r.byKey {
		out = append(out, b)
	}
	order := map[sdk.Kind]int{}
	for i, k := range sdk.Kinds {
		order[k] = i
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func checkKind(kind sdk.Kind, p any) error {
	ok := false
	switch kind {
	case sdk.KindSource:
		_, ok = p.(sdk.Source)
	case sdk.KindFilter:
		_, ok = p.(sdk.Filter)
	case sdk.KindSerializer:
		_, ok = p.(sdk.Serializer)
	case sdk.KindSink:
		_, ok = p.(sdk.Sink)
	default:
		return fmt.Errorf("unknown plugin kind %q", kind)
	}
	if !ok {
		return fmt.Errorf("does not implement the sdk.%s interface", kindType(kind))
	}
	return nil
}

func kindType(k sdk.Kind) string {
	switch k {
	case sdk.KindSource:
		return "Source"
	case sdk.KindFilter:
		return "Filter"
	case sdk.KindSerializer:
		return "Serializer"
	default:
		return "Sink"
	}
}
