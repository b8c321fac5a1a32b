// Command qlora is the engine and the whole command line of QLoRA Studio: everything the desktop app
// does, for servers and scripts. It never imports Fyne.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand: its one-line summary and the function that runs it with the
// arguments after its name.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"version":  {"print the version", runVersion},
	"inspect":  {"describe a model folder: architecture, sizes, parameters, dtypes", runInspect},
	"quantize": {"write a bitsandbytes-layout NF4 checkpoint of a model", runQuantize},
	"eval":     {"loss of a model (and adapter) on token ids", runEval},
	"data":     {"inspect a dataset file: format, rows, token lengths, bad rows, examples", runData},
	"presets":  {"list the built-in presets, or show one", runPresets},
	"config":   {"print the full configuration of a preset, to edit as run.yaml", runConfig},
	"plan":     {"the memory a run will take, and whether it fits the GPU", runPlan},
	"train":    {"fine-tune a model on a dataset", runTrain},
	"generate": {"continue a prompt with a model (and adapter)", runGenerate},
	"bench":    {"time training steps of a named model shape with random weights", runBench},
	"resume":   {"continue a stopped or crashed run from its last checkpoint", runResume},
	"export":   {"write a run's adapter (PEFT), merged model or 4-bit merged model", runExport},
	"demo":     {"fine-tune the bundled demo model for two minutes and show the difference", runDemo},
	"handoff":  {"hand a run to axolotl for a cluster: its YAML, the data, the launch commands", runHandoff},

	"models":   {"the library's models: add (validate, reference or copy), list, show, rm", runModels},
	"datasets": {"the library's datasets: add (validate, copy, measure), list, show, rm", runDatasets},
	"runs":     {"the library's runs: list, show (metrics, checkpoints, exports), compare, rm, add, import", runRuns},
	"library":  {"where the library is and what it holds; check its database", runLibrary},

	"tokenize":   {"token ids of a text, as the model's Hugging Face tokenizer gives them", runTokenize},
	"detokenize": {"the text of token ids", runDetokenize},
	"tokenizer":  {"train a byte-level BPE tokenizer on a text corpus (tokenizer train)", runTokenizer},
}

// errUsage marks an error whose message is a usage text; main exits 2 for it.
var errUsage = errors.New("usage")

// errFlags is a flag error the flag package has already printed with the usage; main exits 2.
var errFlags = errors.New("bad flags")

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "qlora: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFlags):
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "qlora %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "qlora %s: %v\n", args[0], err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "qlora: fine-tune Llama-family models with QLoRA on one workstation")
	fmt.Fprintln(w, "\nUsage: qlora COMMAND [ARGS]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'qlora COMMAND -h' for a command's options.")
}

// newFlags returns a flag set that reports errors instead of exiting, with a usage line.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: qlora %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may come before or after the positional arguments, as users
// type them (`qlora quantize DIR --out X`), and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err == flag.ErrHelp {
			return nil, err
		} else if err != nil {
			return nil, errFlags
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
