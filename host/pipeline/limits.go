package pipeline

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits bounds what each plugin's guests may use (the pipeline's limits:).
// A zero field keeps the runtime's default: 256MiB of memory per instance,
// 10s per call and 64MiB per response (runtime.Config documents them).
type Limits struct {
	Memory    Size     `yaml:"memory"`
	Timeout   Duration `yaml:"timeout"`
	MaxOutput Size     `yaml:"maxOutput"`
}

// MaxMemory is the most memory a wasm32 guest can address.
const MaxMemory = 4 << 30

// Check validates the limits; what names them in messages.
func (l Limits) Check(what string) error {
	if l.Memory != 0 && (l.Memory < 64<<10 || l.Memory > MaxMemory) {
		return fmt.Errorf("%s memory %s: must be between 64KiB (one WebAssembly page) and 4GiB", what, l.Memory)
	}
	if _, err := l.Memory.Pages(); err != nil {
		return fmt.Errorf("%s %w", what, err)
	}
	if l.MaxOutput < 0 || int64(l.MaxOutput) > math.MaxInt32 {
		return fmt.Errorf("%s maxOutput %s: must be below 2GiB", what, l.MaxOutput)
	}
	return nil
}

// Size is a byte count in a pipeline file or a flag: "64MiB", "512KiB",
// "1GiB" or a plain number of bytes.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// ParseSize reads a Size. Units are binary and spelled KiB, MiB, GiB, so
// that "64MiB" means exactly what the memory limit enforces.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size (write it like 64MiB, 512KiB, 1GiB or a number of bytes)", s)
	}
	return Size(n * mult), nil
}

// UnmarshalYAML accepts what ParseSize accepts.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 64MiB", n.Line)
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*z = v
	return nil
}

// String renders the size in the largest unit that divides it.
func (z Size) String() string {
	for _, u := range sizeUnits {
		if z != 0 && int64(z)%u.mult == 0 {
			return strconv.FormatInt(int64(z)/u.mult, 10) + u.suffix
		}
	}
	return "0B"
}

// Rates are records per second by source name (the pipeline's maxRate:).
// In a pipeline file it is a number for every source, or a map by source
// name.
type Rates map[string]float64

// AllSources is the Rates key of a rate that applies to every source.
const AllSources = "*"

// UnmarshalYAML accepts a number or a map of numbers.
func (r *Rates) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var v float64
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: maxRate: want records per second, or a map from source name to records per second", n.Line)
		}
		*r = Rates{AllSources: v}
		return nil
	}
	var m map[string]float64
	if err := n.Decode(&m); err != nil {
		return fmt.Errorf("line %d: maxRate: want records per second, or a map from source name to records per second", n.Line)
	}
	*r = m
	return nil
}

// For returns the rate for one source, 0 for none.
func (r Rates) For(source string) float64 {
	if v, ok := r[source]; ok {
		return v
	}
	return r[AllSources]
}

// checkLimits checks limits:, allow: and maxRate: (but not maxRate's
// source names, which flags may still change).
func (s *Spec) checkLimits() error {
	if err := s.Limits.Check("limits:"); err != nil {
		return err
	}
	for _, a := range s.Allow {
		if a != "clock" && a != "env" && (!strings.HasPrefix(a, "fs:") || a == "fs:") {
			return fmt.Errorf("allow: unknown capability %q (use clock, env or fs:DIR)", a)
		}
	}
	for name, v := range s.MaxRate {
		if !(v > 0) || math.IsInf(v, 0) {
			if name == AllSources {
				return fmt.Errorf("maxRate: %v: must be a positive number of records per second", v)
			}
			return fmt.Errorf("maxRate: %s: %v: must be a positive number of records per second", name, v)
		}
	}
	return nil
}

// CheckSandbox checks limits:, allow: and maxRate: again once flags have
// changed them, and that every source maxRate: names exists.
func (s *Spec) CheckSandbox() error {
	if err := s.checkLimits(); err != nil {
		return err
	}
	for name := range s.MaxRate {
		if _, ok := s.Sources[name]; !ok && name != AllSources {
			return fmt.Errorf("maxRate: no source is named %q (the sources are %s)", name, strings.Join(s.SourceNames(), ", "))
		}
	}
	return nil
}

// Pages converts a memory size to 64 KiB WebAssembly pages, which is how
// memory is limited.
func (z Size) Pages() (uint32, error) {
	if z%(64<<10) != 0 {
		return 0, fmt.Errorf("memory %s: must be a whole number of 64KiB pages", z)
	}
	return uint32(z / (64 << 10)), nil
}
