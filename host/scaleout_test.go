package host

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The changelog cuts a snapshot into chunks and finds the last complete
// one: a snapshot cut short by a crash gives way to the one before.
func TestChangelogSnapshots(t *testing.T) {
	c := &changelog{topic: "wstream-g-changelog", id: "p1"}
	big := bytes.Repeat([]byte("0123456789"), changelogChunk/4) // 2.5 chunks
	older := c.records(3, []byte("old state"), "s1")
	newer := c.records(3, big, "s1")
	if len(older) != 1 || len(newer) != 3 {
		t.Fatalf("chunks: %d and %d, want 1 and 3", len(older), len(newer))
	}
	for _, r := range newer {
		if r.Partition != 3 || r.Topic != c.topic {
			t.Fatalf("record for %s/%d", r.Topic, r.Partition)
		}
	}
	recs := append(append([]*kgo.Record{}, older...), newer...)
	for i, r := range recs {
		r.Offset = int64(i)
	}
	got, ok, err := assemble(recs, "s1", c.topic, 3)
	if err != nil || !ok || !bytes.Equal(got, big) {
		t.Fatalf("complete: %d bytes, %v, %v", len(got), ok, err)
	}
	// The last snapshot lost its last chunk (at-least-once crash).
	got, ok, err = assemble(recs[:3], "s1", c.topic, 3)
	if err != nil || !ok || string(got) != "old state" {
		t.Fatalf("cut short: %q, %v, %v", got, ok, err)
	}
	// Only a part of one snapshot: none to restore, read further back.
	if _, ok, err = assemble(recs[2:3], "s1", c.topic, 3); ok || err != nil {
		t.Fatalf("a part only: %v, %v", ok, err)
	}
	// Another pipeline's state is refused, naming the fix.
	if _, _, err = assemble(recs, "s2", c.topic, 3); !errors.Is(err, ErrCheckpointMismatch) || !strings.Contains(err.Error(), "needs a new group") {
		t.Fatalf("other shape: %v", err)
	}
	// A record wstream did not write.
	foreign := append(recs, &kgo.Record{Offset: 9, Value: []byte("x")})
	if _, _, err = assemble(foreign, "s1", c.topic, 3); err == nil || !strings.Contains(err.Error(), "offset 9: not a wstream state record") {
		t.Fatalf("foreign record: %v", err)
	}
}
