package monitor

import (
	"maps"
	"path/filepath"
	"slices"
	"strconv"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func baseName(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Base(p)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
