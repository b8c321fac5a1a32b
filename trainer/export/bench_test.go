package export

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qlora-studio/qlora-studio/internal/tinymodel"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/run"
	"github.com/qlora-studio/qlora-studio/trainer/safetensors"
)

// streamingShape is Llama-7B's layer shape with 10 layers: 2.29 billion parameters, 4.6 GB in
// bfloat16, its largest projection 11008 × 4096.
var streamingShape = tinymodel.Shape{Arch: "llama", Vocab: 32000, Hidden: 4096, Intermediate: 11008, Layers: 10, Heads: 32, KVHeads: 32}

// BenchmarkMerge_Streaming4GB merges an r=16 adapter on all seven projections into a synthetic
// 4.6 GB bfloat16 model and reports the peak anonymous memory (RssAnon: the heap and stacks, not
// the memory-mapped base, whose pages the kernel can drop at will) sampled every 2 ms during the
// merge. The merge streams tensor by tensor, so the figure stays near the largest tensor's bytes,
// whatever the model's size; the model alone is 4.6 GB. It needs about 10 GB of free space in
// TMPDIR, so it is a benchmark, outside the normal test run:
//
//	go test -run '^$' -bench Merge_Streaming4GB -benchtime 1x ./trainer/export/
func BenchmarkMerge_Streaming4GB(b *testing.B) {
	baseDir := writeBase(b, streamingShape)
	adapterDir := filepath.Join(b.TempDir(), "adapter")
	if err := lora.Save(adapterDir, randomAdapter(b, baseDir, 16, 32, run.AllLinear, 1), safetensors.F32); err != nil {
		b.Fatal(err)
	}
	modelBytes, _ := folderBytes(baseDir)
	runtime.GC()
	debug.FreeOSMemory() // give back what writing the model took, so the figure is the merge's
	before := rssAnon(b)
	b.SetBytes(modelBytes)
	b.ResetTimer()
	var peak int64
	for i := 0; i < b.N; i++ {
		out := filepath.Join(b.TempDir(), fmt.Sprint("merged-", i))
		stop := sampleRssAnon(b, &peak)
		_, err := Export(context.Background(), adapterDir, out, Options{Format: Merged, Base: baseDir})
		stop()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
	b.ReportMetric(float64(modelBytes)/(1<<30), "model-GiB")
	b.ReportMetric(float64(before)/(1<<20), "RssAnon-before-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RssAnon-MiB")
}

// sampleRssAnon raises *peak to the largest RssAnon seen until stop is called.
func sampleRssAnon(b *testing.B, peak *int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			*peak = max(*peak, rssAnon(b))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// rssAnon reads the process's resident anonymous memory from /proc/self/status, in bytes.
func rssAnon(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("RssAnon: %q", v)
			}
			return kb << 10
		}
	}
	b.Skip("/proc/self/status has no RssAnon")
	return 0
}
