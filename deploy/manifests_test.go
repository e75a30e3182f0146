// Package deploy tests what deploy/ ships: the Kubernetes manifests,
// decoded strictly into the Kubernetes API types, wired to each other as
// they claim, and every collector configuration in them validated by the
// built distribution with the files mounted beside it; and the CI
// snippets, which hand the run and the commit to the pods they deploy.
// `make e2e-deploy` runs it with the binary built.
package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// openTelemetryCollector is the OpenTelemetry Operator's resource
// (opentelemetry.io/v1beta1), whose Go types are not a dependency here:
// the fields these manifests use, named and typed as the Operator's API
// has them. A field it does not list is refused like any unknown field.
type openTelemetryCollector struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              openTelemetryCollectorSpec `json:"spec"`
}

type openTelemetryCollectorSpec struct {
	Mode                     string                      `json:"mode"`
	Replicas                 *int32                      `json:"replicas,omitempty"`
	DeploymentUpdateStrategy appsv1.DeploymentStrategy   `json:"deploymentUpdateStrategy,omitzero"`
	Image                    string                      `json:"image"`
	UpgradeStrategy          string                      `json:"upgradeStrategy,omitempty"`
	Env                      []corev1.EnvVar             `json:"env,omitempty"`
	Resources                corev1.ResourceRequirements `json:"resources,omitzero"`
	PodSecurityContext       *corev1.PodSecurityContext  `json:"podSecurityContext,omitempty"`
	SecurityContext          *corev1.SecurityContext     `json:"securityContext,omitempty"`
	LivenessProbe            *operatorProbe              `json:"livenessProbe,omitempty"`
	ReadinessProbe           *operatorProbe              `json:"readinessProbe,omitempty"`
	Volumes                  []corev1.Volume             `json:"volumes,omitempty"`
	VolumeMounts             []corev1.VolumeMount        `json:"volumeMounts,omitempty"`
	// Config is the collector's configuration: the collector checks it
	// (validate), not its decoding here.
	Config map[string]any `json:"config"`
}

