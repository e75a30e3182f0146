package releasegateexporter

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/config"
)

// Config is the releasegate exporter's configuration.
type Config struct {
	// Gates is the gates document, shared with the releasegate processor:
	// `gates: ${file:gates.yaml}`.
	Gates config.Document `mapstructure:"gates"`
	// Server serves the verdict API and /metrics; TLS and auth extensions
	// work as on any collector HTTP server.
	Server confighttp.ServerConfig `mapstructure:"server"`
	// RunIdleTimeout finishes a run that received no span for this long.
	RunIdleTimeout time.Duration `mapstructure:"run_idle_timeout"`
	// MaxRunDuration finishes a run this long after its first span.
	MaxRunDuration time.Duration `mapstructure:"max_run_duration"`
	// Retention is how long a finished run stays in the API and /metrics.
	Retention time.Duration `mapstructure:"retention"`
	// MaxRuns bounds the runs held, open and finished. Past it the oldest
	// finished run is forgotten early; with none finished, new runs are
	// refused (and counted) until one finishes.
	MaxRuns int `mapstructure:"max_runs"`
}

var _ confmap.Validator = (*Config)(nil)

// Validate compiles the gates and checks the limits, naming each setting
// that is wrong.
func (cfg *Config) Validate() error {
	_, err := config.Compile(cfg.Gates)
	errs := []error{err}
	if cfg.Server.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("server: endpoint must be set, for example localhost:9464"))
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be a positive duration, got %s", name, d))
		}
	}
	positive("run_idle_timeout", cfg.RunIdleTimeout)
	positive("max_run_duration", cfg.MaxRunDuration)
	positive("retention", cfg.Retention)
	if cfg.MaxRuns < 1 {
		errs = append(errs, fmt.Errorf("max_runs: must be at least 1, got %d", cfg.MaxRuns))
	}
	return errors.Join(errs...)
}
