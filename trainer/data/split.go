package data

import (
	"fmt"
	"math"
	"sort"
)

// Split sets aside a validation set: a seeded random choice of round(ratio·n) samples (at least
// one, and never all), the same on every machine for the same seed. ratio ≥ 1 is read as a count
// of samples, as axolotl's val_set_size is. Both halves keep the file's order.
func Split(samples []Sample, ratio float64, seed uint64) (train, val []Sample, err error) {
	n := len(samples)
	if ratio <= 0 {
		return samples, nil, nil
	}
	if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return nil, nil, fmt.Errorf("validation set size %v is not a number", ratio)
	}
	k := int(math.Round(ratio))
	if ratio < 1 {
		k = max(int(math.Round(ratio*float64(n))), 1)
	}
	if k >= n {
		return nil, nil, fmt.Errorf("validation set size %v leaves no training sample out of %d", ratio, n)
	}
	chosen := permutation(n, seed, splitStream)[:k]
	sort.Ints(chosen)
	train = make([]Sample, 0, n-k)
	val = make([]Sample, 0, k)
	next := 0
	for i := range samples {
		if next < k && chosen[next] == i {
			val = append(val, samples[i])
			next++
		} else {
			train = append(train, samples[i])
		}
	}
	return train, val, nil
}

// Sets are the training and validation samples of a run.
type Sets struct {
	Train, Val *Dataset
	// TrainSamples and ValSamples are what the loaders take: the training file's samples, less
	// those split off for validation when there is no validation file.
	TrainSamples, ValSamples []Sample
}

// LoadSets loads the training file and its validation set: valPath's samples when it is given,
// else a seeded split of valRatio (a share below 1, a count from 1; 0 for none) of the training
// file. Errors are Load's, for either file.
func LoadSets(trainPath, valPath string, valRatio float64, seed uint64, tok Tokenizer, opts Options) (*Sets, error) {
	train, err := Load(trainPath, tok, opts)
	if err != nil {
		return nil, err
	}
	sets := &Sets{Train: train, TrainSamples: train.Samples}
	if valPath != "" {
		if sets.Val, err = Load(valPath, tok, opts); err != nil {
			return nil, err
		}
		sets.ValSamples = sets.Val.Samples
		return sets, nil
	}
	sets.TrainSamples, sets.ValSamples, err = Split(train.Samples, valRatio, seed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", trainPath, err)
	}
	return sets, nil
}