// operatorProbe is the Operator's Probe: the timing of a probe whose
// handler the Operator derives from the health_check extension.
type operatorProbe struct {
	InitialDelaySeconds           *int32 `json:"initialDelaySeconds,omitempty"`
	TimeoutSeconds                *int32 `json:"timeoutSeconds,omitempty"`
	PeriodSeconds                 *int32 `json:"periodSeconds,omitempty"`
	SuccessThreshold              *int32 `json:"successThreshold,omitempty"`
	FailureThreshold              *int32 `json:"failureThreshold,omitempty"`
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// decode decodes one manifest strictly into the type of its apiVersion and
// kind: an unknown or duplicate field, or a value of the wrong type, is an
// error.
func decode(doc []byte) (any, error) {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return nil, err
	}
	var obj any
	switch meta.APIVersion + " " + meta.Kind {
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 PersistentVolumeClaim":
		obj = &corev1.PersistentVolumeClaim{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "opentelemetry.io/v1beta1 OpenTelemetryCollector":
		obj = &openTelemetryCollector{}
	default:
		return nil, fmt.Errorf("apiVersion %q kind %q: not a kind these manifests use", meta.APIVersion, meta.Kind)
	}
	return obj, yaml.UnmarshalStrict(doc, obj)
}

// documents splits a YAML stream into its documents, leaving out those
// that hold only comments.
func documents(data []byte) [][]byte {
	var docs [][]byte
	for doc := range bytes.SplitSeq(data, []byte("\n---\n")) {
		var v any
		if yaml.Unmarshal(doc, &v) == nil && v == nil {
			continue
		}
		docs = append(docs, doc)
	}
	return docs
}

// installation is one way to deploy releasegate: its objects by name.
type installation struct {
	configMaps  map[string]*corev1.ConfigMap
	services    map[string]*corev1.Service
	claims      map[string]*corev1.PersistentVolumeClaim
	deployments map[string]*appsv1.Deployment
	collectors  map[string]*openTelemetryCollector
}

// load decodes the manifests of files, relative to deploy/kubernetes.
func load(t *testing.T, files ...string) *installation {
	t.Helper()
	in := &installation{
		configMaps:  map[string]*corev1.ConfigMap{},
		services:    map[string]*corev1.Service{},
		claims:      map[string]*corev1.PersistentVolumeClaim{},
		deployments: map[string]*appsv1.Deployment{},
		collectors:  map[string]*openTelemetryCollector{},
	}
	for _, file := range files {
		data, err := os.ReadFile(filepath.Join("kubernetes", file))
		require.NoError(t, err)
		for i, doc := range documents(data) {
			obj, err := decode(doc)
			require.NoError(t, err, "%s, document %d", file, i+1)
			var name string
			var fresh bool
			switch o := obj.(type) {
			case *corev1.ConfigMap:
				name, fresh = o.Name, put(in.configMaps, o.Name, o)
			case *corev1.Service:
				name, fresh = o.Name, put(in.services, o.Name, o)
			case *corev1.PersistentVolumeClaim:
				name, fresh = o.Name, put(in.claims, o.Name, o)
			case *appsv1.Deployment:
				name, fresh = o.Name, put(in.deployments, o.Name, o)
			case *openTelemetryCollector:
				name, fresh = o.Name, put(in.collectors, o.Name, o)
			}
			require.NotEmpty(t, name, "%s, document %d: no name", file, i+1)
			require.True(t, fresh, "%s: %s is declared twice", file, name)
		}
	}
	return in
}

func put[T any](m map[string]T, name string, v T) bool {
	_, taken := m[name]
	m[name] = v
	return !taken
}

// plain is deploy/kubernetes/ applied as it stands; operator, its
// operator/ directory with the gates.
func plain(t *testing.T) *installation {
	return load(t, "releasegate-gates.yaml", "releasegate-gateway.yaml", "releasegate-sidecar.yaml", "shop.yaml")
}

func operator(t *testing.T) *installation {
	return load(t, "releasegate-gates.yaml", "operator/releasegate.yaml", "operator/shop.yaml")
}

// Every manifest of deploy/kubernetes/ is one of the two installations,
// and decodes.
func TestManifestsDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	require.NoError(t, err)
	operatorFiles, err := filepath.Glob("kubernetes/operator/*.yaml")
	require.NoError(t, err)
	var all []string
	for _, f := range append(files, operatorFiles...) {
		all = append(all, strings.TrimPrefix(f, "kubernetes/"))
	}
	assert.ElementsMatch(t, []string{
		"releasegate-gates.yaml", "releasegate-gateway.yaml", "releasegate-sidecar.yaml", "shop.yaml",
		"operator/releasegate.yaml", "operator/shop.yaml",
	}, all)
	p, o := plain(t), operator(t)
	assert.Len(t, p.deployments, 2)
	assert.Len(t, o.collectors, 2)
}

// The decoding refuses what the API server would not store or would
// silently drop: a misspelt field, a field twice, a value of the wrong
// type, an unknown field of the Operator's resource.
func TestManifestsRefuseMistakes(t *testing.T) {
	gateway, err := os.ReadFile("kubernetes/releasegate-gateway.yaml")
	require.NoError(t, err)
	collectors, err := os.ReadFile("kubernetes/operator/releasegate.yaml")
	require.NoError(t, err)
	deployment := documents(gateway)[2]
	cr := documents(collectors)[0]
	_, err = decode(deployment)
	require.NoError(t, err)
	_, err = decode(cr)
	require.NoError(t, err)

	for _, tt := range []struct {
		name      string
		doc       []byte
		old, new  string
		wantError string
	}{
		{"misspelt field", deployment, "livenessProbe:\n            httpGet:", "livenessProbe:\n            httpGett:", `unknown field "httpGett"`},
		{"field twice", deployment, "  replicas: 1\n", "  replicas: 1\n  replicas: 2\n", `key "replicas" already set`},
		{"wrong type", deployment, "replicas: 1", "replicas: one", "cannot unmarshal"},
		{"unknown field of the Operator", cr, "  upgradeStrategy: none\n", "  upgradeStrategy: none\n  sidecarMode: native\n", `unknown field "sidecarMode"`},
		{"unknown kind", deployment, "kind: Deployment", "kind: Deploymnet", "not a kind these manifests use"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, 1, bytes.Count(tt.doc, []byte(tt.old)), tt.old)
			_, err := decode(bytes.Replace(tt.doc, []byte(tt.old), []byte(tt.new), 1))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantError)
		})
	}
}

