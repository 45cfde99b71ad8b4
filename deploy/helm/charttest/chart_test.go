package charttest

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const chartDir = "../ferry"

// render is `helm template` of the chart with one values file.
func render(t *testing.T, valuesFile string) map[string]string {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ReadValuesFile(valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	opts := chartutil.ReleaseOptions{Name: "orders", Namespace: "cdc", IsInstall: true, Revision: 1}
	top, err := chartutil.ToRenderValues(ch, vals, opts, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, top)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type objects struct {
	deploy *appsv1.Deployment
	svc    *corev1.Service
	cm     *corev1.ConfigMap
	pvc    *corev1.PersistentVolumeClaim
	pdb    *policyv1.PodDisruptionBudget
	sm     bool
}

// decode splits the rendered manifests and decodes each strictly into its k8s.io/api type.
func decode(t *testing.T, files map[string]string) objects {
	t.Helper()
	var o objects
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "NOTES.txt") {
			continue
		}
		for _, doc := range strings.Split(files[n], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var u unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("%s: %v\n%s", n, err, doc)
			}
			var into any
			switch u.GetKind() {
			case "Deployment":
				o.deploy = &appsv1.Deployment{}
				into = o.deploy
			case "Service":
				o.svc = &corev1.Service{}
				into = o.svc
			case "ConfigMap":
				o.cm = &corev1.ConfigMap{}
				into = o.cm
			case "PersistentVolumeClaim":
				o.pvc = &corev1.PersistentVolumeClaim{}
				into = o.pvc
			case "PodDisruptionBudget":
				o.pdb = &policyv1.PodDisruptionBudget{}
				into = o.pdb
			case "ServiceMonitor":
				o.sm = true
				continue
			default:
				t.Fatalf("%s: unexpected kind %q", n, u.GetKind())
			}
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Fatalf("%s: strict decoding of %s: %v\n%s", n, u.GetKind(), err, doc)
			}
		}
	}
	return o
}

func TestExamples(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join(chartDir, "examples", "*.yaml"))
	if len(examples) != 3 {
		t.Fatalf("want 3 example values files, got %v", examples)
	}
	for _, ex := range examples {
		t.Run(filepath.Base(ex), func(t *testing.T) {
			raw, _ := os.ReadFile(ex)
			var v struct {
				Store     string                                   `json:"store"`
				Replicas  int32                                    `json:"replicas"`
				SecretEnv []struct{ Name, SecretName, Key string } `json:"secretEnv"`
			}
			if err := yaml.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			o := decode(t, render(t, ex))
			if o.deploy == nil || o.svc == nil || o.cm == nil || o.pdb == nil {
				t.Fatalf("missing objects: %+v", o)
			}
			d := o.deploy
			c := d.Spec.Template.Spec.Containers[0]
			// replicas vs store
			if v.Store == "file" {
				if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || o.pvc == nil {
					t.Errorf("file store: replicas %d strategy %s pvc %v", *d.Spec.Replicas, d.Spec.Strategy.Type, o.pvc != nil)
				}
			} else {
				if *d.Spec.Replicas != v.Replicas || v.Replicas < 2 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || o.pvc != nil {
					t.Errorf("%s store: replicas %d strategy %s pvc %v", v.Store, *d.Spec.Replicas, d.Spec.Strategy.Type, o.pvc != nil)
				}
			}
			// probes on the status port
			if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
				c.LivenessProbe.HTTPGet.Port.StrVal != "status" || c.ReadinessProbe.HTTPGet.Port.StrVal != "status" {
				t.Errorf("probes: %+v %+v", c.LivenessProbe.HTTPGet, c.ReadinessProbe.HTTPGet)
			}
			if len(c.Ports) != 1 || c.Ports[0].Name != "status" || !strings.Contains(strings.Join(c.Args, " "), "--status-addr 0.0.0.0:"+itoa(c.Ports[0].ContainerPort)) {
				t.Errorf("status port %v vs args %v", c.Ports, c.Args)
			}
			if o.svc.Spec.Ports[0].TargetPort.StrVal != "status" {
				t.Errorf("service target port %v", o.svc.Spec.Ports[0].TargetPort)
			}
			// env from Secrets, used through env() in the pipeline file
			hcl := o.cm.Data["pipeline.hcl"]
			for _, s := range v.SecretEnv {
				found := false
				for _, e := range c.Env {
					if e.Name == s.Name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil &&
						e.ValueFrom.SecretKeyRef.Name == s.SecretName && e.ValueFrom.SecretKeyRef.Key == s.Key {
						found = true
					}
				}
				if !found || !strings.Contains(hcl, `env("`+s.Name+`")`) {
					t.Errorf("secret env %s: in container %v, in pipeline file %v", s.Name, found, strings.Contains(hcl, s.Name))
				}
			}
			// the ConfigMap is mounted where the args point
			var mount string
			for _, m := range c.VolumeMounts {
				if m.Name == "pipeline" {
					mount = m.MountPath
				}
			}
			var cmName string
			for _, vol := range d.Spec.Template.Spec.Volumes {
				if vol.Name == "pipeline" && vol.ConfigMap != nil {
					cmName = vol.ConfigMap.Name
				}
			}
			if cmName != o.cm.Name || c.Args[0] != "run" || c.Args[1] != mount+"/pipeline.hcl" {
				t.Errorf("pipeline file: args %v, mount %q, configmap %q vs %q", c.Args, mount, cmName, o.cm.Name)
			}
			// resources: medium preset = max(512, 256) + 256 + 192 overhead
			if got := c.Resources.Limits.Memory().String(); got != "960Mi" {
				t.Errorf("memory limit %s, want 960Mi", got)
			}
			// PDB and Service select the pods
			for k, val := range o.pdb.Spec.Selector.MatchLabels {
				if d.Spec.Template.Labels[k] != val {
					t.Errorf("pdb selector %s=%s does not match pod labels %v", k, val, d.Spec.Template.Labels)
				}
			}
			for k, val := range o.svc.Spec.Selector {
				if d.Spec.Template.Labels[k] != val {
					t.Errorf("service selector %s=%s does not match pod labels", k, val)
				}
			}
			// security
			sc := c.SecurityContext
			if !*d.Spec.Template.Spec.SecurityContext.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
				t.Errorf("security context %+v", sc)
			}
			if d.Spec.Template.Annotations["prometheus.io/scrape"] != "true" {
				t.Errorf("no scrape annotations")
			}
		})
	}
}

func itoa(i int32) string {
	b := []byte{}
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func TestLint(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join(chartDir, "examples", "*.yaml"))
	for _, ex := range examples {
		vals, err := chartutil.ReadValuesFile(ex)
		if err != nil {
			t.Fatal(err)
		}
		res := lint.AllWithKubeVersion(chartDir, vals, "cdc", nil)
		for _, m := range res.Messages {
			if m.Severity >= 2 { // support.WarningSev and above
				t.Errorf("%s: lint: %s", filepath.Base(ex), m)
			}
		}
	}
}

func TestSharedStoreWantsTwoReplicas(t *testing.T) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{"store": "etcd", "replicas": 1, "pipeline": map[string]any{"hcl": "pipeline \"x\" {}"}}
	top, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: "x"}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Render(ch, top); err == nil || !strings.Contains(err.Error(), "replicas >= 2") {
		t.Fatalf("want a replicas error, got %v", err)
	}
}
