package nf4

import "errors"

// ErrBlocksize is returned for a block size bitsandbytes does not accept for
// NF4: anything but a power of two from 32 to 4096.
var ErrBlocksize = errors.New("nf4: blocksize must be a power of two from 32 to 4096")

// ErrNonFinite is returned when a weight to quantize holds NaN or an
// infinity; the error names the element.
var ErrNonFinite = errors.New("nf4: weight is not finite")

// ErrLayout is returned when tensors in a file do not form a valid
// bitsandbytes 4-bit weight; the error names the tensor and what is wrong.
var ErrLayout = errors.New("nf4: bad bitsandbytes 4-bit layout")
