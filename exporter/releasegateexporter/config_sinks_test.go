package releasegateexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
)

const (
	githubToken = "ghp_t0ps3cr3t-token"
	gitlabToken = "glpat-t0ps3cr3t-token"
)

func TestDefaultGitHubConfig(t *testing.T) {
	cfg := newDefaultGitHubConfig()
	assert.Equal(t, "https://api.github.com", cfg.ClientConfig.Endpoint)
	assert.Equal(t, 10*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, "releasegate", cfg.ContextPrefix)
	assert.Equal(t, newDefaultDeliveryConfig(), cfg.DeliveryConfig)
	require.EqualError(t, cfg.check(), "token: must be set")

	cfg.Token = githubToken
	require.NoError(t, cfg.check())
}

func TestGitHubConfigUnmarshal(t *testing.T) {
	cfg := newDefaultGitHubConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"endpoint":         "https://ghe.example.com/api/v3",
		"timeout":          "3s",
		"token":            githubToken,
		"repository":       "acme/shop",
		"context_prefix":   "ci/releasegate",
		"target_url":       "https://grafana.example/explore?traceId={{.TraceID}}",
		"queue_size":       10,
		"retry_on_failure": map[string]any{"max_elapsed_time": "1m"},
	}).Unmarshal(&cfg))

	assert.Equal(t, "https://ghe.example.com/api/v3", cfg.ClientConfig.Endpoint)
	assert.Equal(t, 3*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, githubToken, string(cfg.Token))
	assert.Equal(t, "acme/shop", cfg.Repository)
	assert.Equal(t, "ci/releasegate", cfg.ContextPrefix)
	assert.Equal(t, TargetURL("https://grafana.example/explore?traceId={{.TraceID}}"), cfg.TargetURL)
	assert.Equal(t, 10, cfg.QueueSize)
	assert.Equal(t, time.Minute, cfg.RetryOnFailure.MaxElapsedTime)
	assert.True(t, cfg.RetryOnFailure.Enabled, "defaults are kept")
	require.NoError(t, cfg.check())
}

// configCheck is a change to a sink's settings and the error naming it.
type configCheck[C any] struct {
	name   string
	modify func(*C)
	want   string
}

// commitStatusChecks are the checks GitHub and GitLab share; prefix is the
// key of the statuses' prefix.
func commitStatusChecks[C any](client func(*C) *confighttp.ClientConfig, token func(*C) *configopaque.String,
	target func(*C) *TargetURL, delivery func(*C) *DeliveryConfig,
) []configCheck[C] {
	return []configCheck[C]{
		{"no endpoint", func(c *C) { client(c).Endpoint = "" }, "endpoint: must be set"},
		{"endpoint without scheme", func(c *C) { client(c).Endpoint = "api.example.com" }, "endpoint: must be an http or https URL"},
		{"endpoint of another scheme", func(c *C) { client(c).Endpoint = "ftp://api.example.com" }, "endpoint: must be an http or https URL"},
		{"no token", func(c *C) { *token(c) = "" }, "token: must be set"},
		{"no timeout", func(c *C) { client(c).Timeout = 0 }, "timeout: must be a positive duration, got 0s"},
		{"target_url that does not parse", func(c *C) { *target(c) = "https://x/{{.Run" }, "target_url: template: target_url:1: unclosed action"},
		{"target_url with an unknown field", func(c *C) { *target(c) = "https://x/{{.Trace}}" }, "target_url: template: target_url:1:12: executing"},
		{"target_url that is not a URL", func(c *C) { *target(c) = "tempo/{{.TraceID}}" }, `target_url: must render an http or https URL, got "tempo/t"`},
		{"bad queue_size", func(c *C) { delivery(c).QueueSize = 0 }, "queue_size: must be at least 1, got 0"},
		{"negative queue_size", func(c *C) { delivery(c).QueueSize = -1 }, "queue_size: must be at least 1, got -1"},
	}
}

// testChecks runs each check on a valid config, then all at once: every
// key is named, and no error quotes the token.
func testChecks[C any](t *testing.T, valid func() C, check func(*C) error, token string, tests []configCheck[C], keys []string) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.modify(&cfg)
			err := check(&cfg)
			require.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), token)
		})
	}
	t.Run("all at once", func(t *testing.T) {
		cfg := valid()
		for _, tt := range tests {
			tt.modify(&cfg)
		}
		err := check(&cfg)
		require.Error(t, err)
		for _, key := range keys {
			assert.Contains(t, err.Error(), key+": ")
		}
	})
}

