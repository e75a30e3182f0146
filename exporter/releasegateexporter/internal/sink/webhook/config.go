package webhook

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
)

// Format is what a webhook's requests carry.
type Format string

const (
	// FormatJSON posts the run as the verdict API returns it.
	FormatJSON Format = "json"
	// FormatCDEvents posts CloudEvents carrying CDEvents test events.
	FormatCDEvents Format = "cdevents"
)

// Config is a webhook sink's configuration.
type Config struct {
	// ClientConfig is the HTTP client: endpoint (required), headers,
	// timeout, tls...
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// Secret, when set, signs every body with HMAC-SHA256 in the
	// X-Releasegate-Signature-256 header, as GitHub signs its webhooks.
	Secret configopaque.String `mapstructure:"secret"`
	// Format is json (default) or cdevents.
	Format Format `mapstructure:"format"`

	sink.DeliveryConfig `mapstructure:",squash"`
}

var _ confmap.Unmarshaler = (*Config)(nil)

// NewDefaultConfig is a webhook in json format, without an endpoint.
func NewDefaultConfig() Config {
	return Config{
		ClientConfig:   sink.NewClientConfig(""),
		Format:         FormatJSON,
		DeliveryConfig: sink.NewDefaultDeliveryConfig(),
	}
}

// Unmarshal decodes the settings over the defaults (a webhook is an
// element of a list, which starts from zero), refusing unknown keys.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	*c = NewDefaultConfig()
	return sink.Unmarshal(conf, c)
}

// Check names each setting that is wrong. The endpoint and the secret are
// never quoted: webhook URLs often carry a token.
func (c *Config) Check() error {
	var errs []error
	errs = append(errs, sink.CheckClient(&c.ClientConfig))
	// A secret read with a stray newline signs with a key the receiver
	// does not have: every event would fail verification there, far from
	// here.
	if s := string(c.Secret); strings.TrimSpace(s) != s {
		errs = append(errs, errors.New("secret: must not begin or end with whitespace"))
	}
	if c.Format != FormatJSON && c.Format != FormatCDEvents {
		errs = append(errs, fmt.Errorf("format: must be %s or %s, got %q", FormatJSON, FormatCDEvents, c.Format))
	}
	errs = append(errs, c.DeliveryConfig.Check())
	return errors.Join(errs...)
}
