package index

import (
	"sync"
	"sync/atomic"
)

// stateCache remembers answers that hold for one state of the index (a
// commit or sets generation) under keys that callers choose: paths of
// their filters and sorts, their subject lists. It is bounded: a caller
// asking for ever new paths must not grow it without end, so it starts
// over once it holds maxStateEntries keys (an answer not found is computed
// again, which is only slower).
type stateCache[V any] struct {
	m sync.Map // string -> stateEntry[V]
	n atomic.Int64
}

type stateEntry[V any] struct {
	gen uint64
	v   V
}

// maxStateEntries bounds each stateCache; an entry is a key and a small
// answer, well under a kilobyte.
const maxStateEntries = 10_000

// load returns key's answer for generation gen.
func (c *stateCache[V]) load(key string, gen uint64) (V, bool) {
	if e, ok := c.m.Load(key); ok && e.(stateEntry[V]).gen == gen {
		return e.(stateEntry[V]).v, true
	}
	var zero V
	return zero, false
}

// store remembers v as key's answer for generation gen.
func (c *stateCache[V]) store(key string, gen uint64, v V) {
	if _, had := c.m.Swap(key, stateEntry[V]{gen: gen, v: v}); had {
		return
	}
	if c.n.Add(1) > maxStateEntries {
		c.m.Clear()
		c.n.Store(0)
	}
}

// len is how many keys c holds (tests).
func (c *stateCache[V]) len() int {
	n := 0
	c.m.Range(func(any, any) bool { n++; return true })
	return n
}
