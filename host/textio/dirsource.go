package textio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wstream/wstream/host"
)

// dirSource is Spark's textFileStream: it polls a folder and reads each new
// file's lines once. Files present when the stream first starts are
// ignored, as in Spark. It reads whole files only: a file must appear
// complete, so a writer writes it elsewhere (or under a name starting with
// '.' or '_', which are ignored) and renames it in. A file that grows after
// it was read is not read again. New files are read oldest first (by
// modification time, then name).
//
// The position is the set of files already read or ignored plus the offset
// in the current one, so a restart neither rereads nor skips; files that
// arrived while the stream was down are read on restart. The set grows with
// the number of files seen.
type dirSource struct {
	uri, dir string
	opt      textOptions
	poll     time.Duration
	log      *slog.Logger

	opened bool
	done   map[string]bool // read, or present at first start
	queue  []string        // new files found by the last scan, in order
	cur    string          // the file being read, when f != nil
	f      *os.File
	tr     *textReader
	// posHead is the position JSON up to the current file's offset, built
	// once per file so each line's position costs two integers.
	posHead []byte
}

// dirPos is a dir: position.
type dirPos struct {
	Done   []string `json:"done"`
	File   string   `json:"file,omitempty"`
	Offset int64    `json:"offset,omitempty"`
	Line   int64    `json:"line,omitempty"`
}

func (s *dirSource) URI() string { return s.uri }

// Check reports a folder that is not there.
func (s *dirSource) Check() error {
	st, err := os.Stat(s.dir)
	if err == nil && !st.IsDir() {
		return fmt.Errorf("%s: %s is not a folder", s.uri, s.dir)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.uri, err)
	}
	return nil
}

func (s *dirSource) Open(ctx context.Context, pos []byte) error {
	if s.opened {
		return fmt.Errorf("%s: already open", s.uri)
	}
	st, err := os.Stat(s.dir)
	if err != nil {
		return fmt.Errorf("%s: %w", s.uri, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %s is not a folder", s.uri, s.dir)
	}
	s.done = map[string]bool{}
	if pos == nil {
		names, err := s.scan()
		if err != nil {
			return err
		}
		for _, n := range names {
			s.done[n] = true
		}
		s.opened = true
		return nil
	}
	var p dirPos
	if err := json.Unmarshal(pos, &p); err != nil || p.Offset < 0 || p.Line < 0 {
		return fmt.Errorf("%s: bad position %q", s.uri, pos)
	}
	for _, n := range p.Done {
		s.done[n] = true
	}
	s.opened = true
	if p.File != "" {
		if err := s.openFile(p.File, p.Offset, p.Line); err != nil {
			return err
		}
	}
	return nil
}

// eligible reports whether a folder entry can be a new input file.
func (s *dirSource) eligible(e fs.DirEntry) bool {
	name := e.Name()
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return false
	}
	if e.Type().IsRegular() {
		return true
	}
	if e.Type()&fs.ModeSymlink != 0 {
		st, err := os.Stat(filepath.Join(s.dir, name))
		return err == nil && st.Mode().IsRegular()
	}
	return false
}

// scan lists the eligible files not yet done, oldest first.
func (s *dirSource) scan() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("%s: list: %w", s.uri, err)
	}
	type file struct {
		name string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		if s.done[e.Name()] || (s.f != nil && e.Name() == s.cur) || !s.eligible(e) {
			continue
		}
		var mod time.Time
		if st, err := os.Stat(filepath.Join(s.dir, e.Name())); err == nil {
			mod = st.ModTime()
		}
		files = append(files, file{e.Name(), mod})
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	return names, nil
}

// openFile makes name the current file, resuming at off. A file that
// vanished since the scan is skipped.
func (s *dirSource) openFile(name string, off, line int64) error {
	f, err := os.Open(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		if off > 0 {
			s.log.Warn(fmt.Sprintf("%s: %s vanished before it was fully read; skipping the rest", s.uri, name))
		}
		s.done[name] = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.uri, err)
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("%s: resume %s at byte %d: %w", s.uri, name, off, err)
		}
	}
	s.f, s.cur = f, name
	s.tr = newTextReader(f, s.uri+" file "+name, s.opt)
	s.tr.lr.off, s.tr.lr.line = off, line
	if off > 0 {
		if err := readHeader(s.tr, filepath.Join(s.dir, name), s.uri+" file "+name); err != nil {
			f.Close()
			s.f, s.tr = nil, nil
			return err
		}
	}

	done := make([]string, 0, len(s.done))
	for n := range s.done {
		done = append(done, n)
	}
	sort.Strings(done)
	head, _ := json.Marshal(dirPos{Done: done, File: name})
	// Replace the closing brace with the offset field's opening.
	s.posHead = append(head[:len(head)-1], `,"offset":`...)
	return nil
}

func (s *dirSource) pos() []byte {
	p := make([]byte, 0, len(s.posHead)+32)
	p = append(p, s.posHead...)
	p = strconv.AppendInt(p, s.tr.lr.off, 10)
	p = append(p, `,"line":`...)
	p = strconv.AppendInt(p, s.tr.lr.line, 10)
	return append(p, '}')
}

func (s *dirSource) Next(ctx context.Context) (host.Unit, error) {
	if !s.opened {
		return host.Unit{}, fmt.Errorf("%s: Next before Open", s.uri)
	}
	for {
		if err := ctx.Err(); err != nil {
			return host.Unit{}, err
		}
		if s.f != nil {
			u, err := s.tr.next(s.tr.lr.next)
			if err == nil {
				u.Pos = s.pos()
				return u, nil
			}
			if err != io.EOF {
				return host.Unit{}, readErr(s.uri+" file "+s.cur, err)
			}
			s.f.Close()
			s.done[s.cur] = true
			s.f, s.tr, s.cur = nil, nil, ""
			continue
		}
		if len(s.queue) == 0 {
			names, err := s.scan()
			if err != nil {
				return host.Unit{}, err
			}
			s.queue = names
		}
		if len(s.queue) == 0 {
			t := time.NewTimer(s.poll)
			select {
			case <-ctx.Done():
				t.Stop()
				return host.Unit{}, ctx.Err()
			case <-t.C:
			}
			continue
		}
		name := s.queue[0]
		s.queue = s.queue[1:]
		if err := s.openFile(name, 0, 0); err != nil {
			return host.Unit{}, err
		}
	}
}

func (s *dirSource) Close() error {
	s.opened = false
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f, s.tr = nil, nil
	return err
}
