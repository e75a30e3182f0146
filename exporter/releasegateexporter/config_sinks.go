package releasegateexporter

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/strictconf"
	"github.com/releasegate/releasegate/internal/sink/commitstatus"
)

// The CI status sinks' settings. Each section starts from its defaults and
// refuses keys it does not have, at any depth. Their checks are not named
// Validate: the collector would call them on its own, under its own path,
// and Config.Validate names the sink on every line of their errors.

// GitHubConfig publishes verdicts as GitHub commit statuses: one per gate,
// <context_prefix>/<gate>, and one for the run, <context_prefix>.
type GitHubConfig struct {
	// ClientConfig is the HTTP client: endpoint (the REST API's root,
	// https://ghe.example.com/api/v3 on GitHub Enterprise Server), timeout,
	// tls, proxy_url, ... A named field, not an embedded one: embedded, its
	// Unmarshal method would be promoted and decode only its own keys.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// Token may write commit statuses ("Commit statuses: write" for a
	// fine-grained token, repo:status for a classic one).
	Token configopaque.String `mapstructure:"token"`
	// Repository is owner/name. Empty: read from each run's
	// vcs.repository.url.full.
	Repository string `mapstructure:"repository"`
	// ContextPrefix names the statuses.
	ContextPrefix string `mapstructure:"context_prefix"`
	// TargetURL is the link of each status.
	TargetURL      TargetURL `mapstructure:"target_url"`
	DeliveryConfig `mapstructure:",squash"`
}

var _ confmap.Unmarshaler = (*GitHubConfig)(nil)

// newDefaultGitHubConfig is the configuration for github.com.
func newDefaultGitHubConfig() GitHubConfig {
	return GitHubConfig{
		ClientConfig:   newClientConfig("https://api.github.com"),
		ContextPrefix:  "releasegate",
		DeliveryConfig: newDefaultDeliveryConfig(),
	}
}

// Unmarshal decodes the settings over the defaults, refusing unknown keys.
func (c *GitHubConfig) Unmarshal(conf *confmap.Conf) error {
	*c = newDefaultGitHubConfig()
	return strictconf.Unmarshal(conf, c)
}

func (c *GitHubConfig) check() error {
	var repository error
	if c.Repository != "" && !commitstatus.IsGitHubRepository(c.Repository) {
		repository = fmt.Errorf("repository: must be owner/name, got %q", c.Repository)
	}
	return checkCommitStatus(&c.ClientConfig, c.Token, repository, "context_prefix", c.ContextPrefix, c.TargetURL, &c.DeliveryConfig)
}

// GitLabConfig publishes verdicts as GitLab commit statuses, shown as
// external jobs of the commit's pipeline: one per gate,
// <name_prefix>/<gate>, and one for the run, <name_prefix>.
type GitLabConfig struct {
	// ClientConfig is the HTTP client: endpoint (the instance's root URL),
	// timeout, tls, proxy_url, ...
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// Token has the api scope; it is sent as PRIVATE-TOKEN.
	Token configopaque.String `mapstructure:"token"`
	// Project is the project's numeric id or its path, group/name.
	Project string `mapstructure:"project"`
	// NamePrefix names the statuses.
	NamePrefix string `mapstructure:"name_prefix"`
	// TargetURL is the link of each status.
	TargetURL      TargetURL `mapstructure:"target_url"`
	DeliveryConfig `mapstructure:",squash"`
}

var _ confmap.Unmarshaler = (*GitLabConfig)(nil)

// newDefaultGitLabConfig is the configuration for gitlab.com.
func newDefaultGitLabConfig() GitLabConfig {
	return GitLabConfig{
		ClientConfig:   newClientConfig("https://gitlab.com"),
		NamePrefix:     "releasegate",
		DeliveryConfig: newDefaultDeliveryConfig(),
	}
}

// Unmarshal decodes the settings over the defaults, refusing unknown keys.
func (c *GitLabConfig) Unmarshal(conf *confmap.Conf) error {
	*c = newDefaultGitLabConfig()
	return strictconf.Unmarshal(conf, c)
}

func (c *GitLabConfig) check() error {
	var project error
	switch {
	case c.Project == "":
		project = errors.New("project: must be set")
	case !commitstatus.IsGitLabProject(c.Project):
		project = fmt.Errorf("project: must be a numeric id or a path such as group/name, got %q", c.Project)
	}
	return checkCommitStatus(&c.ClientConfig, c.Token, project, "name_prefix", c.NamePrefix, c.TargetURL, &c.DeliveryConfig)
}

// checkCommitStatus names each wrong setting of a commit status sink, in
// the order of its keys; project is the host's own check of where the
// statuses go. retry_on_failure validates itself.
func checkCommitStatus(client *confighttp.ClientConfig, token configopaque.String, project error, prefixKey, prefix string, target TargetURL, delivery *DeliveryConfig) error {
	errs := []error{checkClient(client)}
	if token == "" {
		errs = append(errs, errors.New("token: must be set"))
	}
	errs = append(errs, project)
	if prefix == "" {
		errs = append(errs, fmt.Errorf("%s: must be set", prefixKey))
	}
	errs = append(errs, target.check(), delivery.check())
	return errors.Join(errs...)
}

// WebhookFormat is what a webhook's requests carry.
type WebhookFormat string

const (
	// WebhookFormatJSON posts the run as the verdict API returns it.
	WebhookFormatJSON WebhookFormat = "json"
	// WebhookFormatCDEvents posts CloudEvents carrying CDEvents test
	// events.
	WebhookFormatCDEvents WebhookFormat = "cdevents"
)

