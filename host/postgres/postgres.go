// Package postgres is the postgres:// sink: each batch's records become
// rows of a table, appended or upserted by key. With a checkpoint it is
// exactly once: it is a host.StagingSink, so a batch reaches the table only
// once the checkpoint that holds it is durable, in one transaction with
// the pipeline's progress row, and a batch whose time the progress row
// already has is skipped.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wstream/wstream/host"
)

func init() {
	open := func(uri string, env host.Env) (host.Sink, error) { return openSink(uri, env) }
	host.Register(host.Connector{Scheme: "postgres",
		SinkForm: "postgres://USER@HOST:PORT/DB?table=T  rows of a table: mode=append or upsert&key=COLS; exactly once with checkpoint:",
		Params:   params,
		Sink:     open,
	})
	// libpq's other spelling, so a connection string copied from elsewhere
	// works; the help shows one.
	host.Register(host.Connector{Scheme: "postgresql", Params: params, Sink: open})
}

// params are the query parameters of a postgres:// URI.
var params = []host.Param{
	{Name: "table", Help: "the table to write, NAME or SCHEMA.NAME (required)"},
	{Name: "mode", Help: "append (default): insert every record; upsert: insert, or update the row with the same key"},
	{Name: "key", Help: "upsert: the key columns, comma-separated (default key: a pair's first element); the table needs a unique index on them"},
	{Name: "create", Help: "true: create the table from the first batch when it does not exist (default false: it must exist)"},
	{Name: "progressTable", Help: "the table keeping each pipeline's last delivered batch, in the table's schema (default wstream_progress)"},
	{Name: "connectTimeout", Help: "how long to retry an unreachable server before failing (default 1m; 0 forever)"},
	{Name: "sslmode", Help: "TLS, passed to the driver: disable, allow, prefer (default), require, verify-ca or verify-full"},
	{Name: "sslrootcert", Help: "TLS: the CA certificate file"},
	{Name: "sslcert", Help: "TLS: the client certificate file"},
	{Name: "sslkey", Help: "TLS: the client key file"},
}

// driverParams are passed to pgx as they are.
var driverParams = []string{"sslmode", "sslrootcert", "sslcert", "sslkey"}

// config is a parsed postgres:// URI.
type config struct {
	uri      string // as written, for URI(); its password redacted
	conn     string // what pgx connects with
	db       string
	schema   string // "" for the connection's current schema
	table    string
	upsert   bool
	keys     []string
	create   bool
	progress string
	connect  time.Duration
}

func parseURI(uri string) (*config, error) {
	base, raw, hasQuery := strings.Cut(uri, "?")
	u, err := url.Parse(base)
	shown := uri // messages show the URI with its password masked
	if err == nil {
		shown = u.Redacted()
		if hasQuery {
			shown += "?" + raw
		}
	}
	_, q, qerr := host.ParseQuery(shown, params)
	if qerr != nil {
		return nil, qerr
	}
	example := "postgres://USER@HOST:PORT/DB?table=T, for example postgres://app@127.0.0.1:5432/metrics?table=counts&mode=upsert"
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" || strings.Contains(strings.Trim(u.Path, "/"), "/") {
		return nil, fmt.Errorf("%s: want %s", shown, example)
	}
	c := &config{uri: shown, db: strings.Trim(u.Path, "/"), progress: "wstream_progress", connect: time.Minute}
	table := q.Get("table")
	if table == "" {
		return nil, fmt.Errorf("%s: name the table with ?table=NAME (%s)", shown, example)
	}
	if s, t, ok := strings.Cut(table, "."); ok {
		c.schema, c.table = s, t
	} else {
		c.table = table
	}
	if c.table == "" || strings.Contains(c.table, ".") || (c.schema == "" && strings.Contains(table, ".")) {
		return nil, q.Bad("table", "NAME or SCHEMA.NAME")
	}
	if q.Has("mode") {
		mode, err := q.OneOf("mode", "append", "upsert")
		if err != nil {
			return nil, err
		}
		c.upsert = mode == "upsert"
	}
	if q.Has("key") {
		if !c.upsert {
			return nil, fmt.Errorf("%s: key= applies to mode=upsert; add mode=upsert or remove key=", shown)
		}
		for _, k := range strings.Split(q.Get("key"), ",") {
			if k = strings.TrimSpace(k); k == "" {
				return nil, q.Bad("key", "column names separated by commas")
			}
			c.keys = append(c.keys, k)
		}
	} else if c.upsert {
		c.keys = []string{"key"}
	}
	if q.Has("create") {
		if c.create, err = q.Bool("create"); err != nil {
			return nil, err
		}
	}
	if q.Has("progressTable") {
		if c.progress = q.Get("progressTable"); c.progress == "" || strings.Contains(c.progress, ".") {
			return nil, q.Bad("progressTable", "a table name (it lives in the table's schema)")
		}
	}
	if q.Has("connectTimeout") {
		if c.connect, err = q.Duration("connectTimeout"); err != nil {
			return nil, err
		}
	}
	vals := url.Values{}
	for _, p := range driverParams {
		if q.Has(p) {
			vals.Set(p, q.Get(p))
		}
	}
	u.RawQuery = vals.Encode()
	c.conn = u.String()
	return c, nil
}

