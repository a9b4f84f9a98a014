package operators

import (
	"bytes"
	"context"
	"fmt"
	"math"

	"github.com/wstream/wstream/abi"
)

// reducer folds groups of values, one result per group. Guest reducers cost
// one call per batch for all groups; built-ins cost no call at all.
type reducer interface {
	reduce(ctx context.Context, groups [][]abi.Raw) ([]abi.Raw, error)
}

// reducerFor resolves a reduce-position function: a built-in when the name
// is one (sum, count, min, max), else a guest reduce function.
func reducerFor(r Resolver, plugin, name, stage string) (reducer, error) {
	if b, ok := builtins[name]; ok {
		return b, nil
	}
	f, err := lookup(r, plugin, name, abi.KindReduce, stage)
	if err != nil {
		return nil, err
	}
	return &guestReducer{c: caller{fn: f, stage: stage}}, nil
}

type guestReducer struct {
	c       caller
	multi   []int  // indexes of groups with 2+ values, reused
	scratch []byte // the encoded groups, reused
}

func (g *guestReducer) reduce(ctx context.Context, groups [][]abi.Raw) ([]abi.Raw, error) {
	out := make([]abi.Raw, len(groups))
	g.multi = g.multi[:0]
	buf := g.scratch[:0]
	for i, grp := range groups {
		if len(grp) == 1 { // a group of one is its own result (ABI.md §6)
			out[i] = grp[0]
			continue
		}
		g.multi = append(g.multi, i)
	}
	if len(g.multi) == 0 {
		return out, nil
	}
	items := make([]abi.Raw, len(g.multi))
	for j, i := range g.multi {
		start := len(buf)
		buf = abi.AppendArray(buf, groups[i])
		items[j] = buf[start:len(buf):len(buf)]
	}
	g.scratch = buf
	res, err := g.c.call(ctx, items)
	if err != nil {
		return nil, err
	}
	for j, i := range g.multi {
		out[i] = res[j]
	}
	return out, nil
}

// builtin is a host-side reducer.
type builtin string

var builtins = map[string]builtin{"sum": "sum", "count": "count", "min": "min", "max": "max"}

