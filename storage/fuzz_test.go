package storage

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"
)

// fuzzRecord checks a record decoder on arbitrary bytes: no panic, and whatever it accepts is a
// fixed point of encoding and decoding again.
func fuzzRecord[T any](f *testing.F, decode func([]byte) (T, error), seeds ...any) {
	for _, s := range seeds {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"name":"x","path":"/p","folder":"../escape"}`))
	f.Add([]byte(`{"id":1,"name":"r","dir":"relative","status":"running"}`))
	f.Add([]byte(`{"name":1e999}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decode(data)
		if err != nil {
			return
		}
		first, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", data, err)
		}
		again, err := decode(first)
		if err != nil {
			t.Fatalf("cannot read our own encoding %s: %v", first, err)
		}
		second, _ := json.Marshal(again)
		if !bytes.Equal(first, second) {
			t.Fatalf("not a fixed point:\n%s\n%s", first, second)
		}
	})
}

var fuzzTime = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// FuzzDecodeModel ensures the model decoder neither panics nor accepts a record whose folders
// leave the library.
func FuzzDecodeModel(f *testing.F) {
	fuzzRecord(f, func(b []byte) (Model, error) {
		m, err := decodeModel(b)
		if err == nil && !localPaths(m.folders()) {
			panic("accepted a folder outside the library")
		}
		return m, err
	}, Model{Name: "m", Path: "/models/m", Folder: "models/0001-m", Architecture: "llama", Parameters: 7e9,
		Files: []File{{Name: "config.json", Size: 600, SHA256: "ab", ModTime: fuzzTime}},
		NF4:   []NF4Base{{Blocksize: 64, DoubleQuant: true, Path: "models/0001-m/nf4-b64-dq"}}, Added: fuzzTime})
}

// FuzzDecodeDataset ensures the dataset decoder neither panics nor accepts paths outside the library.
func FuzzDecodeDataset(f *testing.F) {
	fuzzRecord(f, func(b []byte) (Dataset, error) {
		d, err := decodeDataset(b)
		if err == nil && !localPaths([]string{d.Folder, d.Path}) {
			panic("accepted a path outside the library")
		}
		return d, err
	}, Dataset{Name: "d", Path: "datasets/0001-d/d.jsonl", Folder: "datasets/0001-d", Shape: "alpaca", Rows: 10,
		Stats: []TokenStats{{Model: "m", MaxLength: 2048, Lengths: Lengths{Mean: 12.5}}}})
}

// FuzzDecodeRun ensures the run decoder does not panic.
func FuzzDecodeRun(f *testing.F) {
	loss := 1.25
	fuzzRecord(f, decodeRun, Run{ID: 3, Name: "r", Dir: "/runs/r", Status: StatusRunning, Loss: &loss, Checkpoints: []int{4, 8}, Created: fuzzTime})
}

// FuzzDecodeExport ensures the export decoder does not panic.
func FuzzDecodeExport(f *testing.F) {
	fuzzRecord(f, decodeExport, Export{Run: 1, Seq: 2, Kind: "gguf", Path: "/out/model.gguf", Created: fuzzTime})
}

// FuzzDecodePoint ensures the point decoders accept only their exact encodings and read them back
// bit for bit.
func FuzzDecodePoint(f *testing.F) {
	b := make([]byte, pointSize)
	encodePoint(b, Point{Step: 7, Time: fuzzTime, Epoch: 0.5, Loss: 2.25, LR: 2e-4, GradNorm: math.NaN(), Tokens: 512, TokensPerS: 900, MemoryBytes: 1 << 30, GPUUtil: 97})
	f.Add(uint64(7), b)
	e := make([]byte, evalPointSize)
	encodeEvalPoint(e, EvalPoint{Step: 8, Time: fuzzTime, Loss: 2, Perplexity: math.Exp(2), Best: true})
	f.Add(uint64(8), e)
	f.Add(uint64(1)<<40, b)
	f.Add(uint64(9), v1Point(fuzzTime, 2.5, 1<<30))
	f.Fuzz(func(t *testing.T, step uint64, data []byte) {
		if p, err := decodePoint(step, data); err == nil {
			out := make([]byte, pointSize)
			encodePoint(out, p)
			// A version-1 point is written as version 2: the same fields, the utilisation unknown.
			upgraded := len(data) == pointV1Size && bytes.Equal(out[1:pointV1Size], data[1:]) && math.IsNaN(p.GPUUtil)
			if !bytes.Equal(out, data) && !upgraded || uint64(p.Step) != step {
				t.Fatalf("point %x read as %+v, written as %x", data, p, out)
			}
		}
		if p, err := decodeEvalPoint(step, data); err == nil {
			out := make([]byte, evalPointSize)
			encodeEvalPoint(out, p)
			if !bytes.Equal(out, data) || uint64(p.Step) != step {
				t.Fatalf("eval point %x read as %+v, written as %x", data, p, out)
			}
		}
	})
}

// FuzzEventLines ensures the events reader takes any bytes without panicking and accounts for
// every complete line it is given.
func FuzzEventLines(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"step","time":"2025-03-01T12:00:00.000Z","step":1,"loss":2.5}` + "\n"))
	f.Add([]byte(`{"v":1,"type":"eval","time":"x","step":-4,"eval_loss":1e400}` + "\n\n" + `{"type":"finished"}` + "\n"))
	f.Add([]byte("garbage\n{\"type\":\"started\",\"total_steps\":-1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		data = append(bytes.Clone(data), '\n')
		var b eventBatch
		b.parse(data)
		lines := bytes.Count(data, []byte("\n"))
		if got := len(b.points) + len(b.evals) + len(b.events) + b.badLines; got > lines {
			t.Fatalf("%d lines gave %d results", lines, got)
		}
		var r Run
		b.apply(&r)
	})
}

func localPaths(paths []string) bool {
	for _, p := range paths {
		if !isLocal(p) {
			return false
		}
	}
	return true
}

func isLocal(p string) bool { return p != "" && filepath.IsLocal(p) }