func TestGitHubConfigCheck(t *testing.T) {
	tests := append(commitStatusChecks(
		func(c *GitHubConfig) *confighttp.ClientConfig { return &c.ClientConfig },
		func(c *GitHubConfig) *configopaque.String { return &c.Token },
		func(c *GitHubConfig) *TargetURL { return &c.TargetURL },
		func(c *GitHubConfig) *DeliveryConfig { return &c.DeliveryConfig },
	),
		configCheck[GitHubConfig]{"repository without owner", func(c *GitHubConfig) { c.Repository = "shop" }, `repository: must be owner/name, got "shop"`},
		configCheck[GitHubConfig]{"repository as a URL", func(c *GitHubConfig) { c.Repository = "https://github.com/acme/shop" }, `repository: must be owner/name, got "https://github.com/acme/shop"`},
		configCheck[GitHubConfig]{"no context prefix", func(c *GitHubConfig) { c.ContextPrefix = "" }, "context_prefix: must be set"},
	)
	valid := func() GitHubConfig {
		cfg := newDefaultGitHubConfig()
		cfg.Token = githubToken
		return cfg
	}
	testChecks(t, valid, (*GitHubConfig).check, githubToken, tests,
		[]string{"endpoint", "timeout", "token", "repository", "context_prefix", "target_url", "queue_size"})
}

func TestDefaultGitLabConfig(t *testing.T) {
	cfg := newDefaultGitLabConfig()
	assert.Equal(t, "https://gitlab.com", cfg.ClientConfig.Endpoint)
	assert.Equal(t, 10*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, "releasegate", cfg.NamePrefix)
	assert.Equal(t, newDefaultDeliveryConfig(), cfg.DeliveryConfig)
	require.EqualError(t, cfg.check(), "token: must be set\nproject: must be set")

	cfg.Token = gitlabToken
	cfg.Project = "42"
	require.NoError(t, cfg.check())
}

func TestGitLabConfigUnmarshal(t *testing.T) {
	cfg := newDefaultGitLabConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"endpoint":         "https://gitlab.example.com",
		"timeout":          "3s",
		"token":            gitlabToken,
		"project":          "group/sub/name",
		"name_prefix":      "ci/releasegate",
		"target_url":       "https://grafana.example/explore?traceId={{.TraceID}}",
		"queue_size":       10,
		"retry_on_failure": map[string]any{"max_elapsed_time": "1m"},
	}).Unmarshal(&cfg))

	assert.Equal(t, "https://gitlab.example.com", cfg.ClientConfig.Endpoint)
	assert.Equal(t, 3*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, gitlabToken, string(cfg.Token))
	assert.Equal(t, "group/sub/name", cfg.Project)
	assert.Equal(t, "ci/releasegate", cfg.NamePrefix)
	assert.Equal(t, TargetURL("https://grafana.example/explore?traceId={{.TraceID}}"), cfg.TargetURL)
	assert.Equal(t, 10, cfg.QueueSize)
	assert.Equal(t, time.Minute, cfg.RetryOnFailure.MaxElapsedTime)
	assert.True(t, cfg.RetryOnFailure.Enabled, "defaults are kept")
	require.NoError(t, cfg.check())
}

func TestGitLabConfigCheck(t *testing.T) {
	tests := append(commitStatusChecks(
		func(c *GitLabConfig) *confighttp.ClientConfig { return &c.ClientConfig },
		func(c *GitLabConfig) *configopaque.String { return &c.Token },
		func(c *GitLabConfig) *TargetURL { return &c.TargetURL },
		func(c *GitLabConfig) *DeliveryConfig { return &c.DeliveryConfig },
	),
		configCheck[GitLabConfig]{"no project", func(c *GitLabConfig) { c.Project = "" }, "project: must be set"},
		configCheck[GitLabConfig]{"project without group", func(c *GitLabConfig) { c.Project = "name" }, `project: must be a numeric id or a path such as group/name, got "name"`},
		configCheck[GitLabConfig]{"project with an empty segment", func(c *GitLabConfig) { c.Project = "group//name" }, `project: must be a numeric id or a path such as group/name, got "group//name"`},
		configCheck[GitLabConfig]{"no name prefix", func(c *GitLabConfig) { c.NamePrefix = "" }, "name_prefix: must be set"},
	)
	valid := func() GitLabConfig {
		cfg := newDefaultGitLabConfig()
		cfg.Token = gitlabToken
		cfg.Project = "group/name"
		return cfg
	}
	testChecks(t, valid, (*GitLabConfig).check, gitlabToken, tests,
		[]string{"endpoint", "timeout", "token", "project", "name_prefix", "target_url", "queue_size"})
}