func (b builtin) reduce(_ context.Context, groups [][]abi.Raw) ([]abi.Raw, error) {
	out := make([]abi.Raw, len(groups))
	var buf []byte
	for i, grp := range groups {
		start := len(buf)
		var err error
		switch b {
		case "count":
			buf = abi.AppendInt(buf, int64(len(grp)))
		case "sum":
			buf, err = sumValues(buf, grp)
		case "min", "max":
			var v abi.Raw
			v, err = extreme(grp, b == "max")
			buf = append(buf, v...)
		}
		if err != nil {
			return nil, fmt.Errorf("built-in %s: %w", string(b), err)
		}
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out, nil
}

// foldByKey is reduceByKey with a built-in: [k, v] records are folded into
// one running value per key as they come, without first grouping every
// value of a key into a slice (for a word count, that grouping was most of
// the host's work). Keys stay in order of first appearance, and each result
// is what reduce gives for the same group. It reports false, having done
// nothing useful, on a record it cannot take (not a pair, not a number, a
// min/max it cannot compare), so that the caller reports the error as the
// grouping path does.
func (b builtin) foldByKey(in []abi.Raw) ([]abi.Raw, bool) {
	var f folder
	return f.fold(b, in)
}

// folder is foldByKey's working memory, which a stage keeps across batches
// so that its table does not grow from empty every batch.
type folder struct {
	index map[string]int
	keys  []abi.Raw
	accs  []foldAcc
}

type foldAcc struct {
	acc          // n: values seen; the sum
	best abi.Raw // min, max
}

func (fd *folder) fold(b builtin, in []abi.Raw) ([]abi.Raw, bool) {
	if fd.index == nil {
		fd.index = make(map[string]int, min(len(in)/4+1, 1<<14))
	}
	index := fd.index
	keys, accs := fd.keys[:0], fd.accs[:0]
	defer func() {
		clear(index) // keep no records alive until the next batch
		clear(keys)
		clear(accs)
		fd.keys, fd.accs = keys[:0], accs[:0]
	}()
	for _, r := range in {
		k, v, err := abi.SplitPair(r)
		if err != nil {
			return nil, false
		}
		j, ok := index[string(k)]
		if !ok {
			j = len(keys)
			index[string(k)] = j
			keys = append(keys, k)
			accs = append(accs, foldAcc{})
		}
		a := &accs[j]
		a.n++
		switch b {
		case "sum": // sumValues, one value at a time
			if a.add(v) != nil {
				return nil, false
			}
		case "min", "max": // extreme, one value at a time
			if a.n == 1 {
				a.best = v
				continue
			}
			c, err := compare(v, a.best)
			if err != nil {
				return nil, false
			}
			if (b == "max" && c > 0) || (b == "min" && c < 0) {
				a.best = v
			}
		}
	}
	size := 0
	for j := range keys {
		size += 1 + len(keys[j]) + 9 + len(accs[j].best)
	}
	buf := make([]byte, 0, size)
	out := make([]abi.Raw, len(keys))
	for j, k := range keys {
		start := len(buf)
		buf = append(abi.AppendArrayHeader(buf, 2), k...)
		a := &accs[j]
		switch b {
		case "count":
			buf = abi.AppendInt(buf, a.n)
		case "sum":
			if a.float {
				buf = abi.AppendFloat(buf, a.f)
			} else {
				buf = abi.AppendInt(buf, a.i)
			}
		default:
			if a.n == 1 {
				if _, err := compare(a.best, a.best); err != nil {
					return nil, false
				}
			}
			buf = append(buf, a.best...)
		}
		out[j] = buf[start:len(buf):len(buf)]
	}
	return out, true
}

// number decodes an int or float value.
func number(v abi.Raw) (i int64, f float64, isFloat bool, err error) {
	switch abi.TypeOf(v) {
	case abi.TypeInt:
		i, _, err = abi.ReadInt(v)
		return i, 0, false, err
	case abi.TypeFloat:
		f, _, err = abi.ReadFloat(v)
		return 0, f, true, err
	}
	return 0, 0, false, fmt.Errorf("%s is not a number", abi.Describe(v))
}

// sumValues adds numbers: ints stay ints (wrapping on overflow, like the
// JVM's Long), and any float makes the sum a float.
func sumValues(dst []byte, vals []abi.Raw) ([]byte, error) {
	var si int64
	var sf float64
	anyFloat := false
	for _, v := range vals {
		i, f, isF, err := number(v)
		if err != nil {
			return dst, err
		}
		if isF {
			if !anyFloat {
				sf, anyFloat = float64(si), true
			}
			sf += f
		} else if anyFloat {
			sf += float64(i)
		} else {
			si += i
		}
	}
	if anyFloat {
		return abi.AppendFloat(dst, sf), nil
	}
	return abi.AppendInt(dst, si), nil
}

// extreme returns the least or greatest value: numbers compare numerically,
// strings by bytes; mixing the two is an error.
func extreme(vals []abi.Raw, max bool) (abi.Raw, error) {
	best := vals[0]
	for _, v := range vals[1:] {
		c, err := compare(v, best)
		if err != nil {
			return nil, err
		}
		if (max && c > 0) || (!max && c < 0) {
			best = v
		}
	}
	if len(vals) == 1 {
		if _, err := compare(best, best); err != nil {
			return nil, err
		}
	}
	return best, nil
}

func compare(a, b abi.Raw) (int, error) {
	ta, tb := abi.TypeOf(a), abi.TypeOf(b)
	isNum := func(t abi.Type) bool { return t == abi.TypeInt || t == abi.TypeFloat }
	switch {
	case isNum(ta) && isNum(tb):
		ai, af, aF, err := number(a)
		if err != nil {
			return 0, err
		}
		bi, bf, bF, err := number(b)
		if err != nil {
			return 0, err
		}
		if !aF && !bF {
			return cmpInt(ai, bi), nil
		}
		if !aF {
			af = float64(ai)
		}
		if !bF {
			bf = float64(bi)
		}
		switch {
		case af < bf:
			return -1, nil
		case af > bf:
			return 1, nil
		case math.IsNaN(af) || math.IsNaN(bf):
			return 0, fmt.Errorf("cannot order NaN")
		}
		return 0, nil
	case ta == abi.TypeString && tb == abi.TypeString:
		as, _, _ := abi.ReadStringBytes(a)
		bs, _, _ := abi.ReadStringBytes(b)
		return bytes.Compare(as, bs), nil
	}
	return 0, fmt.Errorf("cannot compare %s with %s (min and max take numbers or strings)", abi.Describe(a), abi.Describe(b))
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
