package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The READMEs are tested as a newcomer uses them: their commands pasted as
// they stand, their configurations started, what they show compared with
// what the built distribution does.

// repoRoot is the repository's root, from the e2e directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// block is a fenced code block of a markdown file.
type block struct {
	lang, text string
}

// markdownBlocks returns the fenced code blocks of the section of a
// markdown file under heading (a line such as "## Quickstart"), up to the
// next heading of the same or a higher level; all of them when heading is
// empty.
func markdownBlocks(t *testing.T, path, heading string) []block {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	level := strings.IndexFunc(heading, func(r rune) bool { return r != '#' })
	var (
		blocks  []block
		in      = heading == ""
		current *block
	)
	for line := range strings.SplitSeq(string(data), "\n") {
		if current != nil {
			if line == "```" {
				blocks = append(blocks, *current)
				current = nil
				continue
			}
			current.text += line + "\n"
			continue
		}
		if heading != "" && strings.HasPrefix(line, "#") {
			l := strings.IndexFunc(line, func(r rune) bool { return r != '#' })
			switch {
			case line == heading:
				in = true
				continue
			case in && l <= level:
				return blocks
			}
		}
		if in && strings.HasPrefix(line, "```") {
			current = &block{lang: strings.TrimPrefix(line, "```")}
		}
	}
	require.True(t, in, "no section %q in %s", heading, path)
	return blocks
}

// shownLines are the lines of a block of output that README shows for
// real: "..." stands for what it leaves out, and exemplars, whose trace ids
// change with every run, are left out too.
func shownLines(b block) []string {
	var lines []string
	for line := range strings.SplitSeq(strings.TrimRight(b.text, "\n"), "\n") {
		if strings.TrimSpace(line) == "..." || strings.Contains(line, `"exemplars"`) {
			continue
		}
		lines = append(lines, strings.TrimRight(line, " "))
	}
	return lines
}

// assertShows checks that every line README shows is a line of output, in
// the same order.
func assertShows(t *testing.T, shown []string, output string) {
	t.Helper()
	rest := strings.Split(output, "\n")
	for _, want := range shown {
		i := 0
		for i < len(rest) && strings.TrimRight(rest[i], " ") != want {
			i++
		}
		if !assert.Less(t, i, len(rest), "README shows %q, which is not in the output (in this order):\n%s", want, output) {
			return
		}
		rest = rest[i+1:]
	}
}

// runShell runs a README block with bash in the repository's root, as a
// user pastes it into a terminal, and returns its output and exit code.
func runShell(t *testing.T, script string, env ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	require.NoError(t, err, "%s\n%s", script, out)
	return string(out), 0
}

// withTools puts the tools `make tools` installs where README's commands
// look for them, .tools/ in the repository, when the test was given them
// from elsewhere.
func withTools(t *testing.T) {
	t.Helper()
	want := filepath.Join(repoRoot(t), ".tools", "telemetrygen")
	if got := tool(t, "TELEMETRYGEN"); got != want {
		t.Fatalf("README's commands use %s; the tests were given %s", want, got)
	}
}

