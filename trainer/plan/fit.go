package plan

// Fits reports whether the plan fits in memory bytes.
func (p Plan) Fits(memory int64) bool { return p.TotalBytes <= memory }

// LargestSeqLen is the longest max_seq_length, at the request's micro-batch size, whose plan fits
// in memory; 0 when not even one token fits.
func LargestSeqLen(r Request, memory int64) (int, error) {
	return largest(1, 1<<20, memory, func(v int) Request { r.SeqLen = v; return r })
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
