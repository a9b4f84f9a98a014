package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
)

// sink writes records as rows. Write converts and checks a batch and
// stages it; Deliver writes what is staged in one transaction, with the
// progress row when the run has a checkpoint (host.StagingSink).
type sink struct {
	c   *config
	log *slog.Logger

	conn   *pgx.Conn
	tbl    *table // nil until known: create=true plans it from the first batch
	exists bool   // the table is in the database
	opened bool

	id, name string // the pipeline and the sink in its progress row; "" without checkpoints
	restored []byte // what the checkpoint held staged, delivered by Open
	resume   int64  // the batch time the checkpoint says was written

	pending []staged // converted batches, not yet delivered
	buf     []byte   // the same, encoded for the checkpoint
	last    int64    // time of the last batch with rows staged
}

type staged struct {
	time int64
	rows []row
}

func openSink(uri string, env host.Env) (*sink, error) {
	c, err := parseURI(uri)
	if err != nil {
		return nil, fmt.Errorf("sink %w", err)
	}
	return &sink{c: c, log: env.Log, last: -1}, nil
}

func (s *sink) URI() string { return s.c.uri }

// Progress is the time of the last batch that had rows, for checkpoints:
// on restart Open checks the progress row against it.
func (s *sink) Progress() int64 { return s.last }

func (s *sink) Resume(id, name string, staged []byte) error {
	s.id, s.name, s.restored = id, name, staged
	return nil
}

// Open connects, reads the table (which must exist unless create=true),
// checks the unique index an upsert needs, makes sure the progress table
// exists, and delivers what the checkpoint held staged.
func (s *sink) Open(ctx context.Context, resume int64) error {
	if s.opened {
		return fmt.Errorf("%s: already open", s.c.uri)
	}
	s.opened, s.resume, s.last = true, resume, resume
	conn, err := s.c.dial(ctx, s.log)
	if err != nil {
		return err
	}
	s.conn = conn
	if err := s.loadTable(ctx); err != nil {
		return err
	}
	if s.id != "" {
		if err := s.ensureProgressTable(ctx); err != nil {
			return err
		}
	}
	if s.restored != nil {
		if err := s.restore(s.restored); err != nil {
			return err
		}
		s.restored = nil
	}
	if err := s.checkProgress(ctx); err != nil {
		return err
	}
	return s.Deliver(ctx)
}

// ensureProgressTable creates the progress table when it is missing (and
// only then, so that a role without CREATE can use one made for it).
func (s *sink) ensureProgressTable(ctx context.Context) error {
	var exists bool
	if err := s.conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", s.progressIdent()).Scan(&exists); err != nil {
		return fmt.Errorf("%s: looking for the progress table %s: %s", s.c.uri, s.progressIdent(), describe(err))
	}
	if exists {
		return nil
	}
	if _, err := s.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.progressIdent()+
		" (pipeline text NOT NULL, sink text NOT NULL, batch_time bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (pipeline, sink))"); err != nil {
		return fmt.Errorf("%s: creating the progress table %s: %s", s.c.uri, s.progressIdent(), describe(err))
	}
	return nil
}

func (s *sink) loadTable(ctx context.Context) error {
	tbl, err := loadTable(ctx, s.conn, s.c.ident())
	if err != nil {
		return fmt.Errorf("%s: reading table %s: %s", s.c.uri, s.c.ident(), describe(err))
	}
	if tbl == nil {
		if !s.c.create {
			return fmt.Errorf("%s: table %s does not exist in database %s; create it, or add create=true to the URI to create it from the first batch", s.c.uri, s.c.ident(), s.c.db)
		}
		return nil
	}
	s.tbl, s.exists = tbl, true
	if s.c.upsert {
		for _, k := range s.c.keys {
			if _, ok := tbl.byName[k]; !ok {
				return fmt.Errorf("%s: key column %q is not a column of %s (its columns: %s)", s.c.uri, k, s.c.ident(), tbl.names())
			}
		}
		ok, err := uniqueOn(ctx, s.conn, s.c.ident(), s.c.keys)
		if err != nil {
			return fmt.Errorf("%s: reading the indexes of %s: %s", s.c.uri, s.c.ident(), describe(err))
		}
		if !ok {
			return fmt.Errorf("%s: an upsert needs a unique index or primary key on exactly (%s) of %s, and there is none; add one: CREATE UNIQUE INDEX ON %s (%s)", s.c.uri, strings.Join(s.c.keys, ", "), s.c.ident(), s.c.ident(), quoted(s.c.keys))
		}
	}
	return nil
}

