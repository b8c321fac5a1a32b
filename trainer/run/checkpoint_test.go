package run

import (
	"os"
	"reflect"
	"testing"
)

// TestPrune_KeepsNewestAndBest ensures save_total_limit deletes the oldest checkpoints but never the
// best one, and ignores the temporary folders an interrupted write leaves.
func TestPrune_KeepsNewestAndBest(t *testing.T) {
	dir := t.TempDir()
	for _, step := range []int{2, 4, 6, 8, 10} {
		os.MkdirAll(CheckpointDir(dir, step), 0o755)
	}
	os.MkdirAll(dir+"/checkpoints/.step-12.tmp-1", 0o755)
	s := &session{cfg: Config{SaveTotalLimit: 2}, opt: Options{Dir: dir},
		state: State{BestStep: 4, BestEvalLoss: Float(1.5)}}
	if err := s.prune(); err != nil {
		t.Fatal(err)
	}
	if steps, _ := Checkpoints(dir); !reflect.DeepEqual(steps, []int{4, 10}) {
		t.Errorf("kept %v, want [4 10]", steps)
	}
}
