package backend

// FullTrainer is the optional capability of training every weight of a model, not only LoRA
// adapters: the gradients that the LoRA path never needs because the embeddings, the norms and the
// biases are frozen there. The base matrices' gradients need no new op (dW += dyᵀ·x is a Gemm).
// A model finds it by type assertion and refuses full-parameter training with a clear error on a
// backend that lacks it, so backends that train LoRA only need not implement it.
//
// The contract is Backend's: outputs first, gradients are ADDED to, exact lengths, wrong sizes
// panic with the op's name, and results do not depend on the number of threads. Gradients and
// weights here are NewFP32 tensors; dout, x and rstd are activations.
type FullTrainer interface {
	// EmbeddingBackward adds row i of dout (N,C) into row ids[i] of dtable (V,C), N = len(ids).
	// Rows of a token that occurs several times are added in the order of i, whatever the
	// threads, so the sum is the same bits on every machine.
	EmbeddingBackward(dtable, dout Tensor, ids []int32, c int)
	// RMSNormWeightBackward adds to dweight (C) the gradient of RMSNorm's weight given dout (N,C),
	// the norm's input x (N,C) and the forward's rstd (N): Σ_rows dout∘x·rstd.
	RMSNormWeightBackward(dweight, dout, x, rstd Tensor, n, c int)
	// AddBiasBackward adds to dbias (C) the gradient of AddBias: the sum of dout's rows (N,C).
	AddBiasBackward(dbias, dout Tensor, n, c int)
}
