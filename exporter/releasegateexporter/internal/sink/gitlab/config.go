package gitlab

import (
	"errors"
	"fmt"
	"regexp"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
)

// Config is the GitLab commit status sink's configuration.
type Config struct {
	// ClientConfig is the HTTP client: endpoint (the instance's root URL),
	// timeout, tls, proxy_url, ... A named field, not an embedded one:
	// embedded, its Unmarshal method would be promoted to Config and decode
	// only its own keys, dropping token and the rest.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// Token is a token with the api scope, sent as PRIVATE-TOKEN.
	Token configopaque.String `mapstructure:"token"`
	// Project is the project's numeric id or its path, group/name.
	Project string `mapstructure:"project"`
	// NamePrefix names the statuses: <prefix>/<gate> for each gate and
	// <prefix> for the run.
	NamePrefix string `mapstructure:"name_prefix"`
	// TargetURL is the link of each status.
	TargetURL           sink.TargetURL `mapstructure:"target_url"`
	sink.DeliveryConfig `mapstructure:",squash"`
}

// NewDefaultConfig is the configuration for gitlab.com.
func NewDefaultConfig() Config {
	return Config{
		ClientConfig:   sink.NewClientConfig("https://gitlab.com"),
		NamePrefix:     "releasegate",
		DeliveryConfig: sink.NewDefaultDeliveryConfig(),
	}
}

// project is a numeric id or a path of at least two segments.
var project = regexp.MustCompile(`^(\d+|[^/\s]+(/[^/\s]+)+)$`)

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
	if c.Project == "" {
		errs = append(errs, errors.New("project: must be set"))
	} else if !project.MatchString(c.Project) {
		errs = append(errs, fmt.Errorf("project: must be a numeric id or a path such as group/name, got %q", c.Project))
	}
	if c.NamePrefix == "" {
		errs = append(errs, errors.New("name_prefix: must be set"))
	}
	_, linkErr := c.TargetURL.Compile()
	errs = append(errs, linkErr, c.DeliveryConfig.Check())
	return errors.Join(errs...)
}
