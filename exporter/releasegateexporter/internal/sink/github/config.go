package github

import (
	"errors"
	"fmt"
	"regexp"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
)

// Config is the GitHub commit status sink's configuration.
type Config struct {
	// ClientConfig is the HTTP client: endpoint (the REST API's root,
	// https://ghe.example.com/api/v3 on GitHub Enterprise Server), timeout,
	// tls, proxy_url, ... A named field, not an embedded one: embedded, its
	// Unmarshal method would be promoted to Config and decode only its own
	// keys, dropping token and the rest.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// Token is a token allowed to write commit statuses ("Commit statuses:
	// write" for a fine-grained token, repo:status for a classic one).
	Token configopaque.String `mapstructure:"token"`
	// Repository is owner/name. Empty: read from each run's
	// vcs.repository.url.full.
	Repository string `mapstructure:"repository"`
	// ContextPrefix names the statuses: <prefix>/<gate> for each gate and
	// <prefix> for the run.
	ContextPrefix string `mapstructure:"context_prefix"`
	// TargetURL is the link of each status.
	TargetURL           sink.TargetURL `mapstructure:"target_url"`
	sink.DeliveryConfig `mapstructure:",squash"`
}

// NewDefaultConfig is the configuration for github.com.
func NewDefaultConfig() Config {
	return Config{
		ClientConfig:   sink.NewClientConfig("https://api.github.com"),
		ContextPrefix:  "releasegate",
		DeliveryConfig: sink.NewDefaultDeliveryConfig(),
	}
}

// ownerName is a repository's owner/name as GitHub allows them.
var ownerName = regexp.MustCompile(`^[\w.-]+/[\w.-]+$`)

// Unmarshal decodes the settings over the defaults, refusing unknown keys.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	*c = NewDefaultConfig()
	return sink.Unmarshal(conf, c)
}

// Check names each setting that is wrong; retry_on_failure validates
// itself.
func (c *Config) Check() error {
	var errs []error
	errs = append(errs, sink.CheckClient(&c.ClientConfig))
	if c.Token == "" {
		errs = append(errs, errors.New("token: must be set"))
	}
	if c.Repository != "" && !ownerName.MatchString(c.Repository) {
		errs = append(errs, fmt.Errorf("repository: must be owner/name, got %q", c.Repository))
	}
	if c.ContextPrefix == "" {
		errs = append(errs, errors.New("context_prefix: must be set"))
	}
	_, linkErr := c.TargetURL.Compile()
	errs = append(errs, linkErr, c.DeliveryConfig.Check())
	return errors.Join(errs...)
}
