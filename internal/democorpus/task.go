package democorpus

import (
	"encoding/json"
	"io"
	"math/rand/v2"
)

// HeldOutCountries is how many countries the demo task keeps out of its training rows, to score
// the model on questions it was never fine-tuned on.
const HeldOutCountries = 60

// Row is one example of the demo task in the `completion` dataset shape: the model continues
// Prompt, and the Completion (after its leading space) is the exact answer.
type Row struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
}

// Answer is the exact answer a row expects: the completion without its leading space.
func (r Row) Answer() string { return r.Completion[1:] }

// Question is the task's prompt for a country: a question and the start of a terse answer, a format
// the corpus never uses (it answers in full sentences), so the base model does not follow it.
func Question(country string) string {
	return "Question: What is the capital of " + country + "?\nAnswer:"
}

// trainQuestions are the prompts of the training rows: the held-out question and a rephrasing, so
// the fine-tune learns the answer format rather than one string.
var trainQuestions = []func(string) string{
	Question,
	func(c string) string { return "Question: Which city is the capital of " + c + "?\nAnswer:" },
	func(c string) string { return "Question: Name the capital of " + c + ".\nAnswer:" },
}

// Task splits the countries with a fixed seed: train rows (every training country asked every
// way) and held-out rows (one question for each held-out country, none of them in train). Every
// capital is taught by the corpus; only the answer format is new.
func Task() (train, heldOut []Row) {
	order := rand.New(rand.NewPCG(16, 0x7a5c)).Perm(len(Countries))
	for i, k := range order {
		c := Countries[k]
		if i < HeldOutCountries {
			heldOut = append(heldOut, Row{Question(c.Name), " " + c.Capital})
			continue
		}
		for _, q := range trainQuestions {
			train = append(train, Row{q(c.Name), " " + c.Capital})
		}
	}
	return train, heldOut
}

// WriteRows writes rows as JSON Lines.
func WriteRows(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
