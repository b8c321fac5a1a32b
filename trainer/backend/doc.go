// Package backend declares the compute interface the model runs on, implements it for the CPU (the
// reference every other backend is checked against), and holds the conformance suite that every
// backend must pass.
package backend
