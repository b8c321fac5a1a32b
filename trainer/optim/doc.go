// Package optim holds the optimizers (AdamW, 8-bit blockwise AdamW), learning-rate schedules and
// gradient clipping, each a plain loop over flat parameter arenas.
package optim
