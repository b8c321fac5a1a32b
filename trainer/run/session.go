package run

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/qlora-studio/qlora-studio/internal/safefile"
	"github.com/qlora-studio/qlora-studio/trainer/backend"
	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/lora"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// Options are how a run executes; the Config is what it trains.
type Options struct {
	Dir         string          // the run folder
	Backend     backend.Backend // what computes
	Mirror      io.Writer       // also receives every event (`--events -`), or nil
	Progress    io.Writer       // human progress, or nil
	InitAdapter string          // a PEFT adapter folder to start from, or ""
	Resume      bool            // continue from the run folder's latest checkpoint
}

// The files of a run folder.
const (
	ConfigFile     = "run.yaml"
	EventsFile     = "metrics.jsonl"
	CheckpointsDir = "checkpoints"
)

// session is one execution of a run: everything built from the configuration, and the state that
// checkpoints carry.
type session struct {
	cfg    Config
	opt    Options
	events *Events
	start  time.Time

	tok        *tokenizer.Tokenizer
	sets       *data.Sets
	train, val *data.Loader // val is nil without validation data
	m          *model.Model
	optimizer  optim.Optimizer
	sched      optim.Schedule
	state      State
}

// State is what a checkpoint needs beyond the adapter and the optimizer to continue exactly: it
// is written as trainer_state.json.
type State struct {
	Step            int           `json:"step"`
	TotalSteps      int           `json:"total_steps"`
	Position        data.Position `json:"data_position"`
	BestEvalLoss    *float64      `json:"best_eval_loss,omitempty"`
	BestStep        int           `json:"best_step,omitempty"`
	BadEvals        int           `json:"evals_without_improvement"`
	Seed            uint64        `json:"seed"`
	DataFingerprint string        `json:"data_fingerprint"`
}

// prepare builds the session: the run folder and its run.yaml, the tokenizer and data, the model,
// the optimizer and the schedule, and, when resuming, the latest checkpoint's state.
func (s *session) prepare() error {
	if err := s.prepareFolder(); err != nil {
		return err
	}
	var err error
	if s.tok, err = tokenizer.Load(s.cfg.BaseModel); err != nil {
		return err
	}
	if err := s.loadData(); err != nil {
		return err
	}
	if err := s.loadModel(); err != nil {
		return err
	}
	if err := s.makeOptimizer(); err != nil {
		return err
	}
	if s.opt.Resume {
		return s.restore()
	}
	return nil
}

// prepareFolder creates the run folder (refusing one that already holds a run, unless resuming)
// and writes run.yaml.
func (s *session) prepareFolder() error {
	if err := os.MkdirAll(filepath.Join(s.opt.Dir, CheckpointsDir), 0o755); err != nil {
		return err
	}
	path := filepath.Join(s.opt.Dir, ConfigFile)
	if _, err := os.Stat(path); err == nil && !s.opt.Resume {
		return fmt.Errorf("%s already holds a run: resume it with `qlora resume %s`, or train into a new folder", s.opt.Dir, s.opt.Dir)
	}
	if s.opt.InitAdapter != "" && s.cfg.FullTraining {
		return fmt.Errorf("--init-adapter %s: full-parameter training (full_training: true) trains the weights, not an adapter", s.opt.InitAdapter)
	}
	if s.opt.InitAdapter != "" && !s.opt.Resume {
		if err := s.adoptInitAdapter(); err != nil {
			return err
		}
	}
	b, err := s.cfg.Marshal()
	if err != nil {
		return err
	}
	if err := safefile.WriteFile(path, b); err != nil {
		return err
	}
	s.events, err = OpenEvents(filepath.Join(s.opt.Dir, EventsFile), s.opt.Mirror)
	return err
}

