// Package wasmbin writes the pieces of the WebAssembly binary format that
// both the wazero adapter's metering rewriter and the test assembler
// (runtime/wasmtest) emit: LEB128 numbers, names, vectors and sections.
package wasmbin

// Header is the first eight bytes of every version 1 binary module.
const Header = "\x00asm\x01\x00\x00\x00"

// Section ids, in the order a module must list them (except Tag and
// DataCount, which sit between Memory and Global, and before Code).
const (
	SecCustom    = 0
	SecType      = 1
	SecImport    = 2
	SecFunction  = 3
	SecTable     = 4
	SecMemory    = 5
	SecGlobal    = 6
	SecExport    = 7
	SecStart     = 8
	SecElement   = 9
	SecCode      = 10
	SecData      = 11
	SecDataCount = 12
	SecTag       = 13
)

// AppendU32 appends v as an unsigned LEB128 number.
func AppendU32(dst []byte, v uint32) []byte { return AppendU64(dst, uint64(v)) }

// AppendU64 appends v as an unsigned LEB128 number.
func AppendU64(dst []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}

// AppendS64 appends v as a signed LEB128 number.
func AppendS64(dst []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}

// AppendName appends a name: its length, then its bytes.
func AppendName(dst []byte, s string) []byte {
	return append(AppendU32(dst, uint32(len(s))), s...)
}

// AppendSection appends a section: its id, its size, then body.
func AppendSection(dst []byte, id byte, body []byte) []byte {
	return append(AppendU32(append(dst, id), uint32(len(body))), body...)
}

// AppendVec appends a vector: the count of items, then each item.
func AppendVec(dst []byte, items ...[]byte) []byte {
	dst = AppendU32(dst, uint32(len(items)))
	for _, it := range items {
		dst = append(dst, it...)
	}
	return dst
}
