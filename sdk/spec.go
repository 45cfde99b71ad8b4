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
}

// Bound returns a pointer to v, for Attribute.Min and Attribute.Max.
func Bound(v float64) *float64 { return &v }

var attrName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// ReservedAttributes are attribute names ferry itself uses inside plugin blocks.
var ReservedAttributes = []string{"plugin_path", "out_of_process"}

// Validate checks the spec itself (for plugin authors' tests and for the host).
func (s Spec) Validate() error {
	seen := map[string]bool{}
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
