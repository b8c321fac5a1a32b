package democorpus

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
)

// Generate returns documents of the corpus until their texts add up to at least bytes, from seed.
// The same seed and size give the same documents on every machine.
func Generate(seed uint64, bytes int) []string {
	g := &gen{rng: rand.New(rand.NewPCG(seed, 0xdec0))}
	var docs []string
	for n := 0; n < bytes; {
		d := g.document()
		docs = append(docs, d)
		n += len(d)
	}
	return docs
}

// WriteJSONL writes docs as the `text` dataset shape: one {"text": ...} object a line.
func WriteJSONL(w io.Writer, docs []string) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, d := range docs {
		if err := enc.Encode(map[string]string{"text": d}); err != nil {
			return err
		}
	}
	return nil
}

// UnigramEntropy is the entropy, in nats, of the distribution counts describe: the loss per
// symbol of the best model that ignores context. A language model's loss on the same symbols
// must fall well below it to show that it learned more than symbol frequencies.
func UnigramEntropy[K comparable](counts map[K]int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(total)
			h -= p * math.Log(p)
		}
	}
	return h
}

// gen draws the corpus's documents.
type gen struct {
	rng *rand.Rand
	b   strings.Builder
}

func (g *gen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

// say appends a sentence (a space before it unless it opens the document).
func (g *gen) say(format string, args ...any) {
	if g.b.Len() > 0 {
		g.b.WriteByte(' ')
	}
	fmt.Fprintf(&g.b, format, args...)
}

// document draws one document: a story (most), a counting story, a geography lesson or a
// classroom dialogue about capitals. Geography takes a large share so that the small model learns
// every country's capital by heart.
func (g *gen) document() string {
	g.b.Reset()
	switch r := g.rng.Float64(); {
	case r < 0.40:
		g.story()
	case r < 0.52:
		g.counting()
	case r < 0.78:
		g.geography()
	default:
		g.classroom()
	}
	return g.b.String()
}

// person is a character with the pronouns the templates need.
type person struct{ name, he, him, his string }

func (g *gen) person() person {
	if g.chance(0.5) {
		return person{g.pick(girls), "she", "her", "her"}
	}
	return person{g.pick(boys), "he", "him", "his"}
}

// friend is a second character, never the first.
func (g *gen) friend(p person) person {
	for {
		q := g.person()
		if q.name != p.name {
			return q
		}
	}
}

func capital(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

func article(word string) string {
	if strings.ContainsAny(word[:1], "aeiou") {
		return "an " + word
	}
	return "a " + word
}

// story: a setting, an object with a colour, a problem with its cause, a helper and an ending.
func (g *gen) story() {
	p := g.person()
	f := g.friend(p)
	place := g.pick(places)
	colour, toy := g.pick(colours), g.pick(toys)
	switch g.rng.IntN(3) {
	case 0:
		g.say("Once upon a time, there was a %s named %s.", map[string]string{"she": "girl", "he": "boy"}[p.he], p.name)
	case 1:
		g.say("One %s day, %s went to the %s.", g.pick(weathers), p.name, place)
	default:
		g.say("On %s, %s and %s played in the %s.", g.pick(weekdays), p.name, f.name, place)
	}
	g.say("%s had %s %s %s.", capital(p.he), article(g.pick(sizes)), colour, toy)
	g.say("%s loved the %s %s very much.", capital(p.he), colour, toy)
	switch g.rng.IntN(4) {
	case 0:
		g.say("Then the wind blew, and the %s flew up into a tall tree.", toy)
		g.say("%s was %s because %s could not reach it.", p.name, g.pick([]string{"sad", "scared", "angry"}), p.he)
		g.say("%s came with a long stick and pushed the %s down.", f.name, toy)
	case 1:
		g.say("Then it began to rain, and the %s got wet and dirty.", toy)
		g.say("%s was sad because the %s was not %s any more.", p.name, toy, colour)
		g.say("%s helped %s wash the %s with warm water, and soon it was %s again.", f.name, p.him, toy, colour)
	case 2:
		animal := g.pick(animals)
		g.say("A little %s came and took the %s away.", animal, toy)
		g.say("%s ran after the %s, but the %s was too fast.", p.name, animal, animal)
		g.say("%s gave the %s %s %s, so the %s dropped the %s.", f.name, animal, article(g.pick(foods)), "to eat", animal, toy)
	default:
		g.say("But one day %s lost the %s at the %s.", p.he, toy, place)
		g.say("%s looked everywhere and felt %s.", capital(p.he), g.pick([]string{"sad", "tired", "scared"}))
		g.say("%s found the %s %s under a bench and gave it back.", f.name, colour, toy)
	}
	feeling := g.pick([]string{"happy", "glad", "proud", "excited"})
	g.say("%s was %s again.", p.name, feeling)
	g.say("%s said, \"Thank you, %s!\"", capital(p.he), f.name)
	if g.chance(0.5) {
		g.say("After that, %s and %s went home to eat %s with %s %s.", p.name, f.name, article(g.pick(foods)), p.his, g.pick(relatives))
	}
	if g.chance(0.4) {
		g.say("%s was %s, so %s went to bed early.", p.name, g.pick([]string{"tired", "sleepy"}), p.he)
	}
}

// counting: small sums and differences that always add up.
func (g *gen) counting() {
	p := g.person()
	f := g.friend(p)
	food := g.pick(foods)
	a := 1 + g.rng.IntN(6)
	if g.chance(0.5) {
		b := 1 + g.rng.IntN(10-a)
		g.say("%s had %s %s%s.", p.name, numbers[a], food, plural(a))
		g.say("%s gave %s %s more %s%s.", f.name, p.him, numbers[b], food, plural(b))
		g.say("Now %s has %s %s%s.", p.name, numbers[a+b], food, plural(a+b))
		g.say("%s plus %s is %s.", capital(numbers[a]), numbers[b], numbers[a+b])
	} else {
		a += 3
		b := 1 + g.rng.IntN(a)
		g.say("%s had %s %s%s.", p.name, numbers[a], food, plural(a))
		g.say("%s ate %s of them because %s was hungry.", capital(p.he), numbers[b], p.he)
		g.say("Now %s has %s %s%s left.", p.name, numbers[a-b], food, plural(a-b))
		g.say("%s minus %s is %s.", capital(numbers[a]), numbers[b], numbers[a-b])
	}
	n := 2 + g.rng.IntN(8)
	colour := g.pick(colours)
	g.say("In the %s, %s saw %s %s %ss.", g.pick(places), p.name, numbers[n], colour, g.pick(animals))
	g.say("%s counted them: %s.", capital(p.he), countTo(n))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func countTo(n int) string {
	return strings.Join(numbers[1:n+1], ", ")
}

// geography: a few countries, each with its capital said in several ways.
func (g *gen) geography() {
	k := 2 + g.rng.IntN(3)
	for i := 0; i < k; i++ {
		c := Countries[g.rng.IntN(len(Countries))]
		switch g.rng.IntN(5) {
		case 0:
			g.say("%s is a country in %s.", c.Name, c.Continent)
			g.say("The capital of %s is %s.", c.Name, c.Capital)
		case 1:
			g.say("The capital of %s is %s.", c.Name, c.Capital)
			g.say("%s is a big city with many old houses.", c.Capital)
		case 2:
			g.say("%s is the capital of %s.", c.Capital, c.Name)
			g.say("%s is in %s.", c.Name, c.Continent)
		case 3:
			g.say("%s lives in %s, the capital of %s.", g.pick(append(girls, boys...)), c.Capital, c.Name)
			g.say("The capital of %s is %s.", c.Name, c.Capital)
		default:
			g.say("In %s, the capital city is %s.", c.Name, c.Capital)
			g.say("Many people visit %s every year.", c.Capital)
		}
	}
}

// classroom: a teacher and children asking each other about capitals, answered in full
// sentences (the demo's fine-tune teaches a terser answer format).
func (g *gen) classroom() {
	t := g.pick(teachers)
	p := g.person()
	g.say("At school, %s asked the class about the capitals of the world.", t)
	k := 2 + g.rng.IntN(3)
	for i := 0; i < k; i++ {
		c := Countries[g.rng.IntN(len(Countries))]
		q := g.person()
		switch g.rng.IntN(3) {
		case 0:
			g.say("\"What is the capital of %s?\" asked %s.", c.Name, t)
			g.say("%s said, \"The capital of %s is %s.\"", q.name, c.Name, c.Capital)
		case 1:
			g.say("%s asked, \"Do you know the capital of %s?\"", q.name, c.Name)
			g.say("\"Yes,\" said %s. \"The capital of %s is %s.\"", p.name, c.Name, c.Capital)
		default:
			g.say("\"Which city is the capital of %s?\" asked %s.", c.Name, q.name)
			g.say("\"%s is the capital of %s,\" said %s.", c.Capital, c.Name, t)
		}
	}
	g.say("%s said, \"Well done, everyone!\"", t)
}
