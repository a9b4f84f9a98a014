package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/host/postgres/pgtest"
	_ "github.com/wstream/wstream/host/textio"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// rec encodes a JSON value as a record.
func rec(t testing.TB, j string) abi.Raw {
	t.Helper()
	r, err := abi.FromJSON(nil, []byte(j))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func recs(t testing.TB, js ...string) []abi.Raw {
	var out []abi.Raw
	for _, j := range js {
		out = append(out, rec(t, j))
	}
	return out
}

// write opens a sink on uri, writes batches (one Write and Deliver each,
// as a run without checkpoints does) and closes it.
func write(t testing.TB, uri string, batches ...[]abi.Raw) error {
	t.Helper()
	s, err := host.OpenSink(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ss := s.(host.StagingSink)
	if err := s.Open(context.Background(), -1); err != nil {
		return err
	}
	for i, b := range batches {
		if err := s.Write(host.Batch{Time: int64(i+1) * 1000, Records: b}); err != nil {
			return err
		}
		if err := ss.Deliver(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

func sinkURI(db, params string) string { return db + "?" + params }

// Map records go by field name, a field a record leaves out gets its
// column's default, pairs are key and value, and each type converts to
// its column's: ints into integer and numeric columns, milliseconds and
// RFC 3339 text into timestamps, anything into jsonb.
func TestAppendMapsPairsValues(t *testing.T) {
	db := pgtest.DB(t)
	pgtest.Exec(t, db, `CREATE TABLE events (id bigserial PRIMARY KEY, sensor text, temp double precision, n integer, ok boolean,
		at timestamptz, day date, amount numeric, tags jsonb, raw bytea, uid uuid, note text DEFAULT 'none')`)
	err := write(t, sinkURI(db, "table=events"), recs(t,
		`{"sensor": "s1", "temp": 20.5, "n": 3, "ok": true, "at": 1700000000000, "day": "2024-05-01", "amount": 12, "tags": ["a", {"b": 1}], "raw": "xy", "uid": "8f2c2a1e-6d2b-4c1e-9a53-2b7b8d5f0c11"}`,
		`{"sensor": "s2", "temp": 19, "at": "2024-05-01T12:00:00Z", "note": null}`,
		`{"sensor": "s3", "n": 4.0, "note": "given"}`,
	))
	if err != nil {
		t.Fatal(err)
	}
	got := pgtest.Rows(t, db, `SELECT sensor, temp, n, ok, at, day, amount::text, tags::text, encode(raw, 'escape'), uid::text, note FROM events ORDER BY sensor`)
	want := []string{
		"s1 | 20.5 | 3 | true | 2023-11-14T22:13:20Z | 2024-05-01T00:00:00Z | 12 | [\"a\", {\"b\": 1}] | xy | 8f2c2a1e-6d2b-4c1e-9a53-2b7b8d5f0c11 | none",
		"s2 | 19 | NULL | NULL | 2024-05-01T12:00:00Z | NULL | NULL | NULL | NULL | NULL | NULL",
		"s3 | NULL | 4 | NULL | NULL | NULL | NULL | NULL | NULL | NULL | given",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	pgtest.Exec(t, db, `CREATE TABLE pairs (key text, value bigint)`)
	pgtest.Exec(t, db, `CREATE TABLE lines (value text)`)
	if err := write(t, sinkURI(db, "table=pairs"), recs(t, `["a", 1]`, `["b", 2]`)); err != nil {
		t.Fatal(err)
	}
	if err := write(t, sinkURI(db, "table=lines"), recs(t, `"to be"`, `"or not"`)); err != nil {
		t.Fatal(err)
	}
	if got := pgtest.Rows(t, db, "SELECT key, value FROM pairs ORDER BY key"); fmt.Sprint(got) != "[a | 1 b | 2]" {
		t.Errorf("pairs %q", got)
	}
	if got := pgtest.Rows(t, db, "SELECT value FROM lines ORDER BY value"); fmt.Sprint(got) != "[or not to be]" {
		t.Errorf("lines %q", got)
	}
}

// create=true makes the table from the first batch; upsert keeps one row
// per key with its last value, which is what a running count needs.
func TestCreateAndUpsert(t *testing.T) {
	db := pgtest.DB(t)
	uri := sinkURI(db, "table=counts&mode=upsert&create=true")
	err := write(t, uri,
		recs(t, `["to", 1]`, `["be", 1]`, `["to", 2]`),
		recs(t, `["be", 2]`, `["or", 1]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	if got := pgtest.Rows(t, db, "SELECT key, value FROM counts ORDER BY key"); fmt.Sprint(got) != "[be | 2 or | 1 to | 2]" {
		t.Errorf("counts %q", got)
	}
	cols := pgtest.Rows(t, db, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'counts' ORDER BY ordinal_position")
	if fmt.Sprint(cols) != "[key | text value | bigint]" {
		t.Errorf("created columns %q", cols)
	}
	// Maps create a column per field; other values one jsonb column.
	if err := write(t, sinkURI(db, "table=readings&create=true"), recs(t, `{"sensor": "s1", "temp": 20.5, "meta": null}`, `{"sensor": "s2", "ok": true}`)); err != nil {
		t.Fatal(err)
	}
	if err := write(t, sinkURI(db, "table=other&create=true"), recs(t, `"x"`, `3`)); err != nil {
		t.Fatal(err)
	}
	cols = pgtest.Rows(t, db, "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name IN ('readings', 'other') ORDER BY table_name, ordinal_position")
	want := "[other | value | jsonb readings | sensor | text readings | temp | double precision readings | meta | jsonb readings | ok | boolean]"
	if fmt.Sprint(cols) != want {
		t.Errorf("created columns %q\nwant %s", cols, want)
	}
	// Upsert on several key columns of an existing table.
	pgtest.Exec(t, db, `CREATE TABLE per_window (start bigint, word text, n bigint, PRIMARY KEY (word, start))`)
	uri = sinkURI(db, "table=per_window&mode=upsert&key=start,word")
	if err := write(t, uri, recs(t, `{"start": 0, "word": "a", "n": 1}`, `{"start": 10, "word": "a", "n": 5}`), recs(t, `{"start": 0, "word": "a", "n": 2}`)); err != nil {
		t.Fatal(err)
	}
	if got := pgtest.Rows(t, db, "SELECT start, word, n FROM per_window ORDER BY start"); fmt.Sprint(got) != "[0 | a | 2 10 | a | 5]" {
		t.Errorf("per_window %q", got)
	}
}

// A record that does not fit the table fails its batch with an error
// naming the column, and no row of that batch is written.
func TestErrorsNameTheColumn(t *testing.T) {
	db := pgtest.DB(t)
	pgtest.Exec(t, db, `CREATE TABLE t (word text, n integer NOT NULL, at timestamptz, p point)`)
	for _, c := range []struct{ rec, want string }{
		{`{"word": "a", "n": 1, "colour": "red"}`, `the table has no column "colour" for the record's field of that name (its columns: word, n, at, p)`},
		{`{"word": "a", "n": "one"}`, `column "n" is integer but the value is "one" (string)`},
		{`{"word": "a", "n": 2.5}`, `column "n" is integer but the value is 2.5 (float)`},
		{`{"word": "a", "n": 3000000000}`, `column "n" is integer but the value is 3000000000 (int): out of its range`},
		{`{"word": 7, "n": 1}`, `column "word" is text but the value is 7 (int)`},
		{`{"word": "a", "n": 1, "at": "yesterday"}`, `column "at" is timestamp with time zone but the value is "yesterday" (string)`},
		{`{"word": "a", "n": 1, "p": "(1,2)"}`, `column "p" is point, which the postgres sink does not write`},
		{`["a", 1]`, `the table has no column "key"`},
		{`{"word": "a"}`, `null value in column "n" of relation "t" violates not-null constraint`},
		{`{}`, `the record has no fields, so no column to write`},
	} {
		err := write(t, sinkURI(db, "table=t"), recs(t, `{"word": "fine", "n": 1}`, c.rec))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant %q", c.rec, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), db+"?table=t") {
			t.Errorf("%s: the error does not name the sink: %v", c.rec, err)
		}
	}
	if got := pgtest.Rows(t, db, "SELECT count(*) FROM t"); fmt.Sprint(got) != "[0]" {
		t.Errorf("rows written by failed batches: %v", got)
	}
	for _, c := range []struct{ params, want string }{
		{"table=missing", `table "missing" does not exist in database`},
		{"table=t&mode=upsert&key=word", `an upsert needs a unique index or primary key on exactly (word) of "t", and there is none; add one: CREATE UNIQUE INDEX ON "t" ("word")`},
		{"table=t&mode=upsert&key=colour", `key column "colour" is not a column of "t"`},
		{"table=fresh&mode=upsert&create=true&key=word", `its records have no field "word" for the key`},
	} {
		err := write(t, sinkURI(db, c.params), recs(t, `["a", 1]`))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant %q", c.params, err, c.want)
		}
	}
	if got := pgtest.Rows(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'fresh'"); fmt.Sprint(got) != "[0]" {
		t.Errorf("a refused create=true made the table")
	}
}

// URIs are checked without connecting, and the password never shows.
func TestParseURI(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"postgres://u@h:5432/db", "name the table with ?table=NAME"},
		{"postgres://u@h:5432/?table=t", "want postgres://USER@HOST:PORT/DB?table=T"},
		{"postgres:///db?table=t", "want postgres://USER@HOST:PORT/DB?table=T"},
		{"postgres://u@h/db?table=t&mode=merge", `mode="merge": want append or upsert`},
		{"postgres://u@h/db?table=t&key=a", "key= applies to mode=upsert"},
		{"postgres://u@h/db?table=t&tabel=u", `unknown parameter "tabel"`},
		{"postgres://u@h/db?table=a.b.c", `table="a.b.c": want NAME or SCHEMA.NAME`},
		{"postgres://u@h/db?table=t&create=yes", `create="yes": want true or false`},
		{"postgres://u:secret@h/db?table=t&mode=merge", "postgres://u:xxxxx@h/db?table=t&mode=merge"},
	} {
		_, err := host.OpenSink(c.uri)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.uri, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", c.uri, err)
		}
	}
	s, err := host.OpenSink("postgresql://u:secret@h:5432/db?table=s.t&sslmode=disable")
	if err != nil || s.URI() != "postgresql://u:xxxxx@h:5432/db?table=s.t&sslmode=disable" {
		t.Errorf("URI %v, %v", s, err)
	}
	c, _ := parseURI("postgres://u@h:5432/db?table=s.t&sslmode=disable&mode=upsert")
	if c.conn != "postgres://u@h:5432/db?sslmode=disable" || c.schema != "s" || c.table != "t" || fmt.Sprint(c.keys) != "[key]" {
		t.Errorf("config %+v", c)
	}
}

// Delivering what a checkpoint held twice writes it once: the progress row
// says the batch is in.
func TestStagedDeliveredOnce(t *testing.T) {
	db := pgtest.DB(t)
	uri := sinkURI(db, "table=words&create=true")
	var held []byte
	for run := 0; run < 3; run++ {
		s, err := host.OpenSink(uri)
		if err != nil {
			t.Fatal(err)
		}
		ss := s.(host.StagingSink)
		ss.Resume("pipeline-1", "sink", held)
		resume := int64(1000)
		if run == 0 {
			resume = -1
		}
		if err := s.Open(context.Background(), resume); err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			// The batch is written and staged, the checkpoint takes it,
			// and the process dies before or after delivering it.
			s.Write(host.Batch{Time: 1000, Records: recs(t, `{"w": "a"}`, `{"w": "b"}`)})
			held = append([]byte(nil), ss.Staged()...)
		}
		s.Close()
	}
	if got := pgtest.Rows(t, db, "SELECT w FROM words ORDER BY w"); fmt.Sprint(got) != "[a b]" {
		t.Errorf("rows %q, want each once", got)
	}
	if got := pgtest.Rows(t, db, "SELECT pipeline, sink, batch_time FROM wstream_progress"); fmt.Sprint(got) != "[pipeline-1 | sink | 1000]" {
		t.Errorf("progress %q", got)
	}
}

// Through host.Run with a checkpoint: the rows reach the table only after
// the checkpoint that holds them, and a run that resumes writes each once.
func TestRunExactlyOnce(t *testing.T) {
	db := pgtest.DB(t)
	dir := t.TempDir()
	in := hosttest.WriteFile(t, dir, "in.jsonl", "[[\"a\", 1]]\n[[\"b\", 2]]\n[[\"c\", 3]]\n")
	run := func() error {
		store, _ := host.OpenCheckpoints(dir+"/ckpt", nil)
		src, _ := host.OpenSource("batches:" + in)
		sink, err := host.OpenSink(sinkURI(db, "table=kv&create=true"))
		if err != nil {
			t.Fatal(err)
		}
		return host.Run(hosttest.Ctx(t), host.RunConfig{
			Sources: map[string]host.Source{"in": src}, Sink: sink, Processor: &counted{},
			Interval: time.Second, Clock: pipeline.ClockManual, Checkpoint: store,
		})
	}
	if err := run(); err != nil {
		t.Fatal(err)
	}
	if err := run(); err != nil { // nothing new: nothing written again
		t.Fatal(err)
	}
	if got := pgtest.Rows(t, db, "SELECT key, value FROM kv ORDER BY key"); fmt.Sprint(got) != "[a | 1 b | 2 c | 3]" {
		t.Errorf("rows %q", got)
	}
	if got := pgtest.Rows(t, db, "SELECT sink, batch_time FROM wstream_progress"); fmt.Sprint(got) != "[sink | 3000]" {
		t.Errorf("progress %q", got)
	}
}

// counted passes records through and can be checkpointed.
type counted struct{ hosttest.Pass }

func (counted) Shape() string                { return "test" }
func (counted) Snapshot(dst []byte) []byte   { return abi.AppendNil(dst) }
func (counted) Restore(b []byte) (err error) { return nil }