func TestDefaultWebhookConfig(t *testing.T) {
	cfg := newDefaultWebhookConfig()
	assert.Equal(t, WebhookFormatJSON, cfg.Format)
	assert.Equal(t, 10*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, defaultQueueSize, cfg.QueueSize)
	assert.True(t, cfg.RetryOnFailure.Enabled)
	assert.EqualError(t, cfg.check(), "endpoint: must be set")

	cfg.ClientConfig.Endpoint = "https://ci.example/hooks/releasegate"
	assert.NoError(t, cfg.check())
}

func TestWebhookConfigUnmarshal(t *testing.T) {
	cfg := newDefaultWebhookConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"endpoint":         "https://ci.example/hooks/releasegate",
		"headers":          map[string]any{"X-Team": "checkout"},
		"timeout":          "2s",
		"secret":           "s3cret",
		"format":           "cdevents",
		"queue_size":       5,
		"retry_on_failure": map[string]any{"enabled": false},
	}).Unmarshal(&cfg))

	assert.Equal(t, "https://ci.example/hooks/releasegate", cfg.ClientConfig.Endpoint)
	v, ok := cfg.ClientConfig.Headers.Get("X-Team")
	assert.True(t, ok)
	assert.Equal(t, configopaque.String("checkout"), v)
	assert.Equal(t, 2*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, configopaque.String("s3cret"), cfg.Secret)
	assert.Equal(t, WebhookFormatCDEvents, cfg.Format)
	assert.Equal(t, 5, cfg.QueueSize)
	assert.False(t, cfg.RetryOnFailure.Enabled)
	assert.NoError(t, cfg.check())
}

func TestWebhookConfigCheck(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*WebhookConfig)
		want   []string
	}{
		{"no endpoint", func(c *WebhookConfig) { c.ClientConfig.Endpoint = "" }, []string{"endpoint: must be set"}},
		{"not http", func(c *WebhookConfig) { c.ClientConfig.Endpoint = "ftp://ci.example/T0K3N" }, []string{"endpoint: must be an http or https URL"}},
		{"no scheme", func(c *WebhookConfig) { c.ClientConfig.Endpoint = "ci.example:8080/T0K3N" }, []string{"endpoint: must be an http or https URL"}},
		{"no host", func(c *WebhookConfig) { c.ClientConfig.Endpoint = "https:///T0K3N" }, []string{"endpoint: must be an http or https URL"}},
		{"unknown format", func(c *WebhookConfig) { c.Format = "xml" }, []string{`format: must be json or cdevents, got "xml"`}},
		{"empty format", func(c *WebhookConfig) { c.Format = "" }, []string{`format: must be json or cdevents, got ""`}},
		{"format in capitals", func(c *WebhookConfig) { c.Format = "CDEvents" }, []string{`format: must be json or cdevents, got "CDEvents"`}},
		{"no timeout", func(c *WebhookConfig) { c.ClientConfig.Timeout = 0 }, []string{"timeout: must be a positive duration, got 0s"}},
		{"negative timeout", func(c *WebhookConfig) { c.ClientConfig.Timeout = -time.Second }, []string{"timeout: must be a positive duration, got -1s"}},
		{"secret with a trailing newline", func(c *WebhookConfig) { c.Secret = "T0K3N\n" }, []string{"secret: must not begin or end with whitespace"}},
		{"secret with a leading space, cdevents", func(c *WebhookConfig) {
			c.Secret = " T0K3N"
			c.Format = WebhookFormatCDEvents
		}, []string{"secret: must not begin or end with whitespace"}},
		{"queue size", func(c *WebhookConfig) { c.QueueSize = 0 }, []string{"queue_size: must be at least 1, got 0"}},
		{"every error at once", func(c *WebhookConfig) {
			c.ClientConfig.Endpoint = ""
			c.ClientConfig.Timeout = -time.Second
			c.Secret = "T0K3N "
			c.Format = "xml"
			c.QueueSize = -1
		}, []string{
			"endpoint: must be set",
			"timeout: must be a positive duration, got -1s",
			"secret: must not begin or end with whitespace",
			`format: must be json or cdevents, got "xml"`,
			"queue_size: must be at least 1, got -1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newDefaultWebhookConfig()
			cfg.ClientConfig.Endpoint = "https://ci.example/hooks/releasegate"
			tt.modify(&cfg)
			err := cfg.check()
			require.Error(t, err)
			for _, want := range tt.want {
				assert.ErrorContains(t, err, want)
			}
			// Webhook URLs and secrets: errors never quote them.
			assert.NotContains(t, err.Error(), "T0K3N")
		})
	}

	// Either format, signed or not.
	for _, format := range []WebhookFormat{WebhookFormatJSON, WebhookFormatCDEvents} {
		cfg := newDefaultWebhookConfig()
		cfg.ClientConfig.Endpoint = "https://ci.example/hooks/releasegate"
		cfg.Format = format
		require.NoError(t, cfg.check())
		cfg.Secret = "s3cret"
		require.NoError(t, cfg.check())
	}
}

