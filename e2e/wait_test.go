package e2e

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The CI step, `releasegate wait`, as the built command, the GitHub Action
// and the GitLab CI template run it against the built distribution.

// sendRun sends a run's spans with telemetrygen: fast and fine when good,
// slow and failing otherwise.
func sendRun(t *testing.T, col *collector, run string, good bool) {
	t.Helper()
	args := []string{"--traces", "3", "--otlp-attributes", `cicd.pipeline.run.id="` + run + `"`}
	if good {
		args = append(args, "--span-duration", "10ms", "--telemetry-attributes", "http.response.status_code=200")
	} else {
		args = append(args, "--span-duration", "200ms", "--status-code", "Error", "--telemetry-attributes", "http.response.status_code=503")
	}
	telemetrygen(t, col.otlpGRPC, args...)
}

// The built command waits until the run has had no span for --settle,
// finishes it and exits with its verdict: 0 passed, 1 failed, 5 for a run
// the collector does not know.
func TestWaitCommand(t *testing.T) {
	col := startCollector(t, collectorFiles(t, "gates.yaml"), newOTLPSink(t).URL)
	col.waitReady(t)
	api := "http://" + col.apiAddr
	env := []string{"RELEASEGATE_URL=" + api}
	sendRun(t, col, "wait-good", true)
	sendRun(t, col, "wait-bad", false)

	// Right after telemetrygen, as a CI job calls it: the last spans may
	// still be in the collector's batch processor.
	out, code := releasegate(t, env, "wait", "wait-good", "--finish", "--settle", "2s")
	assert.Equal(t, 0, code, out)
	assertTable(t, out, "wait-good", map[string]string{
		"server-latency": "✓ passed", "server-status": "✓ passed", "no-errors": "✓ passed",
		"client-peer-named": "✓ passed", "never-matches": "✓ passed",
	})
	assert.Contains(t, out, "\n✓ passed 5 of 5 gates passed\n")

	var good verdict
	var times struct {
		LastSpanAt time.Time `json:"last_span_at"`
		FinishedAt time.Time `json:"finished_at"`
	}
	getJSON(t, "GET", api+"/v1/runs/wait-good", &good)
	getJSON(t, "GET", api+"/v1/runs/wait-good", &times)
	assert.True(t, good.Finished)
	_, _, spans := good.gate("server-latency")
	assert.Equal(t, 3, spans, "every span arrived before the run was finished")
	assert.GreaterOrEqual(t, times.FinishedAt.Sub(times.LastSpanAt), 2*time.Second, "finished after 2s without a span")

	junit := t.TempDir()
	out, code = releasegate(t, env, "wait", "wait-bad", "--finish", "--settle", "2s", "--junit", junit)
	assert.Equal(t, 1, code, out)
	assertTable(t, out, "wait-bad", map[string]string{
		"server-latency": "✗ failed", "server-status": "✗ failed", "no-errors": "✗ failed",
		"client-peer-named": "✓ passed", "never-matches": "✓ passed",
	})
	assert.Regexp(t, `(?m)^✗ failed\s+server-latency\s+3 spans\s+3\s+-\s+failed: violations 3 > 0 \(3 of 3 spans violated duration < 100ms\)$`, out)
	assert.Contains(t, out, "\n✗ failed 3 of 5 gates failed\n")
	report, err := os.ReadFile(filepath.Join(junit, "wait-bad.xml"))
	require.NoError(t, err)
	assertJUnit(t, report, 5, 3)

	// Without --finish, a finished run's verdict at once, as JSON.
	out, code = releasegate(t, env, "wait", "wait-bad", "--format", "json")
	assert.Equal(t, 1, code, out)
	var bad verdict
	require.NoError(t, json.Unmarshal([]byte(out), &bad), out)
	assert.Equal(t, "failed", bad.Status)

	// A run the collector does not know, without --finish: exit 5 at once.
	start := time.Now()
	out, code = releasegate(t, env, "wait", "no-such-run")
	assert.Equal(t, 5, code, out)
	assert.Contains(t, out, `holds no run "no-such-run": check the run id, that the spans carry it as cicd.pipeline.run.id`)
	assert.Less(t, time.Since(start), 5*time.Second)

	// A collector that is not there: retried until the timeout, exit 5.
	out, code = releasegate(t, []string{"RELEASEGATE_URL=http://" + col.apiAddr[:strings.LastIndex(col.apiAddr, ":")] + ":1"}, "wait", "x", "--timeout", "2s")
	assert.Equal(t, 5, code, out)
	assert.Contains(t, out, "connection refused; retrying in")
	assert.Contains(t, out, "--timeout 2s has passed")
}

// assertTable checks the table wait prints: the run, then one line per
// gate with its status.
func assertTable(t *testing.T, out, run string, gates map[string]string) {
	t.Helper()
	assert.Contains(t, out, "run "+run)
	assert.Regexp(t, `(?m)^STATUS\s+GATE\s+MATCHED\s+VIOLATIONS\s+OBSERVED\s+REASON$`, out)
	for gate, status := range gates {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(status)+`\s+`+regexp.QuoteMeta(gate)+`\s`, out, gate)
	}
}

