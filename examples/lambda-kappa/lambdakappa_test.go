package lambdakappa

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestGenerateIsSeeded(t *testing.T) {
	cfg := Config{Seed: 3, Minutes: 10, Archived: 5, Rate: 50, Retries: 0.1}
	a, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different logs")
	}
	// Every retry is delivered after its original, in the same minute.
	first := map[string]View{}
	retries := 0
	for _, v := range a {
		if o, ok := first[v.ID]; ok {
			retries++
			if o != v || Minute(o) != Minute(v) {
				t.Errorf("retry %+v of %+v", v, o)
			}
		}
		first[v.ID] = v
	}
	if retries == 0 {
		t.Error("no retried delivery")
	}
	if _, err := Generate(Config{Minutes: 10, Archived: 10, Rate: 5}); err == nil {
		t.Error("a log with nothing recent was generated")
	}
}

func TestReadViewAndMerge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "v.jsonl")
	os.WriteFile(p, []byte(`{"time":1,"records":[["/",1]]}`+"\n"+`{"time":2,"records":[["/",2],["/a",1]]}`+"\n"), 0o644)
	c, err := ReadView(p)
	if err != nil || !reflect.DeepEqual(c, Counts{"/": 2, "/a": 1}) {
		t.Errorf("ReadView: %v, %v", c, err)
	}
	if m := Merge(c, Counts{"/a": 2, "/b": 1}); Diff(m, Counts{"/": 2, "/a": 3, "/b": 1}) != nil {
		t.Errorf("Merge: %v", m)
	}
	os.WriteFile(p, []byte(`{"time":1,"records":[[1,"/"]]}`+"\n"), 0o644)
	if _, err := ReadView(p); err == nil {
		t.Error("a row [1, \"/\"] was read as [page, count]")
	}
}
