package plan

// Fits reports whether the plan fits in memory bytes.
func (p Plan) Fits(memory int64) bool { return p.TotalBytes <= memory }

// LargestSeqLen is the longest max_seq_length, at the request's micro-batch size and no longer
// than the model's context (max_position_embeddings), whose plan fits in memory; 0 when not even
// one token fits.
func LargestSeqLen(r Request, memory int64) (int, error) {
	hi := 1 << 20
	if c := r.Model.MaxPositionEmbeddings; c > 0 {
		hi = c
	}
	return largest(1, hi, memory, func(v int) Request { r.SeqLen = v; return r })
}

// LargestMicroBatch is the largest micro-batch size, at the request's length, whose plan fits in
// memory; 0 when not even one sequence fits.
func LargestMicroBatch(r Request, memory int64) (int, error) {
	return largest(1, 4096, memory, func(v int) Request { r.MicroBatchSize = v; return r })
}

// largest binary-searches the largest v in [lo, hi] whose request fits (memory grows with v).
func largest(lo, hi int, memory int64, with func(int) Request) (int, error) {
	fits := func(v int) (bool, error) {
		p, err := Make(with(v))
		return p.Fits(memory), err
	}
	if ok, err := fits(lo); err != nil || !ok {
		return 0, err
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		ok, err := fits(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

// Report is a plan with its verdict against a GPU's memory, and what would fit there: what
// `qlora plan` prints and the app's memory bar shows.
type Report struct {
	Plan
	MemoryBytes       int64 `json:"memory_bytes"`
	Fits              bool  `json:"fits"`
	SpareBytes        int64 `json:"spare_bytes"` // negative when it does not fit
	LargestSeqLen     int   `json:"largest_max_seq_length"`
	LargestMicroBatch int   `json:"largest_micro_batch_size"`
}

// Against plans the request and judges it against memory bytes.
func Against(r Request, memory int64) (Report, error) {
	p, err := Make(r)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Plan: p, MemoryBytes: memory, Fits: p.Fits(memory), SpareBytes: memory - p.TotalBytes}
	if rep.LargestSeqLen, err = LargestSeqLen(r, memory); err != nil {
		return rep, err
	}
	rep.LargestMicroBatch, err = LargestMicroBatch(r, memory)
	return rep, err
}
