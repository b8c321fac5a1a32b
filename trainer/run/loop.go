package run

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/qlora-studio/qlora-studio/trainer/data"
	"github.com/qlora-studio/qlora-studio/trainer/model"
	"github.com/qlora-studio/qlora-studio/trainer/optim"
	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// Status is how a run ended.
type Status string

const (
	Finished Status = "finished"
	Stopped  Status = "stopped" // by a signal (SIGTERM, Ctrl-C), after a final checkpoint
	Failed   Status = "failed"  // a NaN or infinite loss or gradient; the last good checkpoint stays
)

// Result is what a run reports when it ends.
type Result struct {
	Status     Status
	Step       int
	Checkpoint string // the final checkpoint folder, if one was written
	Reason     string
}

// ErrNonFinite is the cause of a run that failed on a NaN or infinite loss or gradient.
var ErrNonFinite = errors.New("non-finite loss or gradient")

// Train runs (or, with opt.Resume, continues) a fine-tune in opt.Dir until it finishes, ctx is
// cancelled (then it checkpoints and stops) or it fails.
func Train(ctx context.Context, cfg Config, opt Options) (Result, error) {
	s := &session{cfg: cfg, opt: opt, start: time.Now()}
	if err := s.prepare(); err != nil {
		if s.events != nil {
			s.emit(Event{Type: EventFailed, Reason: err.Error()})
			s.events.Close()
		}
		return Result{Status: Failed, Reason: err.Error()}, err
	}
	defer s.events.Close()
	s.emit(Event{Type: EventStarted, RunDir: opt.Dir, Backend: opt.Backend.Name(), TotalStep: s.state.TotalSteps,
		StepsEpoch: s.stepsPerEpoch(), Trainable: int64(s.m.Params().Len()), Resumed: opt.Resume})
	return s.loop(ctx)
}

// outOfMemory is what a backend panics with when an allocation does not fit (the CUDA backend's
// *cuda.OutOfMemoryError); its message carries the planner's figures and what to change.
type outOfMemory interface {
	error
	OutOfMemory() bool
}

// loop trains step after step, evaluating and checkpointing on schedule. A backend running out of
// memory mid-run ends the run as failed with its reason, keeping the checkpoints written so far.
func (s *session) loop(ctx context.Context) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			oom, ok := r.(outOfMemory)
			if !ok || !oom.OutOfMemory() {
				panic(r)
			}
			res, err = s.fail(oom)
		}
	}()
	for s.state.Step < s.state.TotalSteps {
		if ctx.Err() != nil {
			return s.end(Stopped, "stopped by a signal")
		}
		if err := s.trainStep(); err != nil {
			return s.fail(err)
		}
		stop, err := s.afterStep()
		if err != nil {
			return s.fail(err)
		}
		if stop != "" {
			return s.end(Finished, stop)
		}
	}
	return s.end(Finished, "")
}

// trainStep accumulates the gradients of gradient_accumulation_steps micro-batches, normalised by
// the targets counted across all of them (so k micro-batches equal one batch k times larger),
// clips them and applies one optimizer update.
func (s *session) trainStep() error {
	began := time.Now()
	k := s.cfg.GradientAccumulationSteps
	batches := make([]*model.Batch, k)
	counted, rows := 0, 0
	for i := range batches {
		batches[i] = s.train.Batch(s.state.Position)
		s.state.Position = s.train.Next(s.state.Position)
		counted += batches[i].Counted()
		rows += batches[i].B * batches[i].T
	}
	s.m.ZeroGrads()
	scale := 1 / float64(max(counted, 1))
	var sum float64
	for i, b := range batches {
		l, _, err := s.m.Forward(b, true, uint64(s.state.Step*k+i))
		if err != nil {
			return err
		}
		sum += l
		s.m.Backward(scale)
	}
	loss := sum * scale
	norm := optim.ClipGradNorm(s.opt.Backend, s.m.Grads(), s.cfg.MaxGradNorm)
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(norm) || math.IsInf(norm, 0) {
		return fmt.Errorf("%w at step %d: loss %v, gradient norm %v", ErrNonFinite, s.state.Step+1, loss, norm)
	}
	lr := s.sched.LR(s.state.Step)
	s.optimizer.Step(lr)
	s.state.Step++
	elapsed := time.Since(began).Seconds()
	s.emit(Event{Type: EventStep, Step: s.state.Step, Epoch: s.epoch(), Loss: Float(loss), LR: lr,
		GradNorm: Float(norm), Tokens: counted, TokensPerS: float64(rows) / elapsed, MemoryBytes: memoryInUse(s.opt.Backend),
		GPUUtil: gpuUtilization(s.opt.Backend)})
	return nil
}

