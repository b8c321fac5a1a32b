package storage

import (
	"testing"

	"github.com/qlora-studio/qlora-studio/trainer/run"
)

// TestLibrary_RunDoc ensures a run's configuration comes back as a layer that resolves to what
// it trained with, with the base model folder the run was given in place of the cached NF4 copy
// its run.yaml names.
func TestLibrary_RunDoc(t *testing.T) {
	l := openTemp(t, nil)
	dir := runFolder(t, t.TempDir(), "r")
	r, err := l.RecordRun(NewRun{Dir: dir, BaseModel: "/models/llama", Config: []byte("base_model: /library/nf4/llama-64-dq\nlora_r: 32\n")})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := l.RunDoc(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := run.Layers{Docs: []run.Doc{doc}}.Resolve()
	if err != nil || cfg.BaseModel != "/models/llama" || cfg.LoRAR != 32 || doc.Source != "run r" {
		t.Errorf("%s resolves to base %q, lora_r %d (%v)", doc.Source, cfg.BaseModel, cfg.LoRAR, err)
	}
	_, err = l.RunDoc(r.ID + 1)
	wantErr(t, err, ErrNotFound)
}
