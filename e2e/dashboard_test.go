package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dashboardVariables stand in for what Grafana fills in: every gate.
var dashboardVariables = strings.NewReplacer("$gate", ".*")

// checkDashboard sends every query of examples/grafana/releasegate.json to
// Prometheus, which has scraped a collector, and requires each to return
// data.
func checkDashboard(t *testing.T, prometheus string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "grafana", "releasegate.json"))
	require.NoError(t, err)
	var dashboard struct {
		SchemaVersion int `json:"schemaVersion"`
		Templating    struct {
			List []struct{ Name, Type, Query any }
		}
		Panels []struct {
			Title      string
			Datasource struct{ Type, UID string }
			Targets    []struct {
				RefID      string `json:"refId"`
				Expr       string
				Instant    bool
				Datasource struct{ Type, UID string }
			}
		}
	}
	require.NoError(t, json.Unmarshal(data, &dashboard))
	assert.GreaterOrEqual(t, dashboard.SchemaVersion, 39, "a current schema")
	require.NotEmpty(t, dashboard.Templating.List)
	assert.Equal(t, "datasource", dashboard.Templating.List[0].Name)
	assert.Equal(t, "datasource", dashboard.Templating.List[0].Type)
	assert.Equal(t, "prometheus", dashboard.Templating.List[0].Query)

	for _, panel := range dashboard.Panels {
		assert.Equal(t, "${datasource}", panel.Datasource.UID, panel.Title)
		require.NotEmpty(t, panel.Targets, panel.Title)
		for _, target := range panel.Targets {
			key := panel.Title + "/" + target.RefID
			assert.Equal(t, "${datasource}", target.Datasource.UID, key)
			query := dashboardVariables.Replace(target.Expr)
			var resp struct {
				Status string
				Error  string
				Data   struct{ Result []json.RawMessage }
			}
			code := getJSON(t, http.MethodGet, prometheus+"/api/v1/query?query="+url.QueryEscape(query), &resp)
			require.Equal(t, http.StatusOK, code, "%s: %s: %s", key, query, resp.Error)
			require.Equal(t, "success", resp.Status, key)
			assert.NotEmpty(t, resp.Data.Result, "%s returns no data: %s", key, query)
		}
	}
}