// afterStep evaluates and checkpoints when due; it returns why the run should end early, if it should.
func (s *session) afterStep() (string, error) {
	step := s.state.Step
	stop := ""
	if s.cfg.EvalSteps > 0 && step%s.cfg.EvalSteps == 0 && s.val != nil {
		improved, err := s.evaluate()
		if err != nil {
			return "", err
		}
		if improved {
			if _, err := s.checkpoint(); err != nil {
				return "", err
			}
		}
		if p := s.cfg.EarlyStoppingPatience; p > 0 && s.state.BadEvals >= p {
			stop = fmt.Sprintf("early stopping: no improvement in %d evaluations", p)
		}
	}
	if s.cfg.SaveSteps > 0 && step%s.cfg.SaveSteps == 0 {
		if _, err := s.checkpoint(); err != nil {
			return "", err
		}
	}
	return stop, nil
}

// evaluate computes the loss over the validation data, emits it, keeps the best, and counts
// evaluations without improvement. It reports whether this one is the new best.
func (s *session) evaluate() (bool, error) {
	var sum float64
	counted := 0
	for i := 0; i < s.val.Len(); i++ {
		l, n, err := s.m.Forward(s.val.Batch(data.Position{Step: i}), false, 0)
		if err != nil {
			return false, err
		}
		sum, counted = sum+l, counted+n
	}
	loss := sum / float64(max(counted, 1))
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return false, fmt.Errorf("%w at step %d: evaluation loss %v", ErrNonFinite, s.state.Step, loss)
	}
	best := s.state.BestEvalLoss == nil || loss < *s.state.BestEvalLoss-s.cfg.EarlyStoppingThreshold
	if best {
		s.state.BestEvalLoss, s.state.BestStep, s.state.BadEvals = Float(loss), s.state.Step, 0
	} else {
		s.state.BadEvals++
	}
	s.emit(Event{Type: EventEval, Step: s.state.Step, Epoch: s.epoch(), EvalLoss: Float(loss), Perplexity: math.Exp(loss), Best: best})
	return best, s.samples()
}

// samples generates, greedily, continuations of the first eval_samples validation prompts.
func (s *session) samples() error {
	stop := StopTokens(s.tok, s.m.Config)
	for i := 0; i < min(s.cfg.EvalSamples, len(s.sets.ValSamples)); i++ {
		prompt := promptOf(s.sets.ValSamples[i])
		out, err := s.m.Generate(prompt, model.Sampling{MaxTokens: s.cfg.EvalSampleMaxTokens, Stop: stop})
		if err != nil {
			return err
		}
		s.emit(Event{Type: EventSample, Step: s.state.Step, Prompt: s.tok.Decode(prompt, false), Completion: s.tok.Decode(out, true)})
	}
	return nil
}

// StopTokens are the tokens that end a generation: the tokenizer's EOS and every eos_token_id of
// the model's config (Llama 3 and Qwen list end-of-turn tokens there).
func StopTokens(tok *tokenizer.Tokenizer, c *model.Config) []int32 {
	var stop []int32
	if eos, ok := tok.EOS(); ok {
		stop = append(stop, eos)
	}
	for _, id := range c.EOSTokenIDs {
		stop = append(stop, int32(id))
	}
	return stop
}

// promptOf is a sample's tokens before its first trained one (the whole sample when all are trained).
func promptOf(sample data.Sample) []int32 {
	for i, l := range sample.Labels {
		if l >= 0 && i > 0 {
			return sample.IDs[:i]
		}
	}
	return sample.IDs
}

// epoch is the fractional number of epochs done.
func (s *session) epoch() float64 {
	p := s.state.Position
	return float64(p.Epoch) + float64(p.Step)/float64(s.train.Len())
}

// end writes the final checkpoint and the closing event.
func (s *session) end(status Status, reason string) (Result, error) {
	path, err := s.checkpoint()
	if err != nil {
		return s.fail(err)
	}
	typ := EventFinished
	if status == Stopped {
		typ = EventStopped
	}
	ev := Event{Type: typ, Step: s.state.Step, Path: path, Reason: reason}
	if s.state.BestEvalLoss != nil {
		ev.BestEval = *s.state.BestEvalLoss
	}
	s.emit(ev)
	return Result{Status: status, Step: s.state.Step, Checkpoint: path, Reason: reason}, nil
}

// fail ends the run as failed, keeping the checkpoints already written.
func (s *session) fail(err error) (Result, error) {
	s.emit(Event{Type: EventFailed, Step: s.state.Step, Reason: err.Error()})
	return Result{Status: Failed, Step: s.state.Step, Reason: err.Error()}, err
}

// emit stamps the elapsed time and writes the event; progress lines follow the step events.
func (s *session) emit(ev Event) {
	ev.ElapsedS = time.Since(s.start).Seconds()
	if err := s.events.Emit(ev); err != nil && s.opt.Progress != nil {
		fmt.Fprintf(s.opt.Progress, "warning: %v\n", err)
	}
	s.report(ev)
}
