package cpu

import (
	"fmt"
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// CrossEntropy writes into losses (N) the negative log-likelihood of targets[i] under
// softmax(logits[i]) (logits (N,V)), as lse − logit[target] with a max-subtracted log-sum-exp.
// Rows whose target is negative are ignored and get 0. A target ≥ V is a programming error and
// panics naming the row; NaN or infinite logits give a NaN loss, which the training loop reports.
func (bk *cpuBackend[T]) CrossEntropy(losses, logits backend.Tensor, targets []int32, n, v int) {
	bk.runCrossEntropy("CrossEntropy", losses, nil, logits, targets, 0, n, v)
}

// CrossEntropyBackward adds scale·(softmax(logits[i]) − onehot(targets[i])) to row i of dlogits
// (N,V) for every counted row; ignored rows get nothing.
func (bk *cpuBackend[T]) CrossEntropyBackward(dlogits, logits backend.Tensor, targets []int32, scale float64, n, v int) {
	bk.runCrossEntropy("CrossEntropyBackward", nil, dlogits, logits, targets, scale, n, v)
}

func (bk *cpuBackend[T]) runCrossEntropy(op string, losses, dlogits, logits backend.Tensor, targets []int32, scale float64, n, v int) {
	checkSizes(op, n, v)
	if len(targets) != n {
		panic(fmt.Sprintf("cpu.%s: %d targets for %d rows", op, len(targets), n))
	}
	for i, t := range targets {
		if int(t) >= v {
			panic(fmt.Sprintf("cpu.%s: target %d at row %d outside vocabulary of %d", op, t, i, v))
		}
	}
	k := crossEntropyKernel[T]{
		logits:  data[T](logits, op, "logits", n*v),
		targets: targets,
		v:       v,
		scale:   T(scale),
	}
	if losses != nil {
		k.losses = data[T](losses, op, "losses", n)
	} else {
		k.dlogits = data[T](dlogits, op, "dlogits", n*v)
	}
	bk.crossEntropy = k
	bk.launch(n, rowsGrain(v), &bk.crossEntropy)
	bk.crossEntropy = crossEntropyKernel[T]{}
}

type crossEntropyKernel[T Float] struct {
	losses  []T // (N), forward
	dlogits []T // (N,V), backward
	logits  []T // (N,V)
	targets []int32
	v       int
	scale   T
}

func (k *crossEntropyKernel[T]) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		t := int(k.targets[i])
		if t < 0 {
			if k.losses != nil {
				k.losses[i] = 0
			}
			continue
		}
		row := k.logits[i*k.v : (i+1)*k.v]
		mx := maxOf(row)
		sum := expSum(nil, row, mx)
		loss := mx + T(math.Log(float64(sum))) - row[t]
		if k.losses != nil {
			k.losses[i] = loss
			continue
		}
		d := k.dlogits[i*k.v : (i+1)*k.v][:len(row)]
		dt := d[t]
		softmaxAdd(d, row, mx, sum, k.scale)
		var pt [1]T
		expSum(pt[:], row[t:t+1], mx)
		d[t] = dt + k.scale*(pt[0]/sum-1) // the target's term again, with the one-hot
	}
}

// softmaxAdd adds scale·softmax(x) to d, softmax(x)_j = exp(x_j − mx)/sum.
func softmaxAdd[T Float](d, x []T, mx, sum, scale T) {
	d = d[:len(x)]
	if len(x) == 0 {
		return
	}
	is := isaFor[T]()
	if x32, ok := asFloat32(x); ok && (is != isaGo || exactGo) {
		d32, _ := asFloat32(d)
		m, s, sc := float32(mx), float32(sum), float32(scale)
		if is != isaGo {
			softmaxAddAsm(is, &d32[0], &x32[0], len(x32), m, s, sc)
			return
		}
		for j, v := range x32 { // as the assembly: every product rounded on its own
			d32[j] += float32(sc * (exp32(v-m) / s))
		}
		return
	}
	for j, v := range x {
		d[j] += scale * (T(math.Exp(float64(v-mx))) / sum)
	}
}