// README's quickstart, pasted as it stands: `make run` in one terminal,
// the rest in another, right after each other. The run of slow spans
// fails, the run of fast ones passes, and the output is what README shows.
func TestReadmeQuickstart(t *testing.T) {
	withTools(t)
	blocks := markdownBlocks(t, filepath.Join(repoRoot(t), "README.md"), "## Quickstart")
	require.Len(t, blocks, 6, "make run; run-1; the span; its verdict; run-2; its verdict")
	require.Equal(t, "make run\n", blocks[0].text)

	// The first terminal: make run, which finds the distribution built.
	collectorOut := &syncBuffer{}
	cmd := exec.Command("bash", "-c", blocks[0].text)
	cmd.Dir = repoRoot(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = collectorOut, collectorOut
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("make run:\n%s", collectorOut.String())
		}
	})
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		resp, err := http.Get("http://localhost:13133/")
		require.NoError(c, err)
		resp.Body.Close()
		assert.Equal(c, http.StatusOK, resp.StatusCode)
	}, 5*time.Minute, 200*time.Millisecond, "make run did not start the collector:\n%s", collectorOut)

	// The second terminal.
	out, code := runShell(t, blocks[1].text)
	assert.Equal(t, 1, code, "releasegate wait exits 1 for a failed run:\n%s", out)
	assertShows(t, shownLines(blocks[3]), out)
	assertShows(t, shownLines(blocks[2]), collectorOut.String())

	out, code = runShell(t, blocks[4].text)
	assert.Equal(t, 0, code, "releasegate wait exits 0 for a passed run:\n%s", out)
	assertShows(t, shownLines(blocks[5]), out)

	// Step 4 of "Gate a release in five minutes", as a CI job elsewhere
	// runs it: the command installed, the run id from the CI system's
	// variable, the exporter's URL exported.
	blocks = markdownBlocks(t, filepath.Join(repoRoot(t), "README.md"), "## Gate a release in five minutes")
	var step4 string
	for _, b := range blocks {
		if b.lang == "sh" && strings.Contains(b.text, "releasegate wait") {
			step4 = b.text
		}
	}
	require.NotEmpty(t, step4)
	step4 = regexp.MustCompile(`RELEASEGATE_URL=\S+`).ReplaceAllString(step4, "RELEASEGATE_URL=http://localhost:9464")
	telemetrygen(t, "localhost:4317", "--traces", "5", "--span-duration", "10ms", "--otlp-attributes", `cicd.pipeline.run.id="4242"`)
	installed := filepath.Join(repoRoot(t), "bin")
	out, code = runShell(t, step4, "GITHUB_RUN_ID=4242", "PATH="+installed+string(os.PathListSeparator)+os.Getenv("PATH"))
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "run 4242")
	assert.Regexp(t, `(?m)^✓ passed \d+ of \d+ gates passed$`, out)
}

