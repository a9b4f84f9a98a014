package textio

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/host"

	"github.com/wstream/wstream/host/internal/hosttest"
)

// putFile writes a file the way a dir: source expects: elsewhere (a name
// starting with '.'), then renamed in.
func putFile(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := hosttest.WriteFile(t, dir, ".tmp-"+name, content)
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func TestDirSourceNewFilesOnly(t *testing.T) {
	dir := t.TempDir()
	hosttest.WriteFile(t, dir, "old.txt", "old\n") // present at start: ignored, as in Spark
	s := openSource(t, "dir:"+dir, nil, host.WithPollInterval(time.Millisecond))

	hosttest.WriteFile(t, dir, ".hidden", "no\n")
	hosttest.WriteFile(t, dir, "_COPYING_", "no\n")
	os.Mkdir(filepath.Join(dir, "sub"), 0o777)
	putFile(t, dir, "new1.txt", "a\r\nb\n")
	var got []string
	var pos []byte
	for range 2 {
		u, err := s.Next(hosttest.Ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, hosttest.Strs(t, u.Records)...)
		pos = u.Pos
	}
	if !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("new1.txt: %q", got)
	}
	if want := `{"done":["old.txt"],"file":"new1.txt","offset":5,"line":2}`; string(pos) != want {
		t.Fatalf("pos %s, want %s", pos, want)
	}

	// Nothing new: Next polls until ctx ends, and returns promptly then.
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	errc := make(chan error)
	go func() {
		_, err := s.Next(ctx)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}

	putFile(t, dir, "new2.txt", "c")
	if u, err := s.Next(hosttest.Ctx(t)); err != nil || hosttest.Strs(t, u.Records)[0] != "c" {
		t.Fatalf("new2.txt: %v %v", u, err)
	}
}

// A restart from a position neither rereads nor skips: it finishes the
// current file, ignores the files done, and reads files that arrived while
// the stream was down.
func TestDirSourceResume(t *testing.T) {
	dir := t.TempDir()
	hosttest.WriteFile(t, dir, "old.txt", "old\n")
	s := openSource(t, "dir:"+dir, nil, host.WithPollInterval(time.Millisecond))
	putFile(t, dir, "f1", "1\n")
	u, err := s.Next(hosttest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	putFile(t, dir, "f2", "2a\n2b\n2c\n")
	if u, err = s.Next(hosttest.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	if got := hosttest.Strs(t, u.Records)[0]; got != "2a" {
		t.Fatalf("got %q", got)
	}
	pos := u.Pos
	s.Close()

	putFile(t, dir, "f3", "3\n") // arrives while down
	r := openSource(t, "dir:"+dir, pos, host.WithPollInterval(time.Millisecond))
	var got []string
	for range 3 {
		u, err := r.Next(hosttest.Ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, hosttest.Strs(t, u.Records)...)
	}
	if want := []string{"2b", "2c", "3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after resume: %q, want %q", got, want)
	}
}

func TestDirSourceErrors(t *testing.T) {
	dir := t.TempDir()
	if err := openSourceErr(t, "dir:"+dir+"/missing", nil); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("missing folder: %v", err)
	}
	p := hosttest.WriteFile(t, dir, "f", "")
	if err := openSourceErr(t, "dir:"+p, nil); err == nil || err.Error() != "dir:"+p+": "+p+" is not a folder" {
		t.Errorf("a file: %v", err)
	}
	// An oversized line names the file.
	s := openSource(t, "dir:"+dir, nil, host.WithMaxLine(3), host.WithPollInterval(time.Millisecond))
	putFile(t, dir, "big", "1234\n")
	_, err := s.Next(hosttest.Ctx(t))
	if want := "dir:" + dir + " file big line 1: line too long (the cap is 3 bytes; raise it with ?maxLine=SIZE"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("oversized: %v\nwant %s", err, want)
	}
}
