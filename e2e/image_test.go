package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The image `make image` builds, with podman or docker (the Makefile passes
// the one it found in CONTAINER_ENGINE). Containers cannot run where the
// tests run, so the image is inspected rather than started: its
// configuration is the Dockerfile's, and it holds the binary the tests run,
// statically linked, the CA certificates and user 10001, nothing else.
func TestImage(t *testing.T) {
	binary := tool(t, "RELEASEGATE_BINARY")
	engine := tool(t, "CONTAINER_ENGINE")
	assertStatic(t, binary)

	image := fmt.Sprintf("localhost/otelcol-releasegate-e2e:%d", os.Getpid())
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// -o: the binary is the one under test, not to be rebuilt.
	build := exec.CommandContext(ctx, "make", "-o", "bin/otelcol-releasegate", "image", "IMAGE="+image, "CONTAINER_ENGINE="+engine)
	build.Dir = repoRoot(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "make image:\n%s", out)
	t.Cleanup(func() { _ = exec.Command(engine, "rmi", "--force", image).Run() })

	out, err = exec.CommandContext(ctx, engine, "image", "inspect", image).Output()
	require.NoError(t, err)
	var inspected []struct {
		Config struct {
			User         string
			ExposedPorts map[string]struct{}
			Entrypoint   []string
			Cmd          []string
		}
	}
	require.NoError(t, json.Unmarshal(out, &inspected), "%s", out)
	require.Len(t, inspected, 1)
	config := inspected[0].Config
	assert.Equal(t, "10001:10001", config.User)
	assert.Equal(t, []string{"/otelcol-releasegate"}, config.Entrypoint)
	assert.Equal(t, []string{"--config", "/etc/otelcol-releasegate/config.yaml"}, config.Cmd)
	var exposed []string
	for port := range config.ExposedPorts {
		exposed = append(exposed, port)
	}
	assert.ElementsMatch(t, gatewayPorts(t), exposed, "the image exposes every port the gateway listens on")

	archive := filepath.Join(t.TempDir(), "image.tar")
	out, err = exec.CommandContext(ctx, engine, "save", "--output", archive, image).CombinedOutput()
	require.NoError(t, err, "%s", out)
	files := imageFiles(t, archive)
	var names []string
	for name := range files {
		names = append(names, name)
	}
	assert.ElementsMatch(t, []string{"otelcol-releasegate", "etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt"}, names)

	want, err := os.ReadFile(binary)
	require.NoError(t, err)
	entrypoint := files["otelcol-releasegate"]
	assert.True(t, bytes.Equal(want, entrypoint.data), "the image's binary is the one built")
	assert.Equal(t, int64(0o755), entrypoint.mode&0o777)
	assert.Contains(t, string(files["etc/ssl/certs/ca-certificates.crt"].data), "-----BEGIN CERTIFICATE-----")
	assert.Regexp(t, `(?m)^otelcol:x:10001:10001:`, string(files["etc/passwd"].data))
	assert.Regexp(t, `(?m)^otelcol:x:10001:`, string(files["etc/group"].data))
}

// assertStatic checks that an executable needs no dynamic loader and no
// shared library, so that it runs FROM scratch.
func assertStatic(t *testing.T, binary string) {
	t.Helper()
	f, err := elf.Open(binary)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "%s asks for a dynamic loader (build it with CGO_ENABLED=0)", binary)
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	assert.Empty(t, libs, binary)
}

// gatewayPorts are the ports examples/gateway.yaml listens on, as the
// image lists them.
func gatewayPorts(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "gateway.yaml"))
	require.NoError(t, err)
	var ports []string
	for _, m := range regexp.MustCompile(`(?m)^\s*(?:endpoint: \$\{env:MY_POD_IP:-localhost\}:|port: )(\d+)$`).FindAllStringSubmatch(string(data), -1) {
		ports = append(ports, m[1]+"/tcp")
	}
	require.NotEmpty(t, ports)
	return ports
}

type imageFile struct {
	mode int64
	data []byte
}

// imageFiles are the regular files of an image saved by podman or docker
// (`save`: a tar of the image's manifest and its layers, each a tar,
// compressed or not), the later layers over the earlier.
func imageFiles(t *testing.T, archive string) map[string]imageFile {
	t.Helper()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	entries := readTar(t, f)
	var manifest []struct{ Layers []string }
	require.NoError(t, json.Unmarshal(entries["manifest.json"].data, &manifest))
	require.Len(t, manifest, 1)
	files := map[string]imageFile{}
	for _, layer := range manifest[0].Layers {
		entry, ok := entries[layer]
		require.True(t, ok, "layer %s", layer)
		var r io.Reader = bytes.NewReader(entry.data)
		if bytes.HasPrefix(entry.data, []byte{0x1f, 0x8b}) {
			r, err = gzip.NewReader(r)
			require.NoError(t, err)
		}
		for name, file := range readTar(t, r) {
			files[name] = file
		}
	}
	return files
}

// readTar returns the regular files of a tar by their cleaned names.
func readTar(t *testing.T, r io.Reader) map[string]imageFile {
	t.Helper()
	files := map[string]imageFile{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		require.NoError(t, err)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[strings.TrimPrefix(path.Clean(h.Name), "/")] = imageFile{mode: h.Mode, data: data}
	}
}