// Step 4 of "Gate a release in five minutes" on GitHub and GitLab: the
// action's inputs and the template's job and variables are those they
// declare.
func TestReadmeCITemplates(t *testing.T) {
	root := repoRoot(t)
	var github, gitlab string
	for _, b := range markdownBlocks(t, filepath.Join(root, "README.md"), "## Gate a release in five minutes") {
		switch {
		case b.lang == "yaml" && strings.Contains(b.text, "uses: releasegate/releasegate@"):
			github = b.text
		case b.lang == "yaml" && strings.Contains(b.text, "extends: .releasegate"):
			gitlab = b.text
		}
	}
	require.NotEmpty(t, github, "a GitHub step that uses the action")
	require.NotEmpty(t, gitlab, "a GitLab job that extends the template")

	var action githubAction
	data, err := os.ReadFile(filepath.Join(root, "action.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &action))
	var steps []struct {
		Uses string            `yaml:"uses"`
		With map[string]string `yaml:"with"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(github), &steps))
	require.Len(t, steps, 1)
	for input := range steps[0].With {
		assert.Contains(t, action.Inputs, input)
	}
	for name, input := range action.Inputs {
		if input.Required {
			assert.Contains(t, steps[0].With, name, "a required input")
		}
	}

	var template map[string]struct {
		Variables map[string]string `yaml:"variables"`
	}
	data, err = os.ReadFile(filepath.Join(root, "ci", "releasegate.gitlab-ci.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &template))
	var pipeline map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(gitlab), &pipeline))
	include, err := yaml.Marshal(pipeline["include"])
	require.NoError(t, err)
	assert.Contains(t, string(include), "/ci/releasegate.gitlab-ci.yml")
	jobs := 0
	for name, v := range pipeline {
		job, ok := v.(map[string]any)
		if name == "include" || !ok || job["extends"] != ".releasegate" {
			continue
		}
		jobs++
		_, ok = template[".releasegate"]
		require.True(t, ok)
		variables, _ := job["variables"].(map[string]any)
		for k := range variables {
			assert.Contains(t, template[".releasegate"].Variables, k)
		}
	}
	assert.Equal(t, 1, jobs)
}

// The start-up errors README shows are what the collector prints for a
// gates file with those mistakes, both components reading it.
func TestReadmeStartupErrors(t *testing.T) {
	blocks := markdownBlocks(t, filepath.Join(repoRoot(t), "README.md"), "### Mistakes stop the collector")
	require.NotEmpty(t, blocks)
	col := startCollector(t, collectorFiles(t, "bad-gates.yaml"), "http://127.0.0.1:1")
	require.Error(t, col.waitExit(t))
	assert.Equal(t, blocks[0].text, col.output.String())
}

// The builder manifest README shows for a checkout builds: ocb resolves
// every module with the path given.
func TestReadmeBuilderManifest(t *testing.T) {
	ocb := tool(t, "OCB")
	var manifest string
	for _, b := range markdownBlocks(t, filepath.Join(repoRoot(t), "README.md"), "## Using it in your collector") {
		if b.lang == "yaml" && strings.Contains(b.text, "path:") {
			manifest = b.text
		}
	}
	require.NotEmpty(t, manifest, "README shows a manifest with path:")
	dir := t.TempDir()
	// The manifest stands beside the checkout, as README has it.
	manifest = strings.ReplaceAll(manifest, "../releasegate", repoRoot(t))
	manifest = fmt.Sprintf(`dist:
  name: otelcol-readme
  output_path: %s
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver v0.165.0
`, filepath.Join(dir, "build")) + manifest
	require.NoError(t, os.WriteFile(filepath.Join(dir, "manifest.yaml"), []byte(manifest), 0o600))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, ocb, "--config", filepath.Join(dir, "manifest.yaml"), "--skip-compilation").CombinedOutput()
	require.NoError(t, err, "%s\n%s", manifest, out)
	gomod, err := os.ReadFile(filepath.Join(dir, "build", "go.mod"))
	require.NoError(t, err)
	replaced := regexp.MustCompile(`(?m)^replace github.com/releasegate/releasegate v0.0.0 => (\S+)$`).FindStringSubmatch(string(gomod))
	require.NotNil(t, replaced, "the checkout replaces the module:\n%s", gomod)
	assert.Equal(t, repoRoot(t), filepath.Join(dir, "build", replaced[1]))
}

// Every collector configuration the project ships, examples/ and the
// complete ones in the READMEs, starts without a deprecation warning.
func TestShippedConfigsStartClean(t *testing.T) {
	root := repoRoot(t)
	configs := map[string]string{}
	examples, err := filepath.Glob(filepath.Join(root, "examples", "*.yaml"))
	require.NoError(t, err)
	for _, path := range examples {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		if strings.Contains(string(data), "\nservice:") {
			rel, _ := filepath.Rel(root, path)
			configs[rel] = string(data)
		}
	}
	for _, readme := range []string{"README.md", "processor/releasegateprocessor/README.md", "exporter/releasegateexporter/README.md"} {
		for i, b := range markdownBlocks(t, filepath.Join(root, readme), "") {
			if b.lang == "yaml" && strings.Contains(b.text, "receivers:") && strings.Contains(b.text, "\nservice:") {
				configs[fmt.Sprintf("%s, block %d", readme, i)] = b.text
			}
		}
	}
	require.GreaterOrEqual(t, len(configs), 4)
	gates, err := os.ReadFile(filepath.Join(root, "examples", "gates.yaml"))
	require.NoError(t, err)
	for name, config := range configs {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			// Paths of examples/ are relative to the repository's root;
			// README's read gates.yaml beside the collector and keep state
			// under /var/lib, here in the test's directory.
			config = strings.ReplaceAll(config, "examples/gates.yaml", "gates.yaml")
			config = strings.ReplaceAll(config, "/var/lib/", dir+"/var/lib/")
			require.NoError(t, os.WriteFile(filepath.Join(dir, "gates.yaml"), gates, 0o600))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "collector.yaml"), []byte(config), 0o600))
			output := startUntilReady(t, dir)
			assert.NotRegexp(t, `(?i)deprecat`, output)
		})
	}
}

// startUntilReady starts the distribution on dir/collector.yaml, waits
// until it says it is ready, stops it, and returns what it printed.
func startUntilReady(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command(tool(t, "RELEASEGATE_BINARY"), "--config", "collector.yaml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GITHUB_TOKEN=t", "GITLAB_TOKEN=t", "WEBHOOK_SECRET=s")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = cmd.Stderr
	require.NoError(t, cmd.Start())
	// A collector that neither gets ready nor exits is stopped.
	stop := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer stop.Stop()
	var output strings.Builder
	lines := bufio.NewScanner(stderr)
	ready := false
	for !ready && lines.Scan() {
		output.WriteString(lines.Text() + "\n")
		ready = strings.Contains(lines.Text(), "Everything is ready")
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	for lines.Scan() {
		output.WriteString(lines.Text() + "\n")
	}
	_ = cmd.Wait()
	require.True(t, ready, "the collector did not start:\n%s", output.String())
	return output.String()
}
