package clocktest

import (
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestAdvanceUntil(t *testing.T) {
	clock := clockwork.NewFakeClock()
	start := clock.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			<-clock.After(time.Second)
		}
	}()
	AdvanceUntil(clock, 100*time.Millisecond, done)
	assert.Equal(t, 3*time.Second, clock.Since(start), "each wait ended with the step that completed it")
}
