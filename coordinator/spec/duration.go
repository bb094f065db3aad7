package spec

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
)

// Durations are written in specs as Go duration strings ("30s", "2m", "1h30m"). A bare
// number is rejected: "30" could mean seconds or nanoseconds, and guessing wrong in a
// chaos tool is expensive.

// DurationText renders the shortest form time.ParseDuration reads back, so messages say
// "2m" rather than "2m0s".
func DurationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// pbDur is the message form of a parsed duration; zero stays unset, so a default the
// decoder did not fill reads as absent.
func pbDur(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}
