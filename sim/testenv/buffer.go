package testenv

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for a test to read while the code under
// test writes (a log handler, a child process's output).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
