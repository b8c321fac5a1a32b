//go:build cuda && !cudaemu

package cuda

import "gorgonia.org/cu"

// eventProfile times each launch by a pair of CUDA events recorded around it on the stream; the
// events are read once, at the end, so profiling adds no synchronisation.
type eventProfile struct {
	spans []eventSpan
}

type eventSpan struct {
	name       string
	start, end cu.Event
}

func (d *cuDriver) startProfile() {
	if d.prof == nil {
		d.prof = &eventProfile{}
	}
}

// timed runs launch (one kernel launch or library call on the stream), between two events while
// profiling.
func (d *cuDriver) timed(name string, launch func()) {
	if d.prof == nil {
		launch()
		return
	}
	s := eventSpan{name: name, start: d.event(), end: d.event()}
	d.check("cuEventRecord", s.start.Record(d.stream))
	launch()
	d.check("cuEventRecord", s.end.Record(d.stream))
	d.prof.spans = append(d.prof.spans, s)
}

func (d *cuDriver) event() cu.Event {
	e, err := cu.MakeEvent(cu.DefaultEvent)
	d.check("cuEventCreate", err)
	return e
}

func (d *cuDriver) stopProfile() []timedSpan {
	p := d.prof
	if p == nil {
		return nil
	}
	d.prof = nil
	d.synchronize()
	out := make([]timedSpan, len(p.spans))
	for i, s := range p.spans {
		ms, err := s.start.Elapsed(s.end)
		d.check("cuEventElapsedTime", err)
		out[i] = timedSpan{name: s.name, seconds: ms / 1e3}
		d.check("cuEventDestroy", cu.DestroyEvent(&s.start))
		d.check("cuEventDestroy", cu.DestroyEvent(&s.end))
	}
	return out
}