// adoptInitAdapter takes the LoRA shape (rank, alpha, targets, rsLoRA) of the adapter a run starts
// from, since its weights fix them; run.yaml then records what is trained.
func (s *session) adoptInitAdapter() error {
	c, err := lora.ReadConfig(filepath.Join(s.opt.InitAdapter, lora.ConfigName))
	if err != nil {
		return err
	}
	var targets []string
	for _, t := range c.TargetModules.List {
		name := t[strings.LastIndex(t, ".")+1:]
		if slices.Contains(AllLinear, name) && !slices.Contains(targets, name) {
			targets = append(targets, name)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("%s: target_modules %v names none of %v", s.opt.InitAdapter, c.TargetModules, AllLinear)
	}
	s.cfg.LoRAR, s.cfg.LoRAAlpha, s.cfg.UseRSLoRA, s.cfg.LoRATargetModules = c.R, c.LoraAlpha, c.UseRSLoRA, targets
	return s.cfg.Validate()
}

// loadData reads the training (and validation) data and makes their loaders.
func (s *session) loadData() error {
	template, _, err := data.ChatTemplateFor(s.tok, s.cfg.ChatTemplate)
	if err != nil {
		return err
	}
	shape, err := data.ParseShape(s.cfg.DatasetFormat)
	if err != nil {
		return err
	}
	opts := data.Options{Shape: shape, Template: template, TrainOnInputs: s.cfg.TrainOnInputs,
		MaxLength: s.cfg.MaxSeqLength, SkipBad: s.cfg.SkipBadRows}
	s.sets, err = data.LoadSets(s.cfg.Dataset, s.cfg.ValDataset, s.cfg.ValSetSize, s.cfg.Seed, s.tok, opts)
	if errors.Is(err, data.ErrBadRecords) {
		return fmt.Errorf("%w\n(set skip_bad_rows: true to train on the good rows)", err)
	}
	if err != nil {
		return err
	}
	pad, _ := s.tok.EOS()
	lc := data.LoaderConfig{BatchSize: s.cfg.MicroBatchSize, MaxLength: s.cfg.MaxSeqLength,
		Packing: s.cfg.Packing, Shuffle: s.cfg.Shuffle, Seed: s.cfg.Seed, PadID: pad}
	if s.train, err = data.NewLoader(s.sets.TrainSamples, lc); err != nil {
		return fmt.Errorf("%s: %w", s.cfg.Dataset, err)
	}
	if len(s.sets.ValSamples) > 0 {
		lc.Shuffle = false
		if s.val, err = data.NewLoader(s.sets.ValSamples, lc); err != nil {
			return fmt.Errorf("validation data: %w", err)
		}
	}
	s.state.Seed, s.state.DataFingerprint = s.cfg.Seed, s.train.Fingerprint()
	return nil
}

// loadModel puts the base on the backend with fresh (or the initial adapter's) LoRA weights, or,
// in full-parameter training, with every weight trainable.
func (s *session) loadModel() error {
	opts := model.Options{Base: model.BaseFull, Blocksize: s.cfg.BnB4bitBlocksize, DoubleQuant: s.cfg.BnB4bitUseDoubleQuant,
		Adapter: s.adapterConfig(), Seed: s.cfg.Seed, GradientCheckpointing: s.cfg.GradientCheckpointing}
	if s.cfg.FullTraining {
		opts.Adapter, opts.FullTraining = nil, true
	}
	if s.cfg.LoadIn4Bit {
		opts.Base = model.BaseNF4
	}
	if s.opt.InitAdapter != "" && !s.opt.Resume {
		ad, err := lora.Load(s.opt.InitAdapter)
		if err != nil {
			return err
		}
		opts.Init = ad
	}
	var err error
	s.m, err = model.Load(s.opt.Backend, s.cfg.BaseModel, opts)
	return err
}

// adapterConfig is the PEFT configuration of the adapter this run trains.
func (s *session) adapterConfig() *lora.AdapterConfig {
	c := lora.DefaultConfig()
	c.R, c.LoraAlpha, c.LoraDropout, c.UseRSLoRA = s.cfg.LoRAR, s.cfg.LoRAAlpha, s.cfg.LoRADropout, s.cfg.UseRSLoRA
	c.TargetModules = lora.Strings{List: s.cfg.LoRATargetModules}
	c.TaskType, c.BaseModelNameOrPath = "CAUSAL_LM", s.cfg.BaseModel
	return c
}

// makeOptimizer builds the optimizer over the adapters and the schedule over the run's length.
func (s *session) makeOptimizer() error {
	var segments []optim.Segment
	for _, p := range s.m.ParamTensors() {
		segments = append(segments, optim.Segment{Name: p.Name, Offset: p.Offset, Len: p.Len})
	}
	h := optim.Hyper{Beta1: s.cfg.AdamBeta1, Beta2: s.cfg.AdamBeta2, Eps: s.cfg.AdamEpsilon, WeightDecay: s.cfg.WeightDecay,
		NoDecay: s.m.NoDecay()}
	var err error
	if s.optimizer, err = optim.New(s.cfg.Optim, s.opt.Backend, s.m.Params(), s.m.Grads(), segments, h); err != nil {
		return err
	}
	s.state.TotalSteps = s.totalSteps()
	warmup := optim.WarmupSteps(s.state.TotalSteps, s.cfg.WarmupSteps, s.cfg.WarmupRatio)
	s.sched, err = optim.NewSchedule(s.cfg.LRSchedulerType, s.cfg.LearningRate, warmup, s.state.TotalSteps)
	return err
}

// stepsPerEpoch is the optimizer steps of one pass over the data, at least one.
func (s *session) stepsPerEpoch() int {
	return max(1, s.train.Len()/s.cfg.GradientAccumulationSteps)
}

// totalSteps is max_steps when set, else num_train_epochs passes over the data (rounded up), as
// transformers' Trainer counts them.
func (s *session) totalSteps() int {
	if s.cfg.MaxSteps > 0 {
		return s.cfg.MaxSteps
	}
	return int(ceilFloat(s.cfg.NumTrainEpochs * float64(s.stepsPerEpoch())))
}

func ceilFloat(x float64) float64 {
	if i := float64(int(x)); i < x {
		return i + 1
	}
	return x
}
