// Package optim holds the optimizers (AdamW as torch.optim.AdamW, 8-bit blockwise AdamW as
// bitsandbytes' AdamW8bit), the learning-rate schedules of transformers and gradient clipping as
// torch.nn.utils.clip_grad_norm_: plain loops over the model's flat parameter and gradient arenas,
// run through backend ops.
//
// An optimizer sees the trainable parameters as one arena and a list of Segments (the tensors in
// it: each adapter's A and B). Its states live on the backend beside them; State and SetState
// copy them to and from the host for checkpoints, so that a resumed run continues bit for bit.
//
// Steps count from 0 for the schedules (the first update uses LR(0), as transformers' LambdaLR
// schedulers do) and from 1 for the optimizers' bias corrections (the first update is step 1).
//
// What it must not do: know the UI, the database, files or the model's structure beyond the
// segments it is given.
package optim
