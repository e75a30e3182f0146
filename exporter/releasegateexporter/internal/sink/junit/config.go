package junit

import (
	"errors"

	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
)

// Config is the junit sink's configuration.
type Config struct {
	// Directory receives one <run>.xml per run; it is created if missing.
	Directory string `mapstructure:"directory"`

	sink.DeliveryConfig `mapstructure:",squash"`
}

// NewDefaultConfig is a Config with the default delivery; Directory has no
// default.
func NewDefaultConfig() Config {
	return Config{DeliveryConfig: sink.NewDefaultDeliveryConfig()}
}

// Unmarshal decodes the settings over the defaults, refusing unknown keys.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	*c = NewDefaultConfig()
	return sink.Unmarshal(conf, c)
}

// Check names every invalid key.
func (c *Config) Check() error {
	var err error
	if c.Directory == "" {
		err = errors.New("directory: must be set")
	}
	return errors.Join(err, c.DeliveryConfig.Check())
}
