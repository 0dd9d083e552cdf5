// helmtemplate renders a Helm chart the way `helm template` does, for tests on
// machines where the helm binary cannot be installed.
//
// It uses the same template language (Go text/template) and the same function
// library (Masterminds/sprig v3, plus Helm's own toYaml/fromYaml/toJson/
// fromJson/include/tpl/required/lookup written here after Helm's documented
// behaviour) with the same options: missingkey=zero, "<no value>" removed,
// env/expandenv removed, every template parsed into one set so that `define`
// blocks are shared, files whose name starts with "_" not rendered.
// What it does not do (documented in deploy/README.md): chart dependencies,
// --set parsing, .helmignore, Capabilities from a live cluster, hook ordering,
// and the values.schema.json check (the Python tests do that with jsonschema).
//
// Build (GOPATH mode, Debian's packaged libraries, no module download):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o helmtemplate .
//
// Usage: helmtemplate [-f values.yaml]... [-name R] [-namespace NS]
//
//	[-api-versions a/v1,b/v1] [-notes] CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Files mirrors Helm's .Files: the chart's non-template files by path.
type Files map[string][]byte

func (f Files) Get(name string) string      { return string(f[name]) }
func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Lines(name string) []string {
	return strings.Split(strings.TrimSuffix(string(f[name]), "\n"), "\n")
}
func (f Files) AsConfig() string  { return f.asMap(false) }
func (f Files) AsSecrets() string { return f.asMap(true) }
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func (f Files) asMap(b64 bool) string {
	m := map[string]string{}
	for name, data := range f {
		if b64 {
			m[path.Base(name)] = encodeB64(data)
		} else {
			m[path.Base(name)] = string(data)
		}
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func encodeB64(b []byte) string {
	return sprig.TxtFuncMap()["b64enc"].(func(string) string)(string(b))
}

// APIVersions mirrors .Capabilities.APIVersions with its Has method.
type APIVersions []string

func (a APIVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if out == nil {
		out = map[string]interface{}{}
	}
	return out, nil
}

// coalesce merges user values over chart defaults as Helm does: maps merge
// deeply, anything else replaces, and a null removes the default key.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sv, sIsMap := v.(map[string]interface{})
		dv, dIsMap := dst[k].(map[string]interface{})
		if sIsMap && dIsMap {
			dst[k] = coalesce(dv, sv)
		} else {
			dst[k] = v
		}
	}
	return dst
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

type renderer struct {
	root *template.Template
}

func (r *renderer) funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["fromYamlArray"] = fromYAMLArray
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil // as `helm template`: no cluster
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := r.root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := r.root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	return f
}

func run() error {
	var valueFiles multiFlag
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	apis := flag.String("api-versions", "", "comma-separated extra API versions for .Capabilities")
	notes := flag.Bool("notes", false, "render NOTES.txt instead of the manifests")
	flag.Parse()
	if flag.NArg() != 1 {
		return errors.New("usage: helmtemplate [flags] CHART_DIR")
	}
	chartDir := flag.Arg(0)

	chart, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, vf := range valueFiles {
		user, err := readYAMLMap(vf)
		if err != nil {
			return err
		}
		values = coalesce(values, user)
	}

	chartName, _ := chart["name"].(string)
	files := Files{}
	var templates []string
	// Symbolic links are followed, as Helm's chart loader does (files/rules and
	// files/dashboards link to monitor/: one source for the chart and compose).
	var walk func(dir string) error
	walk = func(dir string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			info, err := os.Stat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue // a dangling link: nothing to load, as for an absent folder
			}
			if err != nil {
				return err
			}
			if info.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			rel, _ := filepath.Rel(chartDir, p)
			rel = filepath.ToSlash(rel)
			if strings.HasPrefix(rel, "templates/") {
				templates = append(templates, rel)
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files[rel] = data
		}
		return nil
	}
	if err := walk(chartDir); err != nil {
		return err
	}
	sort.Strings(templates)

	r := &renderer{}
	r.root = template.New(chartName).Option("missingkey=zero").Funcs(r.funcs())
	for _, rel := range templates {
		data, err := os.ReadFile(filepath.Join(chartDir, rel))
		if err != nil {
			return err
		}
		if _, err := r.root.New(chartName + "/" + rel).Parse(string(data)); err != nil {
			return err
		}
	}

	apiVersions := APIVersions{"v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "policy/v1", "networking.k8s.io/v1"}
	if *apis != "" {
		apiVersions = append(apiVersions, strings.Split(*apis, ",")...)
	}
	meta := map[string]interface{}{}
	for k, v := range chart {
		meta[strings.ToUpper(k[:1])+k[1:]] = v // Helm exposes Chart.yaml fields capitalized
	}
	top := map[string]interface{}{
		"Values": values,
		"Chart":  meta,
		"Release": map[string]interface{}{
			"Name": *name, "Namespace": *namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"APIVersions": apiVersions,
			"KubeVersion": map[string]interface{}{"Version": "v1.30.0", "Major": "1", "Minor": "30", "GitVersion": "v1.30.0"},
		},
		"Files": files,
	}

	out := os.Stdout
	for _, rel := range templates {
		base := path.Base(rel)
		isNotes := base == "NOTES.txt"
		if strings.HasPrefix(base, "_") || isNotes != *notes {
			continue
		}
		if !isNotes && !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".yml") && !strings.HasSuffix(base, ".tpl") {
			continue
		}
		full := chartName + "/" + rel
		top["Template"] = map[string]interface{}{"Name": full, "BasePath": chartName + "/templates"}
		var buf bytes.Buffer
		if err := r.root.ExecuteTemplate(&buf, full, top); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if isNotes {
			fmt.Fprint(out, text)
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(out, "---\n# Source: %s\n%s\n", full, strings.TrimSpace(text))
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
