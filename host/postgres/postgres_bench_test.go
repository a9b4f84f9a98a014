package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/postgres/pgtest"
)

// BenchmarkSink measures rows per second into a real PostgreSQL server
// through the sink, one delivery per batch of 10 000 [word, n] pairs as a
// run makes them: append (COPY) and upsert (COPY into a temporary table,
// then INSERT ... ON CONFLICT DO UPDATE, every row updating a key of the
// last batch), each in one transaction with the progress row of an
// exactly-once run. The driver-* runs are the baselines. Run it with
//
//	go test -run '^$' -bench Sink -benchtime 20x ./host/postgres/
func BenchmarkSink(b *testing.B) {
	const rows = 10000
	batch := make([]abi.Raw, rows)
	for i := range batch {
		batch[i] = abi.AppendPair(nil, abi.AppendString(nil, fmt.Sprintf("word-%d", i)), abi.AppendInt(nil, int64(i)))
	}
	// The driver alone: the same rows as Go values, in one transaction,
	// COPYed (append) or COPYed into a temporary table and inserted from it
	// with ON CONFLICT (upsert).
	for _, mode := range []string{"append", "upsert"} {
		b.Run("driver-"+mode, func(b *testing.B) {
			db := pgtest.DB(b)
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, db)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(ctx)
			ddl := "CREATE TABLE bench (key text, value bigint)" // as create=true makes it
			if mode == "upsert" {
				ddl = "CREATE TABLE bench (key text PRIMARY KEY, value bigint)"
			}
			if _, err := conn.Exec(ctx, ddl); err != nil {
				b.Fatal(err)
			}
			vals := make([][]any, rows)
			for i := range vals {
				vals[i] = []any{fmt.Sprintf("word-%d", i), int64(i)}
			}
			cols := []string{"key", "value"}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tx, err := conn.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if mode == "append" {
					_, err = tx.CopyFrom(ctx, pgx.Identifier{"bench"}, cols, pgx.CopyFromRows(vals))
				} else {
					if _, err = tx.Exec(ctx, "CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT key, value FROM bench WITH NO DATA"); err == nil {
						if _, err = tx.CopyFrom(ctx, pgx.Identifier{"stage"}, cols, pgx.CopyFromRows(vals)); err == nil {
							_, err = tx.Exec(ctx, "INSERT INTO bench SELECT * FROM stage ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value")
						}
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	for _, mode := range []string{"append", "upsert"} {
		b.Run(mode, func(b *testing.B) {
			db := pgtest.DB(b)
			s, err := host.OpenSink(db+"?table=bench&create=true&mode="+mode, host.WithLog(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ss := s.(host.StagingSink)
			ss.Resume("bench", "sink", nil)
			ctx := context.Background()
			if err := s.Open(ctx, -1); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Write(host.Batch{Time: int64(i+1) * 1000, Records: batch}); err != nil {
					b.Fatal(err)
				}
				if err := ss.Deliver(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
