// Package clocktest moves a fake clock on for code that waits on it, so
// that tests of retries and timeouts take no time.
package clocktest

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
)

// AdvanceUntil moves clock on by step whenever something waits on it, until
// done is closed. Steps are small enough for the waits to end about when
// they should, so that what the waiting code measures on the clock (the
// time its retries took) stays true.
func AdvanceUntil(clock *clockwork.FakeClock, step time.Duration, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		waiting := make(chan error, 1)
		go func() { waiting <- clock.BlockUntilContext(ctx, 1) }()
		select {
		case <-done:
			return
		case err := <-waiting:
			if err != nil {
				return
			}
			clock.Advance(step)
		}
	}
}
