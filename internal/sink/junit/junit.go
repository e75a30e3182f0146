// Package junit writes one JUnit XML report per run, each gate a test case,
// for CI tools to read: GitLab's junit artifacts, Jenkins, the GitHub
// actions that publish test reports.
package junit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/verdict"
)

// Sink writes the reports.
type Sink struct {
	dir      string
	hostname string
}

var _ sink.Sink = (*Sink)(nil)

// New returns a sink that writes into dir, creating it so that a wrong
// path is a start-up error.
func New(dir string) (*Sink, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	// The hostname is optional in a report.
	hostname, _ := os.Hostname()
	return &Sink{dir: dir, hostname: hostname}, nil
}

// Messages writes a run's report when it finishes, or when the collector
// shuts down while it is open.
func (s *Sink) Messages(e verdict.Event) ([]sink.Message, error) {
	if e.Kind != verdict.RunFinished && e.Kind != verdict.RunAbandoned {
		return nil, nil
	}
	data, err := s.report(e)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, fileName(e.Run.Run))
	return []sink.Message{{
		What: fmt.Sprintf("junit report of run %q", e.Run.Run),
		Send: func(context.Context) error {
			err := writeFile(path, data)
			if errors.Is(err, fs.ErrPermission) {
				return sink.Permanent(err)
			}
			return err
		},
	}}, nil
}

// writeFile replaces path atomically, so that a CI job never reads half a
// report.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	// CI workspaces get cleaned between jobs.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Hidden and not *.xml, so that a report glob never picks it up.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	// CreateTemp's 0600 would hide the report from a CI runner running as
	// another user.
	err = errors.Join(err, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// maxNameLen keeps file names well within what file systems allow.
const maxNameLen = 100

// fileName is the report's name for a run id: the id with every character
// but [A-Za-z0-9._-] replaced by '_', and, when that changed or cut it, a
// hash of the id, so that ids that differ only in what was replaced or cut
// do not share a file.
func fileName(run string) string {
	name := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, run)
	if name != run || name == "" || len(name) > maxNameLen {
		sum := sha256.Sum256([]byte(run))
		name = name[:min(len(name), maxNameLen)] + "-" + hex.EncodeToString(sum[:4])
	}
	return name + ".xml"
}
