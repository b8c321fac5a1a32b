package tokenizer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// The reference for the hand scanners: Oniguruma's semantics spelled out the slow, obvious way.
// At each position the alternatives are tried in order, each anchored there with Go's regexp
// (whose leftmost-first matching picks what a backtracking engine picks for one alternative);
// `\s+(?!\S)` is tried by backtracking over the run of spaces by hand. The white-space class is
// written out from Unicode's White_Space list rather than taken from package unicode.
const refSpace = `[\x{9}-\x{D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]`

var refWhiteSpace = regexp.MustCompile(`^` + refSpace)

// lookaheadAlt stands for `\s+(?!\S)` in the lists below.
const lookaheadAlt = "LOOKAHEAD"

var referenceAlternatives = map[string][]string{
	gpt2Pattern: {`'s|'t|'re|'ve|'m|'ll|'d`, ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`, lookaheadAlt, `\s+`},
	llama3Pattern: {`(?i:'s|'t|'re|'ve|'m|'ll|'d)`, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}{1,3}`,
		` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`, lookaheadAlt, `\s+`},
	qwen2Pattern: {`(?i:'s|'t|'re|'ve|'m|'ll|'d)`, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}`,
		` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`, lookaheadAlt, `\s+`},
}

type referenceScanner struct{ alts []*regexp.Regexp } // nil for the lookahead

func newReferenceScanner(pattern string) *referenceScanner {
	r := &referenceScanner{}
	for _, alt := range referenceAlternatives[pattern] {
		if alt == lookaheadAlt {
			r.alts = append(r.alts, nil)
			continue
		}
		// \s in and out of classes, by its Unicode definition.
		alt = strings.ReplaceAll(alt, `[^\s`, `[^`+strings.Trim(refSpace, "[]"))
		alt = strings.ReplaceAll(alt, `\s`, refSpace)
		r.alts = append(r.alts, regexp.MustCompile(`^(?:`+alt+`)`))
	}
	return r
}

func (r *referenceScanner) matches(s string) [][2]int {
	var out [][2]int
	for pos := 0; pos < len(s); {
		end := -1
		for _, re := range r.alts {
			if re == nil {
				end = spacesNotFollowedByNonSpace(s, pos)
			} else if loc := re.FindStringIndex(s[pos:]); loc != nil && loc[1] > 0 {
				end = pos + loc[1]
			}
			if end >= 0 {
				break
			}
		}
		if end < 0 { // no match here: the search moves on
			_, n := utf8.DecodeRuneInString(s[pos:])
			pos += n
			continue
		}
		out = append(out, [2]int{pos, end})
		pos = end
	}
	return out
}

// spacesNotFollowedByNonSpace is `\s+(?!\S)` at pos by backtracking: the longest run of spaces
// after which comes the end or another space, or -1.
func spacesNotFollowedByNonSpace(s string, pos int) int {
	var ends []int
	for i := pos; i < len(s); {
		loc := refWhiteSpace.FindStringIndex(s[i:])
		if loc == nil {
			break
		}
		i += loc[1]
		ends = append(ends, i)
	}
	for k := len(ends) - 1; k >= 0; k-- {
		if e := ends[k]; e == len(s) || refWhiteSpace.MatchString(s[e:]) {
			return e
		}
	}
	return -1
}

var scannerSeeds = []string{
	"", "Hello world", "  two", "trailing  ", "a  b", " \t\n x", "\n\n\n", "\r\n\r\n  x",
	"don't I'M it'S we'Ve 'LL 'll'd 'x", "'\u017f s'\u017fx", "1 12 123 1234 12345", "x2y33z",
	"\u0663\u0664\u0665\u0666 \uff11\uff12", " !!! ??? ...", "a.b,c;d", " \u3000 \u3000x",
	"\u00a0\u00a0x", "tabs\t\tx", "x \n", " \n y", "\u65e5\u672c\u8a9e \U0001F917\U0001F917",
	"caf\u00e9 e\u0301", "\u0085\u2028\u2029x", "   ", "\t", "\x00\x01", "Z\u0351\u036b",
	"end!\n", "!!\r\n\r\nx", " 'sx", "\u200d\u200c", "12,345.67", "x\u2000\u2001y",
}

// TestScanner_Reference ensures the hand scanners and the translated-regexp matcher agree with
// the reference on the seeds.
func TestScanner_Reference(t *testing.T) {
	for _, s := range scannerSeeds {
		checkScanners(t, s)
	}
}

var referenceScanners = func() map[string]*referenceScanner {
	m := map[string]*referenceScanner{}
	for pattern := range referenceAlternatives {
		m[pattern] = newReferenceScanner(pattern)
	}
	return m
}()

func checkScanners(t *testing.T, s string) {
	t.Helper()
	for pattern, ref := range referenceScanners {
		want := ref.matches(s)
		got := knownScanner(pattern).appendMatches(nil, s)
		if !slices.Equal(got, want) {
			t.Fatalf("scanner for %.40q… on %q:\n got %s\nwant %s", pattern, s, showMatches(s, got), showMatches(s, want))
		}
		re, err := compileRegexp(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := re.appendMatches(nil, s); !slices.Equal(got, want) {
			t.Fatalf("translated regexp for %.40q… on %q:\n got %s\nwant %s", pattern, s, showMatches(s, got), showMatches(s, want))
		}
	}
}

func showMatches(s string, m [][2]int) string {
	parts := make([]string, len(m))
	for i, x := range m {
		parts[i] = fmt.Sprintf("%q", s[x[0]:x[1]])
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// FuzzPreTokenizerScanner compares the hand scanners and the translated regexps with the
// reference on any text.
func FuzzPreTokenizerScanner(f *testing.F) {
	for _, s := range scannerSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2000 {
			return // the reference is quadratic in runs of spaces
		}
		if !utf8.ValidString(s) {
			s = string(appendLossyUTF8(nil, []byte(s)))
		}
		checkScanners(t, s)
	})
}

// TestCompileRegexp_Refusals ensures patterns Go cannot run exactly are refused with a reason,
// not run wrongly.
func TestCompileRegexp_Refusals(t *testing.T) {
	for _, p := range []string{`a(?=b)`, `(?<=a)b`, `(?<!a)b`, `a++`, `(?>ab)`, `\s(?!\S)x`, `[\S]`, `\h+`} {
		if _, err := compilePattern(p); err == nil {
			t.Errorf("compilePattern(%q) accepted", p)
		}
	}
	// Unicode meanings of \s, \d, \w, as in Oniguruma.
	m, err := compilePattern(`\s+|\d+|\w+`)
	if err != nil {
		t.Fatal(err)
	}
	s := "\u3000\u00a0x\u0663\u0664 _\u00e9"
	var got []string
	for _, x := range m.appendMatches(nil, s) {
		got = append(got, s[x[0]:x[1]])
	}
	if want := []string{"\u3000\u00a0", "x\u0663\u0664", " ", "_\u00e9"}; !slices.Equal(got, want) {
		t.Errorf("matches %q, want %q", got, want)
	}
}
