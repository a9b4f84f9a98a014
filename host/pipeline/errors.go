package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseError turns a YAML decoding error into messages for the person who
// wrote the file: the line where the problem is, known field names with a
// did-you-mean, and what a value should be instead of Go type names.
func parseError(data []byte, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			msgs[i] = typeMessage(e)
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := syntaxLine(data)
	if line == 0 {
		return errors.New(msg) // not a syntax error: it names its line
	}
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		msg = rest
	}
	text := strings.TrimSpace(strings.Split(string(data), "\n")[line-1])
	return fmt.Errorf("line %d: %s: %s", line, msg, text)
}

// syntaxLine finds the line of a syntax error: the first line from which
// every longer prefix of the document fails to parse. (The YAML library
// names the line where the enclosing block began, often the one before.)
func syntaxLine(data []byte) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	bad := 0
	for k := len(lines); k >= 1; k-- {
		var n yaml.Node
		if yaml.Unmarshal(bytes.Join(lines[:k], nil), &n) == nil {
			break
		}
		bad = k
	}
	return bad
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type pipeline\.(\w+)$`)
	cannot       = regexp.MustCompile(`^line (\d+): cannot unmarshal (!!\w+)(?: ` + "`" + `(.*)` + "`" + `)? into (\S+)$`)
)

// what names the YAML kinds and the Go types of the pipeline model as a
// person writes them.
var what = map[string]string{
	"!!seq": "a list", "!!map": "a map", "!!str": "the string", "!!int": "the number", "!!float": "the number", "!!bool": "the boolean", "!!null": "nothing",
	"map[string]string": "a map of names to values (name: value)", "[]pipeline.Stage": "a list of stages ([{op: ...}, ...])",
	"[]pipeline.Stream": "a list of streams ([{name: ..., from: ..., stages: [...]}])", "pipeline.Stage": "a stage, a map such as {op: map, fn: f}",
	"pipeline.Stream": "a stream, a map such as {name: out, from: input, stages: [...]}", "pipeline.Limits": "a map such as {memory: 64MiB, timeout: 5s}",
	"[]string": "a list of strings", "string": "a string", "int": "a whole number", "bool": "true or false", "*bool": "true or false",
}

// fieldsOf are the fields a pipeline type accepts, by its Go name.
var fieldsOf = map[string]reflect.Type{
	"Spec": reflect.TypeOf(Spec{}), "Stage": reflect.TypeOf(Stage{}), "Stream": reflect.TypeOf(Stream{}), "Limits": reflect.TypeOf(Limits{}),
}

var where = map[string]string{"Spec": "", "Stage": " in a stage", "Stream": " in a stream", "Limits": " in limits:"}

func typeMessage(e string) string {
	if m := unknownField.FindStringSubmatch(e); m != nil {
		names := yamlFields(fieldsOf[m[3]])
		return fmt.Sprintf("line %s: unknown field %s%s%s; the fields are %s", m[1], m[2], where[m[3]], Suggest(m[2], names), strings.Join(names, ", "))
	}
	if m := cannot.FindStringSubmatch(e); m != nil {
		got := what[m[2]]
		if got == "" {
			got = m[2]
		}
		if m[3] != "" {
			got += fmt.Sprintf(" %q", m[3])
		}
		want := what[m[4]]
		if want == "" {
			want = m[4]
		}
		return fmt.Sprintf("line %s: got %s, want %s", m[1], got, want)
	}
	return e
}

// yamlFields lists the YAML names of a struct's fields, sorted.
func yamlFields(t reflect.Type) []string {
	var out []string
	for i := 0; t != nil && i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Suggest returns " (did you mean X?)" for the candidate closest to word,
// when one is close enough to be a typo, or "".
func Suggest(word string, candidates []string) string {
	best, bestD := "", len(word)/3+2
	for _, c := range candidates {
		if d := distance(strings.ToLower(word), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || best == word {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// distance is the Levenshtein distance of two strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
