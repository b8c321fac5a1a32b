package model

import "math"

// InvFreq returns the HD/2 RoPE inverse frequencies of the config: 1/theta^(2i/HD), rescaled by
// Llama 3.1's "llama3" scaling when the config has it (transformers' _compute_llama3_parameters).
func (c *Config) InvFreq() []float64 {
	hd := c.HeadDim
	inv := make([]float64, hd/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(hd))
	}
	if s := c.RopeScaling; s != nil && s.Type == "llama3" {
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWavelen := old / s.LowFreqFactor
		highWavelen := old / s.HighFreqFactor
		for i, f := range inv {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen > lowWavelen: // low frequencies: scaled down fully
				inv[i] = f / s.Factor
			case wavelen >= highWavelen: // the band between: a smooth blend
				smooth := (old/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				inv[i] = (1-smooth)*f/s.Factor + smooth*f
			}
		}
	}
	return inv
}
