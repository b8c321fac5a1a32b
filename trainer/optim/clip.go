package optim

import (
	"math"

	"github.com/qlora-studio/qlora-studio/trainer/backend"
)

// ClipGradNorm is torch.nn.utils.clip_grad_norm_ over the whole gradient arena: it returns the
// global L2 norm and, when maxNorm > 0 and the coefficient maxNorm/(norm + 1e-6) is below 1,
// scales the gradients by it. maxNorm ≤ 0 turns clipping off (the norm is still returned).
//
// The norm is sqrt(SumSquares) in float64, where torch takes the norm of per-tensor norms in the
// gradients' precision. A non-finite norm is returned and the gradients are left as they are
// (torch would multiply them by NaN or 0); the caller decides what to do with the step.
func ClipGradNorm(be backend.Backend, grads backend.Tensor, maxNorm float64) float64 {
	norm := math.Sqrt(be.SumSquares(grads))
	if maxNorm > 0 {
		if coef := maxNorm / (norm + 1e-6); coef < 1 {
			be.Scale(grads, coef)
		}
	}
	return norm
}
