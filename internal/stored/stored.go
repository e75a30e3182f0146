// Package stored is the form of what the exporter keeps in the collector's
// storage extension: JSON records that carry their version in a "v" field.
// Runs (the run store) and undelivered CI status events (the sinks) are
// kept this way.
package stored

import (
	"encoding/json"
	"fmt"
)

// Decode reads a record of the given version into v. A record of another
// version is refused, not guessed at.
func Decode(data []byte, version int, v any) error {
	var header struct {
		Version int `json:"v"`
	}
	if err := json.Unmarshal(data, &header); err != nil {
		return err
	}
	if header.Version != version {
		return fmt.Errorf("version %d, not %d", header.Version, version)
	}
	return json.Unmarshal(data, v)
}