// ident is the table's quoted name.
func (c *config) ident() string { return pgx.Identifier(c.tableName()).Sanitize() }

func (c *config) tableName() []string {
	if c.schema != "" {
		return []string{c.schema, c.table}
	}
	return []string{c.table}
}

// dial connects, retrying an unreachable server with backoff and a log
// line per attempt for at most c.connect (0: until ctx ends). A server
// that answers with an error (a wrong password, a missing database) is
// not retried.
func (c *config) dial(ctx context.Context, log *slog.Logger) (*pgx.Conn, error) {
	start := time.Now()
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := pgx.Connect(dctx, c.conn)
		cancel()
		if err == nil {
			return conn, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return nil, fmt.Errorf("%s: %s", c.uri, describe(err))
		}
		if c.connect > 0 && time.Since(start)+backoff > c.connect {
			return nil, fmt.Errorf("%s: no PostgreSQL server answered within %v (last error: %v); is it running? Add ?connectTimeout=0 to wait forever", c.uri, c.connect, err)
		}
		log.Warn(fmt.Sprintf("%s: cannot reach PostgreSQL (attempt %d: %v); retrying in %v", c.uri, attempt, err, backoff))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// describe renders a server error with what it says about where: the
// column, the constraint, the line of a COPY.
func describe(err error) string {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err.Error()
	}
	msg := pgErr.Message
	if pgErr.ColumnName != "" && !strings.Contains(msg, pgErr.ColumnName) {
		msg = fmt.Sprintf("column %q: %s", pgErr.ColumnName, msg)
	}
	if pgErr.ConstraintName != "" && !strings.Contains(msg, pgErr.ConstraintName) {
		msg += fmt.Sprintf(" (constraint %s)", pgErr.ConstraintName)
	}
	if pgErr.Detail != "" {
		msg += "; " + pgErr.Detail
	}
	if pgErr.Where != "" {
		msg += " (" + pgErr.Where + ")"
	}
	if pgErr.Hint != "" {
		msg += "; hint: " + pgErr.Hint
	}
	return fmt.Sprintf("%s [SQLSTATE %s]", msg, pgErr.Code)
}

// retryable reports whether a failed delivery may be tried again on a new
// connection: the connection broke, or the server asked for a retry.
func retryable(err error, conn *pgx.Conn) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", // shutting down, starting up
			pgErr.Code == "40001", pgErr.Code == "40P01": // serialization failure, deadlock
			return true
		}
		return false
	}
	return conn == nil || conn.IsClosed() || pgconn.SafeToRetry(err)
}
