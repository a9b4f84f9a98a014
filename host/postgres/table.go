package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wstream/wstream/abi"
)

// column is one column of the table, as the catalog describes it.
type column struct {
	name    string
	typ     string // pg_type.typname: int8, text, jsonb ...
	display string // format_type: bigint, character varying(20) ...
}

// table is the target table's columns.
type table struct {
	cols    []column
	byName  map[string]int
	scratch []cell // row's work space, reused
}

// cell is one field of a record, converted for its column.
type cell struct {
	col int
	val any
	raw abi.Raw
}

func newTable(cols []column) *table {
	t := &table{cols: cols, byName: map[string]int{}}
	for i, c := range cols {
		t.byName[c.name] = i
	}
	return t
}

func (t *table) names() string {
	var out []string
	for _, c := range t.cols {
		out = append(out, c.name)
	}
	return strings.Join(out, ", ")
}

// loadTable reads the table's columns; nil when the table does not exist.
func loadTable(ctx context.Context, conn *pgx.Conn, ident string) (*table, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod)
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, ident)
	if err != nil {
		return nil, err
	}
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ, &c.display); err != nil {
			rows.Close()
			return nil, err
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, nil
	}
	return newTable(cols), nil
}

// uniqueOn reports whether the table has a unique index (or primary key)
// on exactly the columns keys, which ON CONFLICT needs.
func uniqueOn(ctx context.Context, conn *pgx.Conn, ident string, keys []string) (bool, error) {
	rows, err := conn.Query(ctx, `SELECT array_agg(a.attname::text ORDER BY a.attname::text)
		FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
		GROUP BY i.indexrelid`, ident)
	if err != nil {
		return false, err
	}
	want := slices.Sorted(slices.Values(keys))
	found := false
	for rows.Next() {
		var cols []string
		if err := rows.Scan(&cols); err != nil {
			rows.Close()
			return false, err
		}
		found = found || slices.Equal(cols, want)
	}
	return found, rows.Err()
}

// fields calls f with each (column name, value) of a record: a map's
// fields by name, a pair's key and value as the columns key and value, and
// any other value as the column value.
func fields(rec abi.Raw, f func(name string, v abi.Raw) error) error {
	switch abi.TypeOf(rec) {
	case abi.TypeMap:
		n, rest, err := abi.MapHeader(rec)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if abi.TypeOf(rest) != abi.TypeString {
				return fmt.Errorf("a map with a key that is not a string (%s): map records need field names", abi.TypeOf(rest))
			}
			var name string
			if name, rest, err = abi.ReadString(rest); err != nil {
				return err
			}
			var v abi.Raw
			if v, rest, err = abi.Next(rest); err != nil {
				return err
			}
			if err := f(name, v); err != nil {
				return err
			}
		}
		return nil
	case abi.TypeArray:
		if k, v, err := abi.SplitPair(rec); err == nil {
			if err := f("key", k); err != nil {
				return err
			}
			return f("value", v)
		}
	}
	return f("value", rec)
}

