// Package page is the verdict page: a run, its gates and their evidence as
// HTML for people, and the list of runs. Plain HTML and one stylesheet from
// the binary: no script, no font, nothing from another origin, so it works
// on an air-gapped network under a strict Content-Security-Policy. Every
// value that comes from spans or gates files goes through html/template.
package page

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/verdict"
)

// Source is where the pages read runs: the exporter's run store.
type Source interface {
	Get(run string) (verdict.Run, bool)
	// List is every run held, newest first, without their gates.
	List() []verdict.Run
	Distribution(run string, gate int) (runstore.Histogram, bool)
	// BaselineDistribution is the baseline's, when the run compares the
	// gate with one.
	BaselineDistribution(run string, gate int) (runstore.Histogram, bool)
}

// Settings configure the pages.
type Settings struct {
	// Gates are the gates the runs are judged by: what each checks.
	Gates *config.Gates
	// TraceURL links exemplars to a trace UI.
	TraceURL TraceURL
	// Now is the clock that open runs' elapsed time is read on.
	Now func() time.Time
}

// Pages serves the verdict pages.
type Pages struct {
	src Source
	set Settings
}

// New returns the pages of src's runs.
func New(src Source, set Settings) *Pages {
	if set.Now == nil {
		set.Now = time.Now
	}
	return &Pages{src: src, set: set}
}

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static/page.css
var stylesheet []byte

// StylesheetPath is where the stylesheet is served, under the root: its
// name holds its hash, so that browsers may keep it for good.
var StylesheetPath = func() string {
	sum := sha256.Sum256(stylesheet)
	return "/static/page-" + hex.EncodeToString(sum[:6]) + ".css"
}()

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"stylesheet": func() string { return StylesheetPath[1:] },
	"runPath":    verdict.PagePath,
}).ParseFS(templateFiles, "templates/*.html"))

// ContentSecurityPolicy allows the page nothing but its own stylesheet and
// data: images (the favicon): no script at all, no frame, no form, no
// request to another origin. The charts are inline SVG, which is markup.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// secure sets the headers every page and the stylesheet carry.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	// Links to trace UIs do not tell them which run was looked at.
	h.Set("Referrer-Policy", "no-referrer")
}

// Run serves GET /runs/{run}: one run, its gates and their evidence.
func (p *Pages) Run(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("run")
	switch {
	case len(key) > runstore.MaxRunIDLength:
		p.error(w, r, http.StatusRequestURITooLong, fmt.Sprintf("A run id is at most %d bytes long; this one is %d.", runstore.MaxRunIDLength, len(key)))
		return
	case !utf8.ValidString(key):
		p.error(w, r, http.StatusBadRequest, "A run id is UTF-8 text; this one is not.")
		return
	}
	v, ok := p.src.Get(key)
	if !ok {
		p.error(w, r, http.StatusNotFound, fmt.Sprintf("No run %q is held here: it sent no span yet, or it finished longer ago than the retention.", key))
		return
	}
	p.write(w, http.StatusOK, "run", p.runPage(v))
}

// RenderRun writes the page of a run, as GET /runs/{run} serves it.
func (p *Pages) RenderRun(w io.Writer, v verdict.Run) error {
	return templates.ExecuteTemplate(w, "run", p.runPage(v))
}

// List serves GET / and GET /runs: the runs held, newest first, filtered
// by ?status=.
func (p *Pages) List(w http.ResponseWriter, r *http.Request) {
	status := verdict.Status(r.URL.Query().Get("status"))
	if status != "" && !slices.Contains(verdict.Statuses, status) {
		p.error(w, r, http.StatusBadRequest, fmt.Sprintf("No status %q: filter by passed, warning, pending, inconclusive, error or failed.", status))
		return
	}
	p.write(w, http.StatusOK, "list", p.listPage(p.src.List(), status))
}

// Stylesheet serves the page's CSS.
func (p *Pages) Stylesheet(w http.ResponseWriter, _ *http.Request) {
	secure(w.Header())
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(stylesheet)
}

// errorPage is a page that says what went wrong.
type errorPage struct {
	Title, Message, Root string
	Refresh              int
}

func (p *Pages) error(w http.ResponseWriter, r *http.Request, status int, message string) {
	p.write(w, status, "error", errorPage{Title: http.StatusText(status), Message: message, Root: root(r)})
}

// root is the way from the request's page to the pages' root, relative, so
// that the pages work behind a proxy that serves them under a path: a run's
// page is one segment down (its id is one segment, / escaped), the list is
// at the root.
func root(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/runs/") {
		return "../"
	}
	return "./"
}

func (p *Pages) write(w http.ResponseWriter, status int, name string, data any) {
	// Rendered whole first, so that a template error is a 500, not half a
	// page.
	var b bytes.Buffer
	secure(w.Header())
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
