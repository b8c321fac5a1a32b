// Command qlora-studio is the desktop app of QLoRA Studio: fine-tune Llama-family models with QLoRA
// on one workstation GPU by pointing and clicking. Training runs in the `qlora` engine, which the
// app starts as a child process for each run (see package app).
package main

import (
	"fmt"
	"os"

	"github.com/qlora-studio/qlora-studio/app"
)

func main() {
	if err := app.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "qlora-studio:", err)
		os.Exit(1)
	}
}
