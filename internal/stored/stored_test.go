package stored

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecode(t *testing.T) {
	var v struct {
		Version int    `json:"v"`
		Name    string `json:"name"`
	}
	require.NoError(t, Decode([]byte(`{"v":2,"name":"r-1"}`), 2, &v))
	assert.Equal(t, "r-1", v.Name)

	assert.EqualError(t, Decode([]byte(`{"v":1,"name":"r-2"}`), 2, &v), "version 1, not 2")
	assert.EqualError(t, Decode([]byte(`{"name":"r-2"}`), 2, &v), "version 0, not 2")
	assert.Error(t, Decode([]byte(`{"v":2,`), 2, &v))
	assert.Error(t, Decode([]byte(`{"v":2,"name":3}`), 2, &v))
	assert.Equal(t, "r-1", v.Name, "a refused record changes nothing")
}
