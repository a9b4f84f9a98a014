package host_test

import (
	"testing"
	"time"

	. "github.com/wstream/wstream/host"
)

func TestParseQuery(t *testing.T) {
	known := []Param{{Name: "group"}, {Name: "wait"}, {Name: "n"}, {Name: "on"}, {Name: "mode"}}
	base, q, err := ParseQuery("x://h/t?group=g&wait=2s&n=3&on=true&mode=b", known)
	if err != nil || base != "x://h/t" || q.Get("group") != "g" || !q.Has("mode") || q.Has("other") {
		t.Fatalf("%q %v %v", base, q.Names(), err)
	}
	if d, err := q.Duration("wait"); d != 2*time.Second || err != nil {
		t.Errorf("wait: %v %v", d, err)
	}
	if n, err := q.Positive("n", "things"); n != 3 || err != nil {
		t.Errorf("n: %v %v", n, err)
	}
	if b, err := q.Bool("on"); !b || err != nil {
		t.Errorf("on: %v %v", b, err)
	}
	if _, err := q.OneOf("mode", "a", "c"); err == nil || err.Error() != `x://h/t?group=g&wait=2s&n=3&on=true&mode=b: mode="b": want a or c` {
		t.Errorf("mode: %v", err)
	}
	for uri, want := range map[string]string{
		"x://h?grup=g":   `x://h?grup=g: unknown parameter "grup" (known: group, mode, n, on, wait)`,
		"x://h?n=1&n=2":  `x://h?n=1&n=2: parameter n is given 2 times`,
		"x://h?wait=%zz": `x://h?wait=%zz: invalid URL escape "%zz"`,
	} {
		if _, _, err := ParseQuery(uri, known); err == nil || err.Error() != want {
			t.Errorf("%s: %v\nwant %s", uri, err, want)
		}
	}
}
