package sink

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTruncate(t *testing.T) {
	assert.Equal(t, "passed", Truncate("passed", 6))
	assert.Equal(t, "déjà vu", Truncate("déjà vu", 7), "7 runes in 9 bytes are not cut")
	assert.Equal(t, "déj…", Truncate("déjà vu", 4))
	assert.Equal(t, "…", Truncate("failed", 1))
	assert.Empty(t, Truncate("failed", 0))
}

func TestRetryAfterHeader(t *testing.T) {
	for value, want := range map[string]time.Duration{"0": 0, "7": 7 * time.Second} {
		wait, ok := RetryAfterHeader(http.Header{"Retry-After": {value}})
		assert.True(t, ok, value)
		assert.Equal(t, want, wait, value)
	}
	for _, value := range []string{"", "-1", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"} {
		_, ok := RetryAfterHeader(http.Header{"Retry-After": {value}})
		assert.False(t, ok, value)
	}
}
