package main

import (
	"fmt"
	"io"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/export"
)

func runQuantize(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("quantize", "MODEL_DIR --out DIR [--blocksize 64] [--double-quant=true]", stderr)
	out := fs.String("out", "", "folder to create for the quantized checkpoint (must not exist)")
	blocksize := fs.Int("blocksize", 64, "NF4 block size (a power of two, 32 to 4096)")
	double := fs.Bool("double-quant", true, "quantize the block scales again (QLoRA's double quantization)")
	shardGB := fs.Float64("max-shard-gb", 5, "largest safetensors shard, in GiB")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return fmt.Errorf("%w: qlora quantize MODEL_DIR --out DIR", errUsage)
	}
	start := time.Now()
	progress := newProgress(stderr, "quantize")
	err = export.WriteBnB4bit(pos[0], *out, export.BnB4bitOptions{
		Blocksize:     *blocksize,
		DoubleQuant:   *double,
		MaxShardBytes: int64(*shardGB * (1 << 30)),
		Progress:      progress.update,
	})
	progress.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s in %.1fs\n", *out, time.Since(start).Seconds())
	return nil
}
