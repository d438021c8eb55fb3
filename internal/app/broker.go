package app

import (
	"context"
	"sync"
)

// broker fans values out to subscribers: what the webhook Hub and the
// claims reader both do. Publishing never blocks: a subscriber whose buffer
// is full misses that value (the store still has the truth) and onMiss, if
// set, hears of it.
type broker[T any] struct {
	mu     sync.Mutex
	subs   map[chan T]func(T) bool // what each subscriber keeps (nil: everything)
	buf    int
	onMiss func(T)
}

func newBroker[T any](buf int, onMiss func(T)) *broker[T] {
	return &broker[T]{subs: map[chan T]func(T) bool{}, buf: buf, onMiss: onMiss}
}

// subscribe delivers every value published from now on, until ctx ends
// (then the channel closes).
func (b *broker[T]) subscribe(ctx context.Context) <-chan T { return b.subscribeWhere(ctx, nil) }

// subscribeWhere delivers the values published from now on that keep
// accepts (nil: all), until ctx ends. keep runs in publish, for every
// value, under the broker's lock: it must be quick and must not block. A
// value it refuses never wakes the subscriber (under `reauth serve`, a busy
// team's every claim write would otherwise wake every agent's program).
func (b *broker[T]) subscribeWhere(ctx context.Context, keep func(T) bool) <-chan T {
	ch := make(chan T, b.buf)
	b.mu.Lock()
	b.subs[ch] = keep
	b.mu.Unlock()
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		close(ch)
		b.mu.Unlock()
	})
	return ch
}

// publish offers v to every subscriber.
func (b *broker[T]) publish(v T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch, keep := range b.subs {
		if keep != nil && !keep(v) {
			continue
		}
		select {
		case ch <- v:
		default:
			if b.onMiss != nil {
				b.onMiss(v)
			}
		}
	}
}

// count is how many subscribers there are (tests).
func (b *broker[T]) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