// assertJUnit checks a JUnit report: valid XML, one test case per gate.
func assertJUnit(t *testing.T, report []byte, tests, failures int) {
	t.Helper()
	var suites struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suite    struct {
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(report, &suites), string(report))
	assert.Equal(t, tests, suites.Tests)
	assert.Equal(t, failures, suites.Failures)
	assert.Len(t, suites.Suite.Cases, tests)
}

// githubAction is what action.yml declares.
type githubAction struct {
	Inputs map[string]struct {
		Default  string `yaml:"default"`
		Required bool   `yaml:"required"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			Name  string            `yaml:"name"`
			ID    string            `yaml:"id"`
			Shell string            `yaml:"shell"`
			Run   string            `yaml:"run"`
			Env   map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

var expression = regexp.MustCompile(`\$\{\{\s*([\w.-]+)\s*\}\}`)

// actionRun is what a run of the action left.
type actionRun struct {
	code    int
	log     string
	outputs map[string]string
	summary string
}

// runAction runs action.yml's steps as a GitHub runner does: each step's
// script with bash -eo pipefail, its env with the inputs' expressions
// evaluated, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_PATH files, the
// action's directory (the repository) in GITHUB_ACTION_PATH.
func runAction(t *testing.T, inputs, github map[string]string) actionRun {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "action.yml"))
	require.NoError(t, err)
	var action githubAction
	require.NoError(t, yaml.Unmarshal(data, &action))
	require.Equal(t, "composite", action.Runs.Using)

	eval := func(s string) string {
		return expression.ReplaceAllStringFunc(s, func(e string) string {
			name := expression.FindStringSubmatch(e)[1]
			scope, key, _ := strings.Cut(name, ".")
			switch scope {
			case "inputs":
				in, ok := action.Inputs[key]
				require.True(t, ok, "no input %q", key)
				if v, ok := inputs[key]; ok {
					return v
				}
				require.False(t, in.Required, "input %q is required", key)
				return expression.ReplaceAllStringFunc(in.Default, func(e string) string {
					name := expression.FindStringSubmatch(e)[1]
					v, ok := github[strings.TrimPrefix(name, "github.")]
					require.True(t, ok, "the default %s", e)
					return v
				})
			}
			t.Fatalf("expression %s", e)
			return ""
		})
	}

	temp, workspace := t.TempDir(), t.TempDir()
	summary := filepath.Join(temp, "step_summary")
	pathFile := filepath.Join(temp, "github_path")
	path := os.Getenv("PATH")
	run := actionRun{outputs: map[string]string{}}
	for i, step := range action.Runs.Steps {
		require.Equal(t, "bash", step.Shell, step.Name)
		script := filepath.Join(temp, "step.sh")
		require.NoError(t, os.WriteFile(script, []byte(step.Run), 0o600))
		output := filepath.Join(temp, "output_"+step.ID)
		env := append(os.Environ(), "PATH="+path,
			"RUNNER_TEMP="+temp, "GITHUB_WORKSPACE="+workspace, "GITHUB_ACTION_PATH="+repoRoot(t),
			"GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+summary, "GITHUB_PATH="+pathFile, "GITHUB_ACTIONS=true")
		for k, v := range github {
			env = append(env, "GITHUB_"+strings.ToUpper(k)+"="+v)
		}
		for k, v := range step.Env {
			env = append(env, k+"="+eval(v))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir, cmd.Env = workspace, env
		out, err := cmd.CombinedOutput()
		cancel()
		run.log += "## " + step.Name + "\n" + string(out)
		if err != nil {
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "step %d: %s", i, out)
			run.code = exit.ExitCode()
		}
		if step.ID != "" {
			if data, err := os.ReadFile(output); err == nil {
				for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
					if k, v, ok := strings.Cut(line, "="); ok {
						run.outputs["steps."+step.ID+".outputs."+k] = v
					}
				}
			}
		}
		// What a step adds to GITHUB_PATH is on the PATH of the next.
		if data, err := os.ReadFile(pathFile); err == nil {
			for dir := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
				path = dir + string(os.PathListSeparator) + path
			}
			require.NoError(t, os.Remove(pathFile))
		}
		if run.code != 0 {
			break
		}
	}
	// The action's outputs, from its steps'.
	outputs := map[string]string{}
	for name, o := range action.Outputs {
		outputs[name] = expression.ReplaceAllStringFunc(o.Value, func(e string) string {
			return run.outputs[expression.FindStringSubmatch(e)[1]]
		})
	}
	run.outputs = outputs
	if data, err := os.ReadFile(summary); err == nil {
		run.summary = string(data)
	}
	return run
}

// The GitHub Action at the repository's root: its steps' scripts, as a
// runner runs them, install the command from the action's checkout, wait
// for the workflow run's verdict, fail the step unless it passed, set the
// output status and write the table to the job summary.
func TestGitHubAction(t *testing.T) {
	col := startCollector(t, collectorFiles(t, "gates.yaml"), newOTLPSink(t).URL)
	col.waitReady(t)
	api := "http://" + col.apiAddr
	sendRun(t, col, "4242", false)
	sendRun(t, col, "action-good", true)

	// The run is the workflow run's, by default.
	run := runAction(t, map[string]string{"url": api, "settle": "2s"}, map[string]string{"run_id": "4242"})
	t.Logf("the job summary:\n%s", run.summary)
	assert.Equal(t, 1, run.code, run.log)
	assert.Equal(t, map[string]string{"status": "failed"}, run.outputs)
	assert.Contains(t, run.summary, "### releasegate: run `4242` failed\n")
	assertTable(t, run.summary, "4242", map[string]string{"server-latency": "✗ failed", "client-peer-named": "✓ passed"})
	assert.Contains(t, run.summary, "\n✗ failed 3 of 5 gates failed\n")
	assert.Contains(t, run.log, "::error::releasegate: run 4242 is failed (exit 1)")

	run = runAction(t, map[string]string{"url": api, "run": "action-good", "settle": "2s", "timeout": "1m"}, map[string]string{"run_id": "1"})
	assert.Equal(t, 0, run.code, run.log)
	assert.Equal(t, map[string]string{"status": "passed"}, run.outputs)
	assert.Contains(t, run.summary, "\n✓ passed 5 of 5 gates passed\n")

	// Without finish, a run the collector does not know: no verdict, exit
	// 5, the reason in the summary.
	run = runAction(t, map[string]string{"url": api, "run": "unknown", "finish": "false"}, map[string]string{"run_id": "1"})
	assert.Equal(t, 5, run.code, run.log)
	assert.Equal(t, map[string]string{"status": ""}, run.outputs)
	assert.Contains(t, run.summary, "### releasegate: run `unknown` has no verdict")
	assert.Contains(t, run.summary, `holds no run "unknown"`)
}

// The GitLab CI template: its job's script, run as GitLab runs it with
// the template's variables and a pipeline's, gates the pipeline's run and
// leaves the JUnit report where artifacts:reports:junit collects it.
func TestGitLabTemplate(t *testing.T) {
	col := startCollector(t, collectorFiles(t, "gates.yaml"), newOTLPSink(t).URL)
	col.waitReady(t)
	api := "http://" + col.apiAddr
	sendRun(t, col, "5151", false)
	sendRun(t, col, "5252", true)

	data, err := os.ReadFile(filepath.Join(repoRoot(t), "ci", "releasegate.gitlab-ci.yml"))
	require.NoError(t, err)
	var template map[string]struct {
		Image     string            `yaml:"image"`
		Variables map[string]string `yaml:"variables"`
		Script    []string          `yaml:"script"`
		Artifacts struct {
			When    string `yaml:"when"`
			Reports struct {
				JUnit string `yaml:"junit"`
			} `yaml:"reports"`
		} `yaml:"artifacts"`
	}
	require.NoError(t, yaml.Unmarshal(data, &template))
	job, ok := template[".releasegate"]
	require.True(t, ok, "the hidden job .releasegate")
	require.NotEmpty(t, job.Artifacts.Reports.JUnit)
	assert.Equal(t, "always", job.Artifacts.When, "a failed gate's report is published too")

	for _, tt := range []struct {
		pipeline string
		code     int
		failures int
	}{{"5151", 1, 3}, {"5252", 0, 0}} {
		t.Run(tt.pipeline, func(t *testing.T) {
			project := t.TempDir()
			// GitLab's variables, then the template's, expanded with them,
			// then the including job's.
			gitlab := map[string]string{"CI": "true", "GITLAB_CI": "true", "CI_PIPELINE_ID": tt.pipeline, "CI_PROJECT_DIR": project}
			env := os.Environ()
			for k, v := range gitlab {
				env = append(env, k+"="+v)
			}
			for k, v := range job.Variables {
				env = append(env, k+"="+os.Expand(v, func(name string) string { return gitlab[name] }))
			}
			env = append(env, "RELEASEGATE_URL="+api, "RELEASEGATE_SETTLE=2s",
				// The image has the command: the template does not install it.
				"PATH="+filepath.Dir(tool(t, "RELEASEGATE_CLI"))+string(os.PathListSeparator)+os.Getenv("PATH"))
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", strings.Join(job.Script, "\n"))
			cmd.Dir, cmd.Env = project, env
			out, err := cmd.CombinedOutput()
			code := 0
			if err != nil {
				var exit *exec.ExitError
				require.ErrorAs(t, err, &exit, string(out))
				code = exit.ExitCode()
			}
			assert.Equal(t, tt.code, code, string(out))
			assert.NotContains(t, string(out), "go: downloading")
			assertTable(t, string(out), tt.pipeline, map[string]string{"client-peer-named": "✓ passed"})

			reports, err := filepath.Glob(filepath.Join(project, job.Artifacts.Reports.JUnit))
			require.NoError(t, err)
			require.Len(t, reports, 1, "the report at %s", job.Artifacts.Reports.JUnit)
			report, err := os.ReadFile(reports[0])
			require.NoError(t, err)
			assertJUnit(t, report, 5, tt.failures)
		})
	}
}