// checkProgress warns when the database is behind the checkpoint with
// nothing staged to make up for it: the table lost writes (restored from
// an older backup, or the progress row deleted).
func (s *sink) checkProgress(ctx context.Context) error {
	if s.id == "" || s.resume < 0 {
		return nil
	}
	var done int64
	err := s.conn.QueryRow(ctx, "SELECT batch_time FROM "+s.progressIdent()+" WHERE pipeline = $1 AND sink = $2", s.id, s.name).Scan(&done)
	if errors.Is(err, pgx.ErrNoRows) {
		done = -1
	} else if err != nil {
		return fmt.Errorf("%s: reading the progress table %s: %s", s.c.uri, s.progressIdent(), describe(err))
	}
	covered := done
	if n := len(s.pending); n > 0 {
		covered = max(covered, s.pending[n-1].time)
	}
	if covered < s.resume {
		s.log.Warn(fmt.Sprintf("%s: the checkpoint says batches up to %d ms were written, but the progress row of pipeline %s, sink %s in %s says %d ms: the table lost writes (restored from a backup, or the row deleted); batches in between are not in it", s.c.uri, s.resume, s.id, s.name, s.progressIdent(), done))
	}
	return nil
}

func (s *sink) progressIdent() string {
	if s.c.schema != "" {
		return pgx.Identifier{s.c.schema, s.c.progress}.Sanitize()
	}
	return pgx.Identifier{s.c.progress}.Sanitize()
}

// Write converts and checks every record of the batch, then stages it: a
// record that does not fit the table fails the batch before any row of it
// is written.
func (s *sink) Write(b host.Batch) error {
	if !s.opened {
		return fmt.Errorf("%s: not open", s.c.uri)
	}
	if len(b.Records) == 0 {
		return nil
	}
	if err := s.stage(b.Time, b.Records); err != nil {
		return fmt.Errorf("%s: batch %d ms: %w", s.c.uri, b.Time, err)
	}
	s.buf = abi.AppendArray(abi.AppendInt(abi.AppendArrayHeader(s.buf, 2), b.Time), b.Records)
	return nil
}

func (s *sink) stage(t int64, recs []abi.Raw) error {
	tbl := s.tbl
	if tbl == nil {
		var err error
		if tbl, err = infer(recs); err != nil {
			return err
		}
		for _, k := range s.c.keys {
			if _, ok := tbl.byName[k]; !ok {
				return fmt.Errorf("creating table %s from this batch: its records have no field %q for the key (fields: %s)", s.c.ident(), k, tbl.names())
			}
		}
	}
	rows := make([]row, len(recs))
	for i, rec := range recs {
		r, err := tbl.row(rec, s.c.keys)
		if err != nil {
			return fmt.Errorf("record %d (%s): %w", i, abi.Describe(rec), err)
		}
		rows[i] = r
	}
	s.tbl = tbl
	s.pending = append(s.pending, staged{t, rows})
	s.last = t
	return nil
}

// restore stages again what a checkpoint held.
func (s *sink) restore(b []byte) error {
	for len(b) > 0 {
		var v abi.Raw
		var err error
		if v, b, err = abi.Next(b); err != nil {
			return fmt.Errorf("%s: the checkpoint's staged rows do not decode: %v", s.c.uri, err)
		}
		n, rest, err := abi.ArrayHeader(v)
		if err != nil || n != 2 {
			return fmt.Errorf("%s: the checkpoint's staged rows do not decode", s.c.uri)
		}
		t, rest, err := abi.ReadInt(rest)
		if err != nil {
			return fmt.Errorf("%s: the checkpoint's staged rows do not decode: %v", s.c.uri, err)
		}
		m, rest, err := abi.ArrayHeader(rest)
		if err != nil {
			return fmt.Errorf("%s: the checkpoint's staged rows do not decode: %v", s.c.uri, err)
		}
		recs := make([]abi.Raw, m)
		for i := range recs {
			if recs[i], rest, err = abi.Next(rest); err != nil {
				return fmt.Errorf("%s: the checkpoint's staged rows do not decode: %v", s.c.uri, err)
			}
		}
		if err := s.stage(t, recs); err != nil {
			return fmt.Errorf("%s: batch %d ms, held by the checkpoint: %w", s.c.uri, t, err)
		}
		s.buf = append(s.buf, v...)
	}
	return nil
}

func (s *sink) Staged() []byte {
	if len(s.pending) == 0 {
		return nil
	}
	return s.buf
}

