package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseRunChain(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want runChain
		ok   bool
	}{
		{DefaultRun, runChain{lookups: []runLookup{{true, "cicd.pipeline.run.id"}, {false, "cicd.pipeline.run.id"}}}, true},
		{`attributes.run`, runChain{lookups: []runLookup{{false, "run"}}}, true},
		{`resource["run"] ?? "none"`, runChain{lookups: []runLookup{{true, "run"}}, fallback: "none"}, true},
		{`"none" ?? resource["run"]`, runChain{}, false},
		{`attributes["run"] ?? name`, runChain{}, false},
		{`string(attributes["run"])`, runChain{}, false},
		{`attributes?.run`, runChain{}, false},
		{`"literal"`, runChain{}, false},
	} {
		t.Run(tt.src, func(t *testing.T) {
			got, ok := parseRunChain(tt.src)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}