// WebhookConfig posts every run event to an HTTP endpoint.
type WebhookConfig struct {
	// ClientConfig is the HTTP client: endpoint (required), headers,
	// timeout, tls...
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// Secret, when set, signs every body with HMAC-SHA256 in the
	// X-Releasegate-Signature-256 header, as GitHub signs its webhooks.
	Secret configopaque.String `mapstructure:"secret"`
	// Format is json (default) or cdevents.
	Format         WebhookFormat `mapstructure:"format"`
	DeliveryConfig `mapstructure:",squash"`
}

var _ confmap.Unmarshaler = (*WebhookConfig)(nil)

// newDefaultWebhookConfig is a webhook in json format, without an endpoint.
func newDefaultWebhookConfig() WebhookConfig {
	return WebhookConfig{
		ClientConfig:   newClientConfig(""),
		Format:         WebhookFormatJSON,
		DeliveryConfig: newDefaultDeliveryConfig(),
	}
}

// Unmarshal decodes the settings over the defaults (a webhook is an
// element of a list, which starts from zero), refusing unknown keys.
func (c *WebhookConfig) Unmarshal(conf *confmap.Conf) error {
	*c = newDefaultWebhookConfig()
	return strictconf.Unmarshal(conf, c)
}

// check never quotes the endpoint or the secret: webhook URLs often carry
// a token.
func (c *WebhookConfig) check() error {
	errs := []error{checkClient(&c.ClientConfig)}
	// A secret read with a stray newline signs with a key the receiver
	// does not have: every event would fail verification there, far from
	// here.
	if s := string(c.Secret); strings.TrimSpace(s) != s {
		errs = append(errs, errors.New("secret: must not begin or end with whitespace"))
	}
	if c.Format != WebhookFormatJSON && c.Format != WebhookFormatCDEvents {
		errs = append(errs, fmt.Errorf("format: must be %s or %s, got %q", WebhookFormatJSON, WebhookFormatCDEvents, c.Format))
	}
	errs = append(errs, c.DeliveryConfig.check())
	return errors.Join(errs...)
}

// JUnitConfig writes one JUnit XML report per run, each gate a test case.
type JUnitConfig struct {
	// Directory receives one <run>.xml per run; it is created if missing.
	Directory      string `mapstructure:"directory"`
	DeliveryConfig `mapstructure:",squash"`
}

var _ confmap.Unmarshaler = (*JUnitConfig)(nil)

// newDefaultJUnitConfig has the default delivery; Directory has no
// default.
func newDefaultJUnitConfig() JUnitConfig {
	return JUnitConfig{DeliveryConfig: newDefaultDeliveryConfig()}
}

// Unmarshal decodes the settings over the defaults, refusing unknown keys.
func (c *JUnitConfig) Unmarshal(conf *confmap.Conf) error {
	*c = newDefaultJUnitConfig()
	return strictconf.Unmarshal(conf, c)
}

func (c *JUnitConfig) check() error {
	var err error
	if c.Directory == "" {
		err = errors.New("directory: must be set")
	}
	return errors.Join(err, c.DeliveryConfig.check())
}

// DeliveryConfig is how a sink delivers: its queue and its retries.
type DeliveryConfig struct {
	// QueueSize bounds the messages waiting for delivery; past it new ones
	// are dropped and counted.
	QueueSize int `mapstructure:"queue_size"`
	// RetryOnFailure retries network errors and 5xx answers with backoff.
	RetryOnFailure configretry.BackOffConfig `mapstructure:"retry_on_failure"`
}

// defaultQueueSize holds the events of a few hundred runs.
const defaultQueueSize = 1000

func newDefaultDeliveryConfig() DeliveryConfig {
	return DeliveryConfig{QueueSize: defaultQueueSize, RetryOnFailure: configretry.NewDefaultBackOffConfig()}
}

func (c *DeliveryConfig) check() error {
	if c.QueueSize < 1 {
		return fmt.Errorf("queue_size: must be at least 1, got %d", c.QueueSize)
	}
	return nil
}

// TargetURL is the link a commit status carries: a Go template of the run
// ({{.Run}}), the gate ({{.Gate}}, empty for the run's own status) and the
// first violating span's trace id ({{.TraceID}}), such as
// `https://grafana.example/explore?traceId={{.TraceID}}` or
// `http://releasegate:9464/v1/runs/{{.Run | urlquery}}`.
type TargetURL string

// check compiles the template and renders a sample link, so that a
// misspelt field or a link that is not a URL is a start-up error.
func (t TargetURL) check() error {
	_, err := commitstatus.ParseTargetURL(string(t))
	return err
}

// defaultTimeout bounds one request, so that a receiver that hangs cannot
// hold a sink's queue for long.
const defaultTimeout = 10 * time.Second

// newClientConfig is the HTTP client of a sink that posts to endpoint.
func newClientConfig(endpoint string) confighttp.ClientConfig {
	client := confighttp.NewDefaultClientConfig()
	client.Endpoint = endpoint
	client.Timeout = defaultTimeout
	return client
}

// checkClient checks the client settings a sink relies on: an http or
// https endpoint, and a timeout, without which a receiver that hangs would
// hold the sink's queue until shutdown. It never quotes the endpoint: a
// webhook's URL may carry a token.
func checkClient(client *confighttp.ClientConfig) error {
	var err error
	switch u, parseErr := url.Parse(client.Endpoint); {
	case client.Endpoint == "":
		err = errors.New("endpoint: must be set")
	case parseErr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		err = errors.New("endpoint: must be an http or https URL")
	}
	if client.Timeout <= 0 {
		err = errors.Join(err, fmt.Errorf("timeout: must be a positive duration, got %s", client.Timeout))
	}
	return err
}
