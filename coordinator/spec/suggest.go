package spec

import (
	"strconv"
	"strings"
)

// suggest builds the tail of an "unknown" message: a close candidate when
// there is one (typos are the usual cause), else the full list so the user
// does not have to open the docs.
func suggest(got string, candidates []string, listIntro string) string {
	if best := closest(got, candidates); best != "" {
		return "did you mean " + strconv.Quote(best) + "?"
	}
	return listIntro + " " + strings.Join(candidates, ", ")
}

// didYouMean returns `; did you mean "x"?` or nothing.
func didYouMean(got string, candidates []string) string {
	if best := closest(got, candidates); best != "" {
		return "; did you mean " + strconv.Quote(best) + "?"
	}
	return ""
}

// closest returns the candidate nearest to got by edit distance, ignoring
// case, if it is near enough to be a plausible typo: at most a third of the
// word's length, and at least one edit allowed.
func closest(got string, candidates []string) string {
	if len(got) > 64 {
		return ""
	}
	g := strings.ToLower(got)
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(g, strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(1, len([]rune(got))/3)
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
