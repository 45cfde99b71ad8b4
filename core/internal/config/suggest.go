package config

import (
	"fmt"
	"strings"

	"github.com/agext/levenshtein"
)

// maxSuggestDistance is the largest edit distance at which a name is suggested (hcl uses the
// same threshold for its own "Did you mean" hints).
const maxSuggestDistance = 2

// Suggest returns the candidate closest to name, or "" when none is close: a candidate
// equal to name ignoring case wins, then the one with the smallest edit distance (at most
// 2; the earlier candidate on ties).
func Suggest(name string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(name, c) {
			return c
		}
	}
	best, bestDist := "", maxSuggestDistance+1
	for _, c := range candidates {
		if d := levenshtein.Distance(name, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean returns ` Did you mean "x"?` for the closest candidate, or "".
func didYouMean(name string, candidates []string) string {
	if s := Suggest(name, candidates); s != "" && s != name {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}