func TestJUnitConfigUnmarshal(t *testing.T) {
	cfg := newDefaultJUnitConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"directory":        "reports/releasegate",
		"queue_size":       10,
		"retry_on_failure": map[string]any{"enabled": false},
	}).Unmarshal(&cfg))

	assert.Equal(t, "reports/releasegate", cfg.Directory)
	assert.Equal(t, 10, cfg.QueueSize)
	assert.False(t, cfg.RetryOnFailure.Enabled)
	assert.Equal(t, newDefaultJUnitConfig().RetryOnFailure.MaxElapsedTime, cfg.RetryOnFailure.MaxElapsedTime)
}

func TestJUnitConfigCheck(t *testing.T) {
	cfg := newDefaultJUnitConfig()
	assert.EqualError(t, cfg.check(), "directory: must be set")

	cfg.Directory = "reports"
	require.NoError(t, cfg.check())

	cfg.QueueSize = 0
	assert.EqualError(t, cfg.check(), "queue_size: must be at least 1, got 0")

	cfg.Directory = ""
	assert.EqualError(t, cfg.check(), "directory: must be set\nqueue_size: must be at least 1, got 0")
}

// Every sink's section refuses keys it does not have, by their path.
func TestSinkConfigUnknownKeys(t *testing.T) {
	for _, tt := range []struct {
		cfg  confmap.Unmarshaler
		conf map[string]any
		want string
	}{
		{&GitHubConfig{}, map[string]any{"tokn": "t", "queue_sise": 1}, "unknown keys: queue_sise, tokn"},
		{&GitLabConfig{}, map[string]any{"tls": map[string]any{"ca_fle": "ca.pem"}}, "unknown keys: tls::ca_fle"},
		{&WebhookConfig{}, map[string]any{"endpoint": "https://ci.example", "secrt": "s"}, "unknown keys: secrt"},
		{&JUnitConfig{}, map[string]any{"directry": "reports"}, "unknown keys: directry"},
		{&JUnitConfig{}, map[string]any{"directory": "reports", "retry_on_failure": map[string]any{"enabld": false}}, "unknown keys: retry_on_failure::enabld"},
	} {
		assert.ErrorContains(t, tt.cfg.Unmarshal(confmap.NewFromStringMap(tt.conf)), tt.want)
	}
}

func TestDeliveryConfigCheck(t *testing.T) {
	cfg := newDefaultDeliveryConfig()
	require.NoError(t, cfg.check())
	assert.Equal(t, defaultQueueSize, cfg.QueueSize)
	assert.True(t, cfg.RetryOnFailure.Enabled)

	cfg.QueueSize = 0
	assert.EqualError(t, cfg.check(), "queue_size: must be at least 1, got 0")
}

// DeliveryConfig.check leaves retry_on_failure to the collector, which
// validates it on its own and names it.
func TestRetryOnFailureValidated(t *testing.T) {
	tests := []struct {
		modify func(*configretry.BackOffConfig)
		want   string
	}{
		{func(c *configretry.BackOffConfig) { c.InitialInterval = -time.Second }, "initial_interval value must be greater than or equal to 0"},
		{func(c *configretry.BackOffConfig) { c.MaxInterval = -time.Second }, "max_interval value must be greater than or equal to 0"},
		{func(c *configretry.BackOffConfig) { c.MaxElapsedTime = -time.Second }, "max_elapsed_time value must be greater than or equal to 0"},
		{func(c *configretry.BackOffConfig) { c.MaxElapsedTime = time.Second }, "'max_elapsed_time' must not be less than 'initial_interval'"},
		{func(c *configretry.BackOffConfig) { c.Multiplier = -1 }, "multiplier value must be greater than or equal to 0"},
		{func(c *configretry.BackOffConfig) { c.RandomizationFactor = 2 }, "randomization_factor value must be less than or equal to 1"},
	}
	for _, tt := range tests {
		cfg := newDefaultDeliveryConfig()
		tt.modify(&cfg.RetryOnFailure)
		require.NoError(t, cfg.check())
		assert.ErrorContains(t, confmap.Validate(&cfg), "retry_on_failure: "+tt.want)
	}
}
