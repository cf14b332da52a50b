package faults

import "sync"

// CallCounter counts the requests a fake receives per key (the Target.Key() a request names), so every
// fake answers Calls and TotalCalls the same way: counted the moment a request arrives, whatever its
// answer. The zero value is ready to use; it is safe for concurrent use and holds its lock only to
// bump or read a count.
type CallCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

// Add counts one call for key.
func (c *CallCounter) Add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[key]++
}

// Of returns the calls counted for key.
func (c *CallCounter) Of(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[key]
}

// Total returns the calls counted for every key together.
func (c *CallCounter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, perKey := range c.calls {
		n += perKey
	}
	return n
}
