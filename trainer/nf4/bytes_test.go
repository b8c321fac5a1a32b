package nf4

import "testing"

// TestBytes_CountsWhatQuantizeHolds ensures Bytes equals the sizes of a real Quantized's slices.
func TestBytes_CountsWhatQuantizeHolds(t *testing.T) {
	for _, c := range []struct {
		n, blocksize int
		double       bool
	}{{4096 * 3, 64, true}, {4097, 64, true}, {1000, 128, false}, {70000, 64, true}} {
		q, err := Quantize(make([]float32, c.n), []int{1, c.n}, c.blocksize, c.double)
		if err != nil {
			t.Fatal(err)
		}
		held := int64(len(q.Packed) + 4*len(q.Absmax))
		if d := q.Double; d != nil {
			held += int64(len(d.Codes) + 4*len(d.NestedAbsmax) + 4 + 4*len(d.Map))
		}
		if got := Bytes(c.n, c.blocksize, c.double); got != held {
			t.Errorf("%+v: Bytes %d, a Quantized holds %d", c, got, held)
		}
	}
}
