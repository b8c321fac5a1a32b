package data

import (
	"math/bits"
	"sort"
)

// packSequences groups samples (given by their lengths) into sequences of at most capacity tokens,
// best fit decreasing: longest first (ties by index), each goes into the sequence with the least
// room it fits in, or starts a new one. It depends only on the lengths, so every epoch and every
// resumed run packs alike. Each sequence lists its samples' indexes in the order placed.
func packSequences(lengths []int, capacity int) [][]int {
	order := make([]int, len(lengths))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return lengths[order[a]] > lengths[order[b]] })
	var seqs [][]int
	rooms := newRoomIndex(capacity)
	for _, i := range order {
		n := lengths[i]
		if n > capacity || n <= 0 {
			panic("data: packSequences: a sample longer than the sequence or empty")
		}
		seq, room, ok := rooms.takeFitting(n)
		if !ok {
			seq, room = len(seqs), capacity
			seqs = append(seqs, nil)
		}
		seqs[seq] = append(seqs[seq], i)
		rooms.put(seq, room-n)
	}
	return seqs
}

// roomIndex finds, among open sequences, one with the least room of at least n tokens: a stack of
// sequences for each amount of room and a bit set of the amounts that have any.
type roomIndex struct {
	byRoom [][]int
	has    []uint64
}

func newRoomIndex(capacity int) *roomIndex {
	return &roomIndex{byRoom: make([][]int, capacity+1), has: make([]uint64, capacity/64+1)}
}

func (r *roomIndex) put(seq, room int) {
	if room == 0 {
		return // full: never chosen again
	}
	r.byRoom[room] = append(r.byRoom[room], seq)
	r.has[room/64] |= 1 << (room % 64)
}

func (r *roomIndex) takeFitting(n int) (seq, room int, ok bool) {
	for w := n / 64; w < len(r.has); w++ {
		word := r.has[w]
		if w == n/64 {
			word &^= 1<<(n%64) - 1
		}
		if word == 0 {
			continue
		}
		room = w*64 + bits.TrailingZeros64(word)
		stack := r.byRoom[room]
		seq, r.byRoom[room] = stack[len(stack)-1], stack[:len(stack)-1]
		if len(r.byRoom[room]) == 0 {
			r.has[w] &^= 1 << (room % 64)
		}
		return seq, room, true
	}
	return 0, 0, false
}
