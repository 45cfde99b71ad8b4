package sdk

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// Type is the type of a configuration attribute.
type Type string

// Attribute types. The host converts HCL values to them and reports mismatches at the
// attribute's line.
const (
	// TypeString is a string.
	TypeString Type = "string"
	// TypeInt is a whole number (int64).
	TypeInt Type = "int"
	// TypeFloat is a number (float64).
	TypeFloat Type = "float"
	// TypeBool is a boolean.
	TypeBool Type = "bool"
	// TypeDuration is a Go duration string ("500ms", "1m30s"); decode into Duration.
	TypeDuration Type = "duration"
	// TypeSize is a byte size: a whole number or a string with a unit ("64KiB", "20MB",
	// "1GiB"); decoded as an int64 number of bytes.
	TypeSize Type = "size"
	// TypeStringList is a list of strings.
	TypeStringList Type = "list(string)"
	// TypeStringMap is a map of strings.
	TypeStringMap Type = "map(string)"
)

// Spec declares a plugin's configuration.
type Spec struct {
	// Attributes are the plugin's settings, in documentation order.
	Attributes []Attribute
}

// Attribute declares one setting.
type Attribute struct {
	// Name is the HCL attribute name (snake_case).
	Name string
	// Type is the attribute's type.
	Type Type
	// Doc is a sentence or two for the reference docs and error hints.
	Doc string
	// Required attributes must be set.
	Required bool
	// Default is used when the attribute is not set: a string, int64, float64, bool,
	// []string or map[string]string matching Type (a string for durations, a string or
	// int64 for sizes). Nil means the attribute is absent from the Config.
	Default any
	// Enum, when set, lists the only accepted values of a string attribute.
	Enum []string
	// Secret values are never printed by ferry (logs, errors, `ferry validate`).
	Secret bool
	// Min and Max bound numbers, sizes and durations (in seconds for durations) when set.
	Min, Max *float64
	// Host, on a source's attribute, lets the pipeline fill the attribute from the part of the
	// pipeline file that owns the value (HostSetting lists them), so the user writes it once.
	// A value the user sets in the source block itself wins, or is an error where the
	// HostSetting says so. Empty: the attribute is the plugin's alone.
	Host HostSetting
}

// HostSetting names a value the host fills into a source's configuration (ADR 0012). A source
// opts in by declaring an attribute with Host set to one of these; the attribute's Type must be
// the one listed, and each HostSetting may be declared once. The host decodes the user's
// settings first, then writes the filled values into the same JSON object that Configure
// receives, under the attribute's own Name.
type HostSetting string

// The host-filled settings.
const (
	// HostTables (TypeStringList) is the include list of the pipeline's objects block:
	// "db.table" for each table entry and "db.pattern" for each rule, in file order. Filled
	// only when the pipeline has an objects block and the source block does not set the
	// attribute. With no entry left (each was refused), it is an empty list.
	HostTables HostSetting = "tables"
	// HostExcludeTables (TypeStringList) is the objects block's exclude patterns, filled with
	// HostTables when the source block does not set the attribute.
	HostExcludeTables HostSetting = "exclude_tables"
	// HostSnapshotConcurrency (TypeInt) is resources.full_read_concurrency: how many tables
	// the snapshot reads at once. Filled when the resources block sets it; setting both is an
	// error at the source block's attribute.
	HostSnapshotConcurrency HostSetting = "snapshot_concurrency"
	// HostReaderMemory (TypeSize) is resources.log_reader_memory: the bytes the log reader
	// may buffer. Filled when the resources block sets it; setting both is an error.
	HostReaderMemory HostSetting = "reader_memory"
)

// HostSettings lists every HostSetting with the Type its attribute must have.
var HostSettings = []struct {
	Setting HostSetting
	Type    Type
}{
	{HostTables, TypeStringList},
	{HostExcludeTables, TypeStringList},
	{HostSnapshotConcurrency, TypeInt},
	{HostReaderMemory, TypeSize},
}

// hostType returns the Type a HostSetting's attribute must have, and whether h is known.
func hostType(h HostSetting) (Type, bool) {
	for _, s := range HostSettings {
		if s.Setting == h {
			return s.Type, true
		}
	}
	return "", false
}

