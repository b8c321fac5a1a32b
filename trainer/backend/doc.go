// Package backend declares the compute interface the model runs on, implements it for the CPU (the
// reference every other backend is checked against), and holds the conformance suite that every
// backend must pass. Optional capabilities are small interfaces of their own, found by type
// assertion: FullTrainer, the gradients of full-parameter training, which the CPU backend has and
// a backend that trains LoRA only (CUDA) need not.
package backend