// collectorInstance is one otelcol-releasegate as a pod runs it: its
// configuration, environment and the files its volumes mount.
type collectorInstance struct {
	name   string // where it is declared
	role   string // gateway or sidecar: the configuration of examples/ it runs
	config string
	env    map[string]string
	files  map[string]string                // path → content, from ConfigMaps
	claims map[string]string                // mount path → PersistentVolumeClaim
	ports  map[string]int32                 // container port by name
	probes map[string]*corev1.HTTPGetAction // liveness, readiness
}

// defaultConfig is the --config of the image's CMD (Dockerfile).
func defaultConfig(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^CMD \["--config", "([^"]+)"\]$`).FindSubmatch(data)
	require.NotNil(t, m, "the Dockerfile's CMD names the configuration")
	return string(m[1])
}

// collectorInstances are the collectors of an installation: the
// containers of its Deployments that run the image, and its
// OpenTelemetryCollectors.
func (in *installation) collectorInstances(t *testing.T) []collectorInstance {
	t.Helper()
	var out []collectorInstance
	for _, d := range in.deployments {
		spec := d.Spec.Template.Spec
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			if !strings.Contains(c.Image, "/otelcol-releasegate:") {
				continue
			}
			ci := collectorInstance{
				name:   fmt.Sprintf("Deployment %s, container %s", d.Name, c.Name),
				env:    containerEnv(t, c.Env),
				ports:  map[string]int32{},
				probes: map[string]*corev1.HTTPGetAction{},
			}
			ci.files, ci.claims = in.mounted(t, spec.Volumes, c.VolumeMounts)
			configPath := defaultConfig(t)
			if i := slices.Index(c.Args, "--config"); i >= 0 && i+1 < len(c.Args) {
				configPath = c.Args[i+1]
			}
			config, ok := ci.files[configPath]
			require.True(t, ok, "%s: %s is not mounted", ci.name, configPath)
			ci.config = config
			for _, p := range c.Ports {
				ci.ports[p.Name] = p.ContainerPort
			}
			for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if p != nil {
					ci.probes[kind] = p.HTTPGet
				}
			}
			out = append(out, ci.withRole(t))
		}
	}
	for _, c := range in.collectors {
		config, err := yaml.Marshal(c.Spec.Config)
		require.NoError(t, err)
		ci := collectorInstance{
			name:   "OpenTelemetryCollector " + c.Name,
			config: string(config),
			env:    containerEnv(t, c.Spec.Env),
		}
		ci.files, ci.claims = in.mounted(t, c.Spec.Volumes, c.Spec.VolumeMounts)
		out = append(out, ci.withRole(t))
	}
	return out
}

