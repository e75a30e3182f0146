package sink

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"
)

// DeliveryConfig is how every sink delivers: its queue and its retries.
type DeliveryConfig struct {
	// QueueSize bounds the messages waiting for delivery; past it new ones
	// are dropped and counted.
	QueueSize int `mapstructure:"queue_size"`
	// RetryOnFailure retries network errors and 5xx answers with backoff.
	RetryOnFailure configretry.BackOffConfig `mapstructure:"retry_on_failure"`
}

// DefaultQueueSize holds the events of a few hundred runs.
const DefaultQueueSize = 1000

func NewDefaultDeliveryConfig() DeliveryConfig {
	return DeliveryConfig{QueueSize: DefaultQueueSize, RetryOnFailure: configretry.NewDefaultBackOffConfig()}
}

// Check validates the queue settings. It is not named Validate: the
// collector would then validate the squashed struct on its own under a key
// that does not exist, and report its errors twice.
func (c *DeliveryConfig) Check() error {
	if c.QueueSize < 1 {
		return fmt.Errorf("queue_size: must be at least 1, got %d", c.QueueSize)
	}
	return nil
}

// TargetURL is the link a CI status carries: a Go template of the run, the
// gate and the first exemplar's trace id, such as
// `https://grafana.example/explore?traceId={{.TraceID}}` or
// `http://releasegate:9464/v1/runs/{{.Run | urlquery}}`.
type TargetURL string

// Link is what a TargetURL template can use.
type Link struct {
	Run     string // the run id
	Gate    string // the gate's name; empty for the run's own status
	TraceID string // the first violating span's trace id, if any
}

// Compile parses the template and renders a sample link, so that a
// misspelt field or a link that is not a URL is a start-up error. (Sinks
// call it from their Check; a Validate method here would be called a second
// time by the collector.)
func (t TargetURL) Compile() (LinkTemplate, error) {
	if t == "" {
		return LinkTemplate{}, nil
	}
	tmpl, err := template.New("target_url").Parse(string(t))
	if err != nil {
		return LinkTemplate{}, fmt.Errorf("target_url: %w", err)
	}
	link := LinkTemplate{tmpl}
	sample, err := link.Render(Link{Run: "r", Gate: "g", TraceID: "t"})
	if err != nil {
		return LinkTemplate{}, err
	}
	// A link that is not a URL is refused by the code host, or shown as a
	// dead link on every status. Empty is allowed: the status has no link.
	if sample != "" && !isHTTPURL(sample) {
		return LinkTemplate{}, fmt.Errorf("target_url: must render an http or https URL, got %q", sample)
	}
	return link, nil
}

// LinkTemplate is a compiled TargetURL.
type LinkTemplate struct{ tmpl *template.Template }

// Render is the link for a status; empty without a template.
func (l LinkTemplate) Render(link Link) (string, error) {
	if l.tmpl == nil {
		return "", nil
	}
	var b strings.Builder
	if err := l.tmpl.Execute(&b, link); err != nil {
		return "", fmt.Errorf("target_url: %w", err)
	}
	return b.String(), nil
}

// DefaultTimeout bounds one request, so that a receiver that hangs cannot
// hold a sink's queue for long.
const DefaultTimeout = 10 * time.Second

// NewClientConfig is the HTTP client of a sink that posts to endpoint.
func NewClientConfig(endpoint string) confighttp.ClientConfig {
	client := confighttp.NewDefaultClientConfig()
	client.Endpoint = endpoint
	client.Timeout = DefaultTimeout
	return client
}

// CheckClient checks the client settings a sink relies on: an http or https
// endpoint, and a timeout, without which a receiver that hangs would hold
// the sink's queue until shutdown.
func CheckClient(client *confighttp.ClientConfig) error {
	err := CheckEndpoint(client.Endpoint)
	if client.Timeout <= 0 {
		err = errors.Join(err, fmt.Errorf("timeout: must be a positive duration, got %s", client.Timeout))
	}
	return err
}

// CheckEndpoint requires an http or https URL. It never quotes the
// endpoint: a webhook's URL may carry a token.
func CheckEndpoint(endpoint string) error {
	if endpoint == "" {
		return errors.New("endpoint: must be set")
	}
	if !isHTTPURL(endpoint) {
		return errors.New("endpoint: must be an http or https URL")
	}
	return nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
