package app

import (
	"context"
	"testing"
)

// The broker tells every subscriber, never blocks on one that does not read
// (onMiss hears of it), and closes a subscription when its context ends.
func TestBrokerFansOutWithoutBlocking(t *testing.T) {
	var missed []int
	b := newBroker(1, func(v int) { missed = append(missed, v) })
	ctx, cancel := context.WithCancel(context.Background())
	a, c := b.subscribe(ctx), b.subscribe(context.Background())
	b.publish(1)
	if <-a != 1 || <-c != 1 {
		t.Fatal("a subscriber missed the first value")
	}
	b.publish(2)
	b.publish(3) // buffers of 1: both subscribers miss it
	if len(missed) != 2 || missed[0] != 3 {
		t.Fatalf("missed %v, want 3 twice", missed)
	}
	cancel()
	for range a { // drains 2, then ends when the subscription closes
	}
	if n := b.count(); n != 1 {
		t.Fatalf("%d subscribers after one left, want 1", n)
	}
}

// A subscriber with a filter gets only what it keeps; what it refuses is
// neither sent nor counted as missed.
func TestBrokerSubscribeWhereFilters(t *testing.T) {
	missed := 0
	b := newBroker(4, func(int) { missed++ })
	even := b.subscribeWhere(context.Background(), func(v int) bool { return v%2 == 0 })
	all := b.subscribe(context.Background())
	for v := range 4 {
		b.publish(v)
	}
	if got := []int{<-even, <-even}; got[0] != 0 || got[1] != 2 || len(even) != 0 {
		t.Fatalf("the even subscriber got %v and %d more, want [0 2] and none", got, len(even))
	}
	if len(all) != 4 || missed != 0 {
		t.Fatalf("the other got %d of 4; %d missed", len(all), missed)
	}
}
