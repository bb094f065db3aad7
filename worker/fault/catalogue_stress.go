package fault

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// maxStressBytes bounds stress.memory and stress.disk sizes (64 TiB): beyond it a value is
// a typo, not an experiment.
const maxStressBytes = 64 << 40

var byteUnits = map[string]float64{
	"": 1, "B": 1,
	"K": 1 << 10, "KB": 1e3, "KIB": 1 << 10,
	"M": 1 << 20, "MB": 1e6, "MIB": 1 << 20,
	"G": 1 << 30, "GB": 1e9, "GIB": 1 << 30,
	"T": 1 << 40, "TB": 1e12, "TIB": 1 << 40,
}

// ParseBytes reads a size: a number of bytes, optionally with a unit (KiB, MiB, GiB,
// TiB are powers of 1024, as are K, M, G, T; KB, MB, GB, TB powers of 1000), e.g.
// "512MiB", "1.5GB", "1048576".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	}
	mult, ok := byteUnits[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size (e.g. 512MiB, 2GiB, 1048576)", s)
	}
	b := math.Round(f * mult)
	if b < 1 || b > maxStressBytes {
		return 0, fmt.Errorf("%s is out of range [1 byte, 64TiB]", s)
	}
	return int64(b), nil
}

// Bytes returns params[name] as a size in bytes, or the catalogue default.
func Bytes(params map[string]string, kind, name string) int64 {
	n, _ := ParseBytes(value(params, kind, name))
	return n
}

func checkBytes(v string) error { _, err := ParseBytes(v); return err }

func init() {
	register(
		Kind{
			Name:    "stress.cpu",
			Summary: "keep CPU cores busy at a target load, in the worker's own process",
			Params: []Param{
				{Name: "cores", Type: TypeInt, Min: 1, Max: 4096,
					Help: "how many cores to load; default every core the worker may use"},
				{Name: "load", Type: TypePercent, Default: "100",
					Help: "target load of each core, in (0,100]"},
			},
		},
		Kind{
			Name:    "stress.memory",
			Summary: "allocate and touch memory in the worker's own process",
			Params: []Param{
				{Name: "bytes", Type: TypeString, Required: true, Check: checkBytes,
					Help: "how much memory to hold, e.g. 512MiB; refused beyond MemAvailable"},
			},
		},
		Kind{
			Name:    "stress.disk",
			Summary: "fill a file in a directory; the file is removed on revert",
			Params: []Param{
				{Name: "path", Type: TypeString, Required: true, Check: checkAbsPath,
					Help: "absolute path of an existing directory; the worker creates murphy-stress-disk-<id>.fill in it"},
				{Name: "bytes", Type: TypeString, Required: true, Check: checkBytes,
					Help: "how much space to take, e.g. 10GiB; refused beyond the free space"},
			},
		},
	)
}