// Bound returns a pointer to v, for Attribute.Min and Attribute.Max.
func Bound(v float64) *float64 { return &v }

var attrName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// ReservedAttributes are attribute names ferry itself uses inside plugin blocks.
var ReservedAttributes = []string{"plugin_path", "out_of_process"}

// Validate checks the spec itself (for plugin authors' tests and for the host).
func (s Spec) Validate() error {
	seen := map[string]bool{}
	hosts := map[HostSetting]string{}
	for _, a := range s.Attributes {
		if !attrName.MatchString(a.Name) {
			return fmt.Errorf("attribute %q: names are lower-case snake_case", a.Name)
		}
		for _, r := range ReservedAttributes {
			if a.Name == r {
				return fmt.Errorf("attribute %q is reserved by ferry", a.Name)
			}
		}
		if seen[a.Name] {
			return fmt.Errorf("attribute %q declared twice", a.Name)
		}
		seen[a.Name] = true
		switch a.Type {
		case TypeString, TypeInt, TypeFloat, TypeBool, TypeDuration, TypeSize, TypeStringList, TypeStringMap:
		default:
			return fmt.Errorf("attribute %q: unknown type %q", a.Name, a.Type)
		}
		if len(a.Enum) > 0 && a.Type != TypeString {
			return fmt.Errorf("attribute %q: enum needs type string", a.Name)
		}
		if a.Required && a.Default != nil {
			return fmt.Errorf("attribute %q: required attributes have no default", a.Name)
		}
		if a.Default != nil {
			if err := checkDefault(a); err != nil {
				return err
			}
		}
		if a.Host != "" {
			t, ok := hostType(a.Host)
			switch {
			case !ok:
				return fmt.Errorf("attribute %q: unknown host setting %q", a.Name, a.Host)
			case a.Type != t:
				return fmt.Errorf("attribute %q: host setting %q needs type %s, not %s", a.Name, a.Host, t, a.Type)
			case hosts[a.Host] != "":
				return fmt.Errorf("attributes %q and %q both declare host setting %q", hosts[a.Host], a.Name, a.Host)
			case a.Required:
				return fmt.Errorf("attribute %q: a host-filled attribute cannot be required (the host fills it only when the pipeline file says so)", a.Name)
			}
			hosts[a.Host] = a.Name
		}
	}
	return nil
}

func checkDefault(a Attribute) error {
	ok := false
	switch a.Type {
	case TypeString, TypeDuration:
		_, ok = a.Default.(string)
	case TypeInt:
		_, ok = a.Default.(int64)
	case TypeFloat:
		_, ok = a.Default.(float64)
	case TypeBool:
		_, ok = a.Default.(bool)
	case TypeSize:
		switch a.Default.(type) {
		case int64, string:
			ok = true
		}
	case TypeStringList:
		_, ok = a.Default.([]string)
	case TypeStringMap:
		_, ok = a.Default.(map[string]string)
	}
	if !ok {
		return fmt.Errorf("attribute %q: default %T does not match type %s", a.Name, a.Default, a.Type)
	}
	return nil
}

// Attribute returns the named attribute and whether it exists.
func (s Spec) Attribute(name string) (Attribute, bool) {
	for _, a := range s.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// HostAttribute returns the attribute that declares host setting h, and whether one does.
func (s Spec) HostAttribute(h HostSetting) (Attribute, bool) {
	for _, a := range s.Attributes {
		if h != "" && a.Host == h {
			return a, true
		}
	}
	return Attribute{}, false
}

// DecodeDefaults decodes the Default of every attribute that has one into v (a pointer to
// the plugin's configuration struct, as Config.Decode), so a plugin writes each default once,
// in its Spec, and starts its configuration from them. An attribute with a default that v has
// no field for, or a default that does not decode, is an error.
func (s Spec) DecodeDefaults(v any) error {
	m := map[string]any{}
	for _, a := range s.Attributes {
		if a.Default != nil {
			m[a.Name] = a.Default
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode defaults: %w", err)
	}
	if err := NewConfig(raw).Decode(v); err != nil {
		return fmt.Errorf("defaults: %w", err)
	}
	return nil
}