// infer plans a table for create=true from the first batch: its columns
// in the order they first appear, each typed by its first value that is
// not null (integers bigint, floats double precision, strings text,
// booleans boolean, bytes bytea, lists and maps jsonb; a column only ever
// null is jsonb). A record that is neither a map nor a pair is one jsonb
// column, value.
func infer(recs []abi.Raw) (*table, error) {
	var cols []column
	typed := map[string]bool{}
	idx := map[string]int{}
	for i, rec := range recs {
		other := abi.TypeOf(rec) != abi.TypeMap
		if _, _, err := abi.SplitPair(rec); err == nil && abi.TypeOf(rec) == abi.TypeArray {
			other = false
		}
		err := fields(rec, func(name string, v abi.Raw) error {
			j, ok := idx[name]
			if !ok {
				j = len(cols)
				idx[name] = j
				cols = append(cols, column{name: name, typ: "jsonb", display: "jsonb"})
			}
			if typed[name] || abi.TypeOf(v) == abi.TypeNil {
				return nil
			}
			typed[name] = true
			if other {
				return nil
			}
			switch abi.TypeOf(v) {
			case abi.TypeInt:
				cols[j].typ, cols[j].display = "int8", "bigint"
			case abi.TypeFloat:
				cols[j].typ, cols[j].display = "float8", "double precision"
			case abi.TypeString:
				cols[j].typ, cols[j].display = "text", "text"
			case abi.TypeBool:
				cols[j].typ, cols[j].display = "bool", "boolean"
			case abi.TypeBinary:
				cols[j].typ, cols[j].display = "bytea", "bytea"
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return newTable(cols), nil
}

// createSQL is the CREATE TABLE statement of a planned table, with a
// primary key on keys (upsert).
func createSQL(ident string, t *table, keys []string) string {
	var defs []string
	for _, c := range t.cols {
		defs = append(defs, pgx.Identifier{c.name}.Sanitize()+" "+c.display)
	}
	if len(keys) > 0 {
		var ks []string
		for _, k := range keys {
			ks = append(ks, pgx.Identifier{k}.Sanitize())
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(ks, ", ")+")")
	}
	return "CREATE TABLE " + ident + " (" + strings.Join(defs, ", ") + ")"
}

// row is one record as the values of some of the table's columns.
type row struct {
	cols []int // column indexes, ascending
	vals []any
	key  string // upsert: the key columns' values, for keeping the last row per key
}

// row converts a record to a row, checking every field against its
// column: a field without a column, or a value the column's type cannot
// hold, is an error naming the column.
func (t *table) row(rec abi.Raw, keys []string) (row, error) {
	var r row
	cells := t.scratch[:0]
	defer func() { t.scratch = cells[:0] }()
	err := fields(rec, func(name string, v abi.Raw) error {
		j, ok := t.byName[name]
		if !ok {
			return fmt.Errorf("the table has no column %q for the record's field of that name (its columns: %s); add the column (ALTER TABLE ... ADD COLUMN), or drop or rename the field in a stage", name, t.names())
		}
		val, err := convert(v, t.cols[j])
		if err != nil {
			return err
		}
		cells = append(cells, cell{j, val, v})
		return nil
	})
	if err != nil {
		return r, err
	}
	if len(cells) == 0 {
		return r, errors.New("the record has no fields, so no column to write")
	}
	slices.SortFunc(cells, func(a, b cell) int { return a.col - b.col })
	r.cols, r.vals = make([]int, len(cells)), make([]any, len(cells))
	for i, c := range cells {
		if i > 0 && cells[i-1].col == c.col {
			return r, fmt.Errorf("column %q is given twice", t.cols[c.col].name)
		}
		r.cols[i], r.vals[i] = c.col, c.val
	}
	if len(keys) > 0 {
		var key []byte
		for _, k := range keys {
			j := t.byName[k]
			i := slices.IndexFunc(cells, func(c cell) bool { return c.col == j })
			if i < 0 || abi.TypeOf(cells[i].raw) == abi.TypeNil {
				return r, fmt.Errorf("the record has no value for the key column %q", k)
			}
			key = strconv.AppendInt(key, int64(len(cells[i].raw)), 10)
			key = append(append(key, ':'), cells[i].raw...)
		}
		r.key = string(key)
	}
	return r, nil
}

// convert turns a value into what the driver writes into a column of
// c's type; a value the type cannot hold is an error naming the column.
func convert(v abi.Raw, c column) (any, error) {
	vt := abi.TypeOf(v)
	if vt == abi.TypeNil {
		return nil, nil
	}
	bad := func(why string) error {
		if why != "" {
			why = ": " + why
		}
		return fmt.Errorf("column %q is %s but the value is %s (%s)%s", c.name, c.display, abi.Describe(v), vt, why)
	}
	switch c.typ {
	case "bool":
		if vt != abi.TypeBool {
			return nil, bad("")
		}
		b, _, err := abi.ReadBool(v)
		return b, err
	case "int2", "int4", "int8":
		n, err := integer(v, vt)
		if err != nil {
			return nil, bad("")
		}
		lim := map[string]int64{"int2": math.MaxInt16, "int4": math.MaxInt32, "int8": math.MaxInt64}[c.typ]
		if n > lim || n < -lim-1 {
			return nil, bad("out of its range")
		}
		return n, nil
	case "float4", "float8", "numeric":
		switch vt {
		case abi.TypeInt:
			n, _, err := abi.ReadInt(v)
			return n, err
		case abi.TypeFloat:
			f, _, err := abi.ReadFloat(v)
			if err == nil && c.typ == "numeric" && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return nil, bad("numeric holds no infinity")
			}
			return f, err
		}
		return nil, bad("")
	case "text", "varchar", "bpchar", "name", "citext":
		if vt != abi.TypeString {
			return nil, bad("write it as a string in a stage, or make the column jsonb")
		}
		s, _, err := abi.ReadString(v)
		return s, err
	case "json", "jsonb":
		return abi.AppendJSON(nil, v)
	case "bytea":
		if vt != abi.TypeString && vt != abi.TypeBinary {
			return nil, bad("")
		}
		b, _, err := abi.ReadStringBytes(v)
		return append([]byte{}, b...), err
	case "timestamptz", "timestamp", "date":
		switch vt {
		case abi.TypeInt: // ms since the epoch, wstream's event time
			n, _, err := abi.ReadInt(v)
			return time.UnixMilli(n).UTC(), err
		case abi.TypeString:
			s, _, _ := abi.ReadString(v)
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
				if tm, err := time.Parse(layout, s); err == nil {
					return tm, nil
				}
			}
			return nil, bad("want RFC 3339 (2024-05-01T12:00:00Z) or milliseconds since the epoch")
		}
		return nil, bad("want RFC 3339 text or milliseconds since the epoch")
	case "uuid":
		if vt != abi.TypeString {
			return nil, bad("")
		}
		s, _, _ := abi.ReadString(v)
		u, ok := parseUUID(s)
		if !ok {
			return nil, bad("not a UUID")
		}
		return u, nil
	}
	return nil, fmt.Errorf("column %q is %s, which the postgres sink does not write (it writes boolean, smallint, integer, bigint, real, double precision, numeric, text, varchar, char, json, jsonb, bytea, timestamp, timestamptz, date and uuid); change its type or drop the field in a stage", c.name, c.display)
}

// integer reads an integer, or a float with no fractional part (JSON's 3.0).
func integer(v abi.Raw, vt abi.Type) (int64, error) {
	switch vt {
	case abi.TypeInt:
		n, _, err := abi.ReadInt(v)
		return n, err
	case abi.TypeFloat:
		f, _, err := abi.ReadFloat(v)
		if err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return int64(f), nil
		}
	}
	return 0, errors.New("not an integer")
}

func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || (len(s) != 32 && len(s) != 36) {
		return u, false
	}
	for i := 0; i < 16; i++ {
		b, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return u, false
		}
		u[i] = byte(b)
	}
	return u, true
}
