package catalogue

import (
	"fmt"
	"math"
	"path/filepath"
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

// StressCPU is stress.cpu's parameters.
type StressCPU struct {
	// Cores is how many cores to load; 0 for every core the worker may use.
	Cores int
	// Load is each core's target load, in (0,1].
	Load float64
	// Place names the one running container whose cgroups the load is charged to, by a
	// burner process the worker starts in them.
	Place
}

// StressMemory is stress.memory's parameters.
type StressMemory struct {
	Bytes int64
	// Size is Bytes as written, for messages.
	Size string
	// Place names the one running container whose cgroups the memory is charged to, by a
	// process the worker starts in them.
	Place
}

// StressDisk is stress.disk's parameters.
type StressDisk struct {
	// Path is the directory to fill, cleaned.
	Path  string
	Bytes int64
	// Size is Bytes as written, for messages.
	Size string
}

func (p StressCPU) String() string {
	cores := "every core"
	if p.Cores > 0 {
		cores = fmt.Sprintf("%d core(s)", p.Cores)
	}
	return fmt.Sprintf("stress.cpu: %s at %.0f%%%s", cores, 100*p.Load, p.Place)
}

func (p StressMemory) String() string {
	return "stress.memory: hold " + p.Size + p.Place.String()
}

func (p StressDisk) String() string { return fmt.Sprintf("stress.disk: fill %s in %s", p.Size, p.Path) }

func parseBytes(v string) (any, error) { return ParseBytes(v) }

func init() {
	register(
		Kind{
			Name:    "stress.cpu",
			Summary: "keep CPU cores busy at a target load, in the worker's own process or charged to a container's cgroups",
			Needs:   "nothing beyond the worker's own process; in a container, the worker's Docker engine and write access to the cgroup filesystem",
			Reverts: "the worker stops its goroutines, or kills the burner process it started in the container's cgroups; both die with the worker, and a burner also at the deadline",
			Params: append([]Param{
				{Name: "cores", Type: TypeInt, Min: 1, Max: 4096,
					Help: "how many cores to load; default every core the worker may use"},
				{Name: "load", Type: TypePercent, Default: "100",
					Help: "target load of each core, in (0,100]"},
			}, placeParams("charge the load to the cgroups of", ", so its CPU limit and accounting apply")...),
			decode: func(v values) (Params, error) {
				place, err := decodePlace(v)
				if err != nil {
					return nil, err
				}
				return StressCPU{Cores: int(v.int("cores")), Load: v.percent("load") / 100, Place: place}, nil
			},
		},
		Kind{
			Name:    "stress.memory",
			Summary: "allocate and touch memory in the worker's own process, or charged to a container's cgroups",
			Needs:   "mmap; refused beyond MemAvailable; in a container, the worker's Docker engine and write access to the cgroup filesystem",
			Reverts: "the worker unmaps it, or kills the process holding it in the container's cgroups; both die with the worker, and that process also at the deadline",
			Params: append([]Param{
				{Name: "bytes", Type: TypeString, Required: true, Parse: parseBytes,
					Help: "how much memory to hold, e.g. 512MiB; refused beyond MemAvailable"},
			}, placeParams("charge the memory to the cgroups of", ", so its memory limit applies: beyond it the inject fails, reporting the kill")...),
			decode: func(v values) (Params, error) {
				place, err := decodePlace(v)
				if err != nil {
					return nil, err
				}
				return StressMemory{Bytes: value[int64](v, "bytes"), Size: v.raw("bytes"), Place: place}, nil
			},
		},
		Kind{
			Name:    "stress.disk",
			Summary: "fill a file in a directory; the file is removed on revert",
			Needs:   "a writable directory the worker's policy allows (stress.diskPaths)",
			Reverts: "the worker removes the fill file, at its start-up after a crash, or the guardian does",
			Params: []Param{
				{Name: "path", Type: TypeString, Required: true, Parse: check(checkAbsPath),
					Help: "absolute path of an existing directory; the worker creates murphy-stress-disk-<id>.fill in it"},
				{Name: "bytes", Type: TypeString, Required: true, Parse: parseBytes,
					Help: "how much space to take, e.g. 10GiB; refused beyond the free space"},
			},
			decode: func(v values) (Params, error) {
				return StressDisk{Path: filepath.Clean(v.str("path")), Bytes: value[int64](v, "bytes"), Size: v.raw("bytes")}, nil
			},
		},
	)
}
