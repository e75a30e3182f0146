package e2e

import (
	"testing"

	"github.com/releasegate/releasegate/internal/fakehost"
)

// githubToken is what the collector under test authenticates with.
const githubToken = "ghp_e2e-secret-token"

// newFakeGitHub serves GitHub to the collector under test: the commit
// statuses of acme/shop, for githubToken.
func newFakeGitHub(t *testing.T) *fakehost.GitHub {
	t.Helper()
	return fakehost.NewGitHub(t, githubToken)
}