// withRole tells a gateway, which runs the releasegate exporter, from a
// sidecar.
func (ci collectorInstance) withRole(t *testing.T) collectorInstance {
	t.Helper()
	var config struct {
		Exporters map[string]any `json:"exporters"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(ci.config), &config), ci.name)
	ci.role = "sidecar"
	if _, ok := config.Exporters["releasegate"]; ok {
		ci.role = "gateway"
	}
	return ci
}

// containerEnv is a container's environment as the kubelet gives it, an
// address standing for the pod's IP (status.podIP).
func containerEnv(t *testing.T, vars []corev1.EnvVar) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, v := range vars {
		switch {
		case v.ValueFrom == nil:
			env[v.Name] = expandDependent(v.Value, env)
		case v.ValueFrom.FieldRef != nil && v.ValueFrom.FieldRef.FieldPath == "status.podIP":
			env[v.Name] = "10.1.2.3"
		default:
			t.Fatalf("%s: a source the test does not know", v.Name)
		}
	}
	return env
}

// expandDependent expands $(NAME) with the variables defined before, as
// the kubelet does; $$ escapes.
func expandDependent(value string, env map[string]string) string {
	return dependentRef.ReplaceAllStringFunc(value, func(m string) string {
		if m == "$$" {
			return "$"
		}
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

var dependentRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// mounted are the files a container sees of its ConfigMap volumes (whole,
// or projected), and the claims of its PersistentVolumeClaim volumes, by
// mount path. Every volume it mounts must exist, and every ConfigMap.
func (in *installation) mounted(t *testing.T, volumes []corev1.Volume, mounts []corev1.VolumeMount) (files, claims map[string]string) {
	t.Helper()
	files, claims = map[string]string{}, map[string]string{}
	configMap := func(dir string, ref corev1.LocalObjectReference, items []corev1.KeyToPath) {
		cm, ok := in.configMaps[ref.Name]
		require.True(t, ok, "ConfigMap %s", ref.Name)
		for key, content := range cm.Data {
			path := key
			if len(items) > 0 {
				i := slices.IndexFunc(items, func(k corev1.KeyToPath) bool { return k.Key == key })
				if i < 0 {
					continue
				}
				path = items[i].Path
			}
			files[filepath.Join(dir, path)] = content
		}
	}
	for _, m := range mounts {
		require.Empty(t, m.SubPath, "sub-paths are not followed here")
		i := slices.IndexFunc(volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
		require.GreaterOrEqual(t, i, 0, "volume %s", m.Name)
		v := volumes[i]
		switch {
		case v.ConfigMap != nil:
			configMap(m.MountPath, v.ConfigMap.LocalObjectReference, v.ConfigMap.Items)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				require.NotNil(t, s.ConfigMap, "volume %s: only ConfigMaps are projected", v.Name)
				configMap(m.MountPath, s.ConfigMap.LocalObjectReference, s.ConfigMap.Items)
			}
		case v.PersistentVolumeClaim != nil:
			_, ok := in.claims[v.PersistentVolumeClaim.ClaimName]
			require.True(t, ok, "PersistentVolumeClaim %s", v.PersistentVolumeClaim.ClaimName)
			claims[m.MountPath] = v.PersistentVolumeClaim.ClaimName
		default:
			t.Fatalf("volume %s: a source the test does not know", v.Name)
		}
	}
	return files, claims
}

// Every collector configuration in the manifests is the one of examples/
// for its role, and the built distribution's validate accepts it, with the
// files its volumes mount where it reads them and its environment.
func TestCollectorConfigsValidate(t *testing.T) {
	binary := tool(t, "RELEASEGATE_BINARY")
	for _, in := range []*installation{plain(t), operator(t)} {
		roles := map[string]int{}
		for _, ci := range in.collectorInstances(t) {
			roles[ci.role]++
			t.Run(ci.name, func(t *testing.T) {
				assert.Equal(t, exampleConfig(t, ci.role), normalized(t, ci.config),
					"the configuration of examples/%s.yaml, the gates mounted", ci.role)
				validate(t, binary, ci)
			})
		}
		assert.Equal(t, map[string]int{"gateway": 1, "sidecar": 1}, roles)
	}
}

// exampleConfig is examples/<role>.yaml, reading the gates where the
// manifests mount them.
func exampleConfig(t *testing.T, role string) any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", role+".yaml"))
	require.NoError(t, err)
	return normalized(t, strings.ReplaceAll(string(data), "${file:examples/gates.yaml}", "${file:/etc/otelcol-releasegate/gates.yaml}"))
}

// normalized is a configuration as data, an empty component (`batch:`)
// and an empty map (`batch: {}`, as the Operator's resources need it)
// alike.
func normalized(t *testing.T, config string) any {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal([]byte(config), &v))
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case nil:
			return map[string]any{}
		case map[string]any:
			for k, x := range v {
				v[k] = walk(x)
			}
		case []any:
			for i, x := range v {
				v[i] = walk(x)
			}
		}
		return v
	}
	return walk(v)
}

var fileRef = regexp.MustCompile(`\$\{file:([^}]+)\}`)

// validate runs `otelcol-releasegate validate` on a collector's
// configuration in a directory that stands for its root filesystem.
func validate(t *testing.T, binary string, ci collectorInstance) {
	t.Helper()
	root := t.TempDir()
	for path, content := range ci.files {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(path)), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(root, path), []byte(content), 0o600))
	}
	for _, m := range fileRef.FindAllStringSubmatch(ci.config, -1) {
		_, ok := ci.files[m[1]]
		assert.True(t, ok, "%s reads %s, which is not mounted", ci.name, m[1])
	}
	config := fileRef.ReplaceAllString(ci.config, "${file:"+root+"$1}")
	require.NoError(t, os.WriteFile(filepath.Join(root, "config.yaml"), []byte(config), 0o600))
	cmd := exec.Command(binary, "validate", "--config", filepath.Join(root, "config.yaml"))
	for k, v := range ci.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "validate %s:\n%s", ci.name, out)
}

// validate refuses a configuration whose gates have a mistake, so that its
// passing above means something.
func TestValidateRefusesBadGates(t *testing.T) {
	binary := tool(t, "RELEASEGATE_BINARY")
	for _, ci := range plain(t).collectorInstances(t) {
		if ci.role != "gateway" {
			continue
		}
		gates := "/etc/otelcol-releasegate/gates.yaml"
		ci.files[gates] = strings.Replace(ci.files[gates], "duration < duration", "duraton < duration", 1)
		root := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(root, "gates.yaml"), []byte(ci.files[gates]), 0o600))
		config := strings.ReplaceAll(ci.config, "${file:"+gates+"}", "${file:"+filepath.Join(root, "gates.yaml")+"}")
		require.NoError(t, os.WriteFile(filepath.Join(root, "config.yaml"), []byte(config), 0o600))
		out, err := exec.Command(binary, "validate", "--config", filepath.Join(root, "config.yaml")).CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), "unknown name duraton")
		return
	}
	t.Fatal("no gateway")
}

// configValue is a value of a collector configuration, by its path of
// keys, with ${env:NAME:-default} resolved in env.
func (ci collectorInstance) configValue(t *testing.T, path ...string) string {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal([]byte(ci.config), &v))
	for _, key := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%s: %s", ci.name, strings.Join(path, "::"))
		v = m[key]
	}
	return envRef.ReplaceAllStringFunc(fmt.Sprint(v), func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		if v, ok := ci.env[m[1]]; ok {
			return v
		}
		return m[2]
	})
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// port is the port of a host:port endpoint.
func port(t *testing.T, endpoint string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(endpoint)
	require.NoError(t, err, endpoint)
	return p
}

// byRole is the installation's collector of a role.
func byRole(t *testing.T, in *installation, role string) collectorInstance {
	t.Helper()
	for _, ci := range in.collectorInstances(t) {
		if ci.role == role {
			return ci
		}
	}
	t.Fatalf("no %s", role)
	return collectorInstance{}
}

// The gateway Deployment: one replica, replaced rather than rolled; probes
// on health_check's port; file_storage on its volume; a Service for the
// sidecars and the CI jobs; and the sidecars send to that Service.
func TestGatewayWiring(t *testing.T) {
	in := plain(t)
	gateway, sidecar := byRole(t, in, "gateway"), byRole(t, in, "sidecar")
	d := in.deployments["releasegate-gateway"]
	require.NotNil(t, d)
	assert.Equal(t, int32(1), *d.Spec.Replicas)
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Spec.Strategy.Type)

	health := port(t, gateway.configValue(t, "extensions", "health_check", "endpoint"))
	require.Len(t, gateway.probes, 2, "liveness and readiness")
	for kind, probe := range gateway.probes {
		require.NotNil(t, probe, kind)
		assert.Equal(t, health, fmt.Sprint(gateway.ports[probe.Port.StrVal]), "%s probe", kind)
	}
	assert.Contains(t, gateway.claims, gateway.configValue(t, "extensions", "file_storage", "directory"),
		"file_storage writes to the persistent volume")

	// The sidecar's gateway is a Service that selects the gateway's pods
	// and forwards to its OTLP/gRPC receiver.
	host, servicePort, err := net.SplitHostPort(sidecar.configValue(t, "exporters", "otlp_grpc", "endpoint"))
	require.NoError(t, err)
	service := in.services[host]
	require.NotNil(t, service, "Service %s", host)
	for k, v := range service.Spec.Selector {
		assert.Equal(t, v, d.Spec.Template.Labels[k], "the Service selects the gateway's pods")
	}
	forwards := map[string]string{} // service port → container port
	for _, p := range service.Spec.Ports {
		target := fmt.Sprint(p.TargetPort.IntVal)
		if p.TargetPort.Type == intstr.String {
			target = fmt.Sprint(gateway.ports[p.TargetPort.StrVal])
		}
		forwards[fmt.Sprint(p.Port)] = target
	}
	assert.Equal(t, port(t, gateway.configValue(t, "receivers", "otlp", "protocols", "grpc", "endpoint")), forwards[servicePort])
	assert.Equal(t, port(t, gateway.configValue(t, "exporters", "releasegate", "server", "endpoint")), forwards["9464"], "the API")
}

// The same with the Operator: one replica replaced, file_storage on its
// volume, and the sidecar sends to the Service the Operator makes for the
// gateway (<name>-collector).
func TestOperatorWiring(t *testing.T) {
	in := operator(t)
	gatewayCR, sidecarCR := in.collectors["releasegate-gateway"], in.collectors["releasegate-sidecar"]
	require.NotNil(t, gatewayCR)
	require.NotNil(t, sidecarCR)
	assert.Equal(t, "deployment", gatewayCR.Spec.Mode)
	assert.Equal(t, "sidecar", sidecarCR.Spec.Mode)
	assert.Equal(t, int32(1), *gatewayCR.Spec.Replicas)
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, gatewayCR.Spec.DeploymentUpdateStrategy.Type)

	gateway, sidecar := byRole(t, in, "gateway"), byRole(t, in, "sidecar")
	assert.Contains(t, gateway.claims, gateway.configValue(t, "extensions", "file_storage", "directory"))
	assert.Equal(t, gatewayCR.Name+"-collector:"+port(t, gateway.configValue(t, "receivers", "otlp", "protocols", "grpc", "endpoint")),
		sidecar.configValue(t, "exporters", "otlp_grpc", "endpoint"))
}

// The application sends its spans to the sidecar in its pod: a native
// sidecar in the plain manifests, one the Operator injects in the other.
func TestApplicationSendsToSidecar(t *testing.T) {
	for name, in := range map[string]*installation{"plain": plain(t), "operator": operator(t)} {
		t.Run(name, func(t *testing.T) {
			shop := in.deployments["shop"]
			require.NotNil(t, shop)
			sidecar := byRole(t, in, "sidecar")
			receiver := sidecar.configValue(t, "receivers", "otlp", "protocols", "grpc", "endpoint")
			host, p, err := net.SplitHostPort(receiver)
			require.NoError(t, err)
			assert.Equal(t, "localhost", host, "the sidecar listens in its pod only")
			app := shop.Spec.Template.Spec.Containers[0]
			assert.Equal(t, "http://localhost:"+p, containerEnv(t, app.Env)["OTEL_EXPORTER_OTLP_ENDPOINT"])

			if name == "operator" {
				cr := in.collectors[shop.Spec.Template.Annotations["sidecar.opentelemetry.io/inject"]]
				require.NotNil(t, cr, "the annotation names the sidecar")
				assert.Equal(t, "sidecar", cr.Spec.Mode)
				return
			}
			init := shop.Spec.Template.Spec.InitContainers
			require.Len(t, init, 1)
			require.NotNil(t, init[0].RestartPolicy)
			assert.Equal(t, corev1.ContainerRestartPolicyAlways, *init[0].RestartPolicy, "a native sidecar")
		})
	}
}

// The CI snippets deploy the shop with the run's id and commit, which its
// pods put on every span, and gate on the same run.
func TestCIPassesRunAndCommit(t *testing.T) {
	for _, tt := range []struct {
		file, run, commit string
		gate              func(*testing.T, any) // checks that the gate is on the same run
	}{
		{"ci/github-actions.yaml", "GITHUB_RUN_ID", "GITHUB_SHA", gatesWithAction},
		{"ci/gitlab-ci.yaml", "CI_PIPELINE_ID", "CI_COMMIT_SHA", gatesWithTemplate},
	} {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(tt.file)
			require.NoError(t, err)
			var doc any
			require.NoError(t, yaml.Unmarshal(data, &doc))
			script := strings.Join(strings.Fields(strings.ReplaceAll(strings.Join(scripts(doc), "\n"), "\\\n", " ")), " ")

			setEnv := regexp.MustCompile(`kubectl set env --local -o yaml -f (\S+) --containers (\S+) CICD_PIPELINE_RUN_ID="\$(\w+)" VCS_REF_HEAD_REVISION="\$(\w+)" \| kubectl -n \S+ apply -f -`).
				FindStringSubmatch(script)
			require.NotNil(t, setEnv, "the deploy step sets the run and the commit:\n%s", script)
			assert.Equal(t, []string{tt.run, tt.commit}, setEnv[3:])
			tt.gate(t, doc)
			for _, path := range regexp.MustCompile(`(?:deploy|examples)/[\w./-]+`).FindAllString(script, -1) {
				_, err := os.Stat(filepath.Join("..", path))
				assert.NoError(t, err, path)
			}

			// What the pods' SDKs read once the deploy step has set them.
			in := load(t, strings.TrimPrefix(setEnv[1], "deploy/kubernetes/"))
			require.Len(t, in.deployments, 1)
			for _, d := range in.deployments {
				i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == setEnv[2] })
				require.GreaterOrEqual(t, i, 0, "container %s", setEnv[2])
				vars := d.Spec.Template.Spec.Containers[i].Env
				for name, value := range map[string]string{"CICD_PIPELINE_RUN_ID": "4242", "VCS_REF_HEAD_REVISION": "0123456789abcdef0123456789abcdef01234567"} {
					j := slices.IndexFunc(vars, func(v corev1.EnvVar) bool { return v.Name == name })
					require.GreaterOrEqual(t, j, 0, name)
					vars[j].Value = value
				}
				attributes := strings.Split(containerEnv(t, vars)["OTEL_RESOURCE_ATTRIBUTES"], ",")
				assert.Contains(t, attributes, "cicd.pipeline.run.id=4242")
				assert.Contains(t, attributes, "vcs.ref.head.revision=0123456789abcdef0123456789abcdef01234567")
			}
		})
	}
}

// gatesWithAction checks that a GitHub workflow gates with releasegate's
// action (action.yml at the repository's root) on the workflow's run:
// the action's default run, GITHUB_RUN_ID.
func gatesWithAction(t *testing.T, doc any) {
	t.Helper()
	var action struct {
		Inputs map[string]struct{ Default string } `json:"inputs"`
	}
	data, err := os.ReadFile(filepath.Join("..", "action.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &action))
	require.Equal(t, "${{ github.run_id }}", action.Inputs["run"].Default)

	var workflow struct {
		Jobs map[string]struct {
			Steps []struct {
				Uses string            `json:"uses"`
				With map[string]string `json:"with"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	data, err = yaml.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &workflow))
	gates := 0
	for _, job := range workflow.Jobs {
		for _, step := range job.Steps {
			if !strings.HasPrefix(step.Uses, "releasegate/releasegate@") {
				continue
			}
			gates++
			for input := range step.With {
				assert.Contains(t, action.Inputs, input, "an input of action.yml")
			}
			assert.NotContains(t, step.With, "run", "the workflow's own run, by default")
			assert.NotEmpty(t, step.With["url"])
		}
	}
	assert.Equal(t, 1, gates, "one step uses releasegate/releasegate")
}