// Deliver writes what is staged in one transaction, with the progress
// row; a batch time the progress row already has was delivered before a
// crash, and is skipped. A broken connection is retried on a new one for
// up to connectTimeout.
func (s *sink) Deliver(ctx context.Context) error {
	if len(s.pending) == 0 {
		return nil
	}
	start := time.Now()
	backoff := 250 * time.Millisecond
	for {
		err := s.deliver(ctx)
		if err == nil {
			s.pending, s.buf = s.pending[:0], s.buf[:0]
			return nil
		}
		if !retryable(err, s.conn) || ctx.Err() != nil || (s.c.connect > 0 && time.Since(start)+backoff > s.c.connect) {
			return fmt.Errorf("%s: writing %d batches up to %d ms: %s", s.c.uri, len(s.pending), s.pending[len(s.pending)-1].time, describe(err))
		}
		s.log.Warn(fmt.Sprintf("%s: writing failed (%v); reconnecting in %v", s.c.uri, err, backoff))
		if s.conn != nil {
			s.conn.Close(ctx)
			s.conn = nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (s *sink) deliver(ctx context.Context) error {
	if s.conn == nil || s.conn.IsClosed() {
		conn, err := s.c.dial(ctx, s.log)
		if err != nil {
			return err
		}
		s.conn = conn
	}
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	last := s.pending[len(s.pending)-1].time
	if s.id != "" {
		var done int64
		err := tx.QueryRow(ctx, "SELECT batch_time FROM "+s.progressIdent()+" WHERE pipeline = $1 AND sink = $2 FOR UPDATE", s.id, s.name).Scan(&done)
		switch {
		case err == nil && done >= last:
			s.log.Debug(fmt.Sprintf("%s: batches up to %d ms were written before a restart; skipping them", s.c.uri, done))
			return nil
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
	}
	created := false
	if !s.exists {
		if _, err := tx.Exec(ctx, createSQL(s.c.ident(), s.tbl, s.c.keys)); err != nil {
			return err
		}
		created = true
	}
	if s.c.upsert {
		err = s.upsert(ctx, tx)
	} else {
		err = s.insert(ctx, tx)
	}
	if err != nil {
		return err
	}
	if s.id != "" {
		if _, err := tx.Exec(ctx, "INSERT INTO "+s.progressIdent()+" (pipeline, sink, batch_time) VALUES ($1, $2, $3) "+
			"ON CONFLICT (pipeline, sink) DO UPDATE SET batch_time = EXCLUDED.batch_time, updated_at = now()", s.id, s.name, last); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if created {
		s.exists = true
		s.log.Info(fmt.Sprintf("%s: created table %s", s.c.uri, strings.TrimPrefix(createSQL(s.c.ident(), s.tbl, s.c.keys), "CREATE TABLE ")))
	}
	return nil
}

// groups splits rows by the columns they give, so that a column a record
// leaves out gets its default.
func (s *sink) groups(rows []row) (order []string, cols map[string][]string, vals map[string][][]any) {
	cols, vals = map[string][]string{}, map[string][][]any{}
	var k string
	var prev []int
	for _, r := range rows {
		if k == "" || !slices.Equal(prev, r.cols) { // records of a batch mostly have the same fields
			var sig []byte
			for _, c := range r.cols {
				sig = strconv.AppendInt(append(sig, ','), int64(c), 10)
			}
			k, prev = string(sig), r.cols
		}
		if _, ok := cols[k]; !ok {
			order = append(order, k)
			for _, c := range r.cols {
				cols[k] = append(cols[k], s.tbl.cols[c].name)
			}
		}
		vals[k] = append(vals[k], r.vals)
	}
	return order, cols, vals
}

func (s *sink) insert(ctx context.Context, tx pgx.Tx) error {
	var rows []row
	for _, b := range s.pending {
		rows = append(rows, b.rows...)
	}
	order, cols, vals := s.groups(rows)
	for _, k := range order {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier(s.c.tableName()), cols[k], pgx.CopyFromRows(vals[k])); err != nil {
			return err
		}
	}
	return nil
}

// upsert keeps the last row of each key, copies them into a temporary
// table and inserts from there with ON CONFLICT DO UPDATE.
func (s *sink) upsert(ctx context.Context, tx pgx.Tx) error {
	lastOf := map[string]int{}
	var rows []row
	for _, b := range s.pending {
		for _, r := range b.rows {
			if i, ok := lastOf[r.key]; ok {
				rows[i] = r
				continue
			}
			lastOf[r.key] = len(rows)
			rows = append(rows, r)
		}
	}
	order, cols, vals := s.groups(rows)
	for i, k := range order {
		stage := fmt.Sprintf("wstream_stage_%d", i)
		list := quoted(cols[k])
		if _, err := tx.Exec(ctx, "CREATE TEMP TABLE "+stage+" ON COMMIT DROP AS SELECT "+list+" FROM "+s.c.ident()+" WITH NO DATA"); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, cols[k], pgx.CopyFromRows(vals[k])); err != nil {
			return err
		}
		var set []string
		for _, c := range cols[k] {
			if !slices.Contains(s.c.keys, c) {
				id := pgx.Identifier{c}.Sanitize()
				set = append(set, id+" = EXCLUDED."+id)
			}
		}
		action := "DO NOTHING"
		if len(set) > 0 {
			action = "DO UPDATE SET " + strings.Join(set, ", ")
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+s.c.ident()+" ("+list+") SELECT "+list+" FROM "+stage+
			" ON CONFLICT ("+quoted(s.c.keys)+") "+action); err != nil {
			return err
		}
	}
	return nil
}

func quoted(names []string) string {
	var out []string
	for _, n := range names {
		out = append(out, pgx.Identifier{n}.Sanitize())
	}
	return strings.Join(out, ", ")
}

func (s *sink) Close() error {
	if s.conn != nil {
		s.conn.Close(context.Background())
		s.conn = nil
	}
	return nil
}
