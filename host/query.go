package host

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query is a URI's ?name=value parameters, checked against the ones its
// connector documents, so that a typo is an error instead of a silently
// different pipeline.
type Query struct {
	uri  string
	vals map[string]string
}

// ParseQuery splits uri at its '?' and checks each parameter against
// known. An unknown or repeated name is an error naming the URI and the
// known names.
func ParseQuery(uri string, known []Param) (base string, q Query, err error) {
	base, raw, _ := strings.Cut(uri, "?")
	q = Query{uri: uri, vals: map[string]string{}}
	vs, err := url.ParseQuery(raw)
	if err != nil {
		return base, q, fmt.Errorf("%s: %v", uri, err)
	}
	names := make([]string, len(known))
	for i, p := range known {
		names[i] = p.Name
	}
	for name, v := range vs {
		if !slices.Contains(names, name) {
			slices.Sort(names)
			return base, q, fmt.Errorf("%s: unknown parameter %q (known: %s)", uri, name, strings.Join(names, ", "))
		}
		if len(v) != 1 {
			return base, q, fmt.Errorf("%s: parameter %s is given %d times", uri, name, len(v))
		}
		q.vals[name] = v[0]
	}
	return base, q, nil
}

// Names are the parameters given, sorted.
func (q Query) Names() []string {
	var out []string
	for n := range q.vals {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Get is a parameter's value, "" when not given.
func (q Query) Get(name string) string { return q.vals[name] }

// Has reports whether a parameter is given.
func (q Query) Has(name string) bool { _, ok := q.vals[name]; return ok }

// Bad is the error for a parameter whose value is not what it takes.
func (q Query) Bad(name, want string) error {
	return fmt.Errorf("%s: %s=%q: want %s", q.uri, name, q.vals[name], want)
}

// OneOf returns the value of name, which must be one of choices.
func (q Query) OneOf(name string, choices ...string) (string, error) {
	v := q.vals[name]
	if !slices.Contains(choices, v) {
		return "", q.Bad(name, strings.Join(choices[:len(choices)-1], ", ")+" or "+choices[len(choices)-1])
	}
	return v, nil
}

// Duration returns the value of name as a duration of 0 or more.
func (q Query) Duration(name string) (time.Duration, error) {
	d, err := time.ParseDuration(q.vals[name])
	if err != nil || d < 0 {
		return 0, q.Bad(name, "a duration such as 10s")
	}
	return d, nil
}

// Positive returns the value of name as an integer of 1 or more.
func (q Query) Positive(name, unit string) (int, error) {
	n, err := strconv.Atoi(q.vals[name])
	if err != nil || n < 1 {
		return 0, q.Bad(name, "a positive number of "+unit)
	}
	return n, nil
}

// Bool returns the value of name as true or false.
func (q Query) Bool(name string) (bool, error) {
	b, err := strconv.ParseBool(q.vals[name])
	if err != nil {
		return false, q.Bad(name, "true or false")
	}
	return b, nil
}