// gatesWithTemplate checks that a GitLab pipeline gates with releasegate's
// template (ci/releasegate.gitlab-ci.yml) on the pipeline's run: the
// template's default run, CI_PIPELINE_ID.
func gatesWithTemplate(t *testing.T, doc any) {
	t.Helper()
	type job struct {
		Extends   string            `json:"extends"`
		Variables map[string]string `json:"variables"`
		Script    []any             `json:"script"`
		Artifacts struct {
			Reports struct{ JUnit string } `json:"reports"`
		} `json:"artifacts"`
	}
	var template map[string]job
	data, err := os.ReadFile(filepath.Join("..", "ci", "releasegate.gitlab-ci.yml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &template))
	require.Equal(t, "$CI_PIPELINE_ID", template[".releasegate"].Variables["RELEASEGATE_RUN"])
	require.NotEmpty(t, template[".releasegate"].Artifacts.Reports.JUnit)

	top, ok := doc.(map[string]any)
	require.True(t, ok)
	include := fmt.Sprint(top["include"])
	assert.Contains(t, include, "/ci/releasegate.gitlab-ci.yml", "the pipeline includes the template")
	data, err = yaml.Marshal(doc)
	require.NoError(t, err)
	var jobs map[string]any
	require.NoError(t, yaml.Unmarshal(data, &jobs))
	gates := 0
	for name, v := range jobs {
		if name == "include" {
			continue
		}
		data, err := yaml.Marshal(v)
		require.NoError(t, err)
		var j job
		require.NoError(t, yaml.Unmarshal(data, &j))
		if j.Extends != ".releasegate" {
			continue
		}
		gates++
		assert.NotContains(t, j.Variables, "RELEASEGATE_RUN", "the pipeline's own run, by default")
		assert.NotEmpty(t, j.Variables["RELEASEGATE_URL"])
		require.NotEmpty(t, j.Script)
		assert.Equal(t, []any{".releasegate", "script"}, j.Script[len(j.Script)-1], "the template's script, after the tests")
	}
	assert.Equal(t, 1, gates, "one job extends .releasegate")
}

// scripts are the shell lines of a CI document: GitHub's `run` and
// GitLab's `script` entries.
func scripts(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch s := x.(type) {
			case string:
				if k == "run" {
					out = append(out, s)
				}
			case []any:
				if k == "script" {
					for _, line := range s {
						out = append(out, fmt.Sprint(line))
					}
					continue
				}
			}
			out = append(out, scripts(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, scripts(x)...)
		}
	}
	return out
}

// tool returns the path of an executable named by an environment variable.
// Outside `make e2e-deploy` a missing tool skips the test; under it, fails
// it.
func tool(t *testing.T, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		if os.Getenv("RELEASEGATE_E2E") != "" {
			t.Fatalf("%s is not set", env)
		}
		t.Skipf("%s is not set: run these tests with `make e2e-deploy`", env)
	}
	_, err := os.Stat(path)
	require.NoError(t, err, "%s", env)
	return path
}
