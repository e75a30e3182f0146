package releasegateexporter

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/page"
)

// Every trace_url the READMEs show, commented out or not, is one the
// exporter takes, and links a trace: Jaeger's by path, Grafana Explore's
// in its panes' query.
func TestReadmeTraceURLs(t *testing.T) {
	const traceID = "5b8efff798038103d269b633813fc60c"
	setting := regexp.MustCompile(`(?m)^\s*(?:# )?trace_url: "([^"]+)"`)
	seen := 0
	for _, readme := range []string{filepath.Join("..", "..", "README.md"), "README.md"} {
		data, err := os.ReadFile(readme)
		require.NoError(t, err)
		for _, m := range setting.FindAllStringSubmatch(string(data), -1) {
			seen++
			link, err := page.ParseTraceURL(m[1])
			require.NoError(t, err, m[1])
			rendered := link.Link(traceID, "")
			u, err := url.Parse(rendered)
			require.NoError(t, err)
			if panes := u.Query().Get("panes"); panes != "" {
				var explore map[string]struct {
					Queries []struct{ Query string }
				}
				require.NoError(t, json.Unmarshal([]byte(panes), &explore), panes)
				for _, pane := range explore {
					require.Len(t, pane.Queries, 1)
					assert.Equal(t, traceID, pane.Queries[0].Query)
				}
				continue
			}
			assert.True(t, strings.HasSuffix(u.Path, "/trace/"+traceID), rendered)
		}
	}
	assert.GreaterOrEqual(t, seen, 3)
}
