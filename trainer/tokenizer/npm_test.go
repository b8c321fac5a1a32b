package tokenizer

import (
	"sync"
	"testing"

	"github.com/qlora-studio/qlora-studio/internal/npmtok"
)

var (
	npmMutex   sync.Mutex
	loadedOnce = map[string]*sync.Once{}
	loaded     = map[string]*Tokenizer{}
	loadedErr  = map[string]error{}
)

// loadNPM loads a cached npm tokenizer once per test binary.
func loadNPM(tb testing.TB, name string) *Tokenizer {
	tb.Helper()
	dir := npmtok.Dir(tb, name)
	npmMutex.Lock()
	once := loadedOnce[name]
	if once == nil {
		once = new(sync.Once)
		loadedOnce[name] = once
	}
	npmMutex.Unlock()
	once.Do(func() {
		tok, err := Load(dir)
		npmMutex.Lock()
		loaded[name], loadedErr[name] = tok, err
		npmMutex.Unlock()
	})
	npmMutex.Lock()
	defer npmMutex.Unlock()
	if loadedErr[name] != nil {
		tb.Fatal(loadedErr[name])
	}
	return loaded[name]
}
