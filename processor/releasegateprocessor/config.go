package releasegateprocessor

import (
	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/config"
)

// Config is the releasegate processor's configuration.
type Config struct {
	// Gates is the gates document, usually shared with the releasegate
	// exporter through the file provider: `gates: ${file:gates.yaml}`.
	Gates config.Document `mapstructure:"gates"`

	// compiled holds what Validate compiled, so that creating the
	// processor, and an exporter of the same document, share it.
	compiled *config.Gates
}

var _ confmap.Validator = (*Config)(nil)

// Validate compiles the gates, so that a bad gate stops the collector at
// start-up with a message that names the gate, the field and the column.
func (cfg *Config) Validate() error {
	var err error
	cfg.compiled, err = config.Shared(cfg.Gates)
	return err
}
