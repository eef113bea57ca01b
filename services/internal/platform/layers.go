package platform

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// The variables that name the configuration layers below the
// environment.
const (
	// EnvConfigFile names the HOCON file to read (Typesafe Config's
	// -Dconfig.file is read when it is not set).
	EnvConfigFile = "DITTO_CONFIG_FILE"
	// EnvJavaToolOptions and EnvDittoOpts carry -D system properties, as
	// the JVM reads them from JAVA_TOOL_OPTIONS; DITTO_OPTS is read after
	// it, so its properties win.
	EnvJavaToolOptions = "JAVA_TOOL_OPTIONS"
	EnvDittoOpts       = "DITTO_OPTS"
)

// sourceVariables are the rows Usage lists for the layer variables.
var sourceVariables = []variable{
	{name: EnvConfigFile, desc: "HOCON file with Ditto's configuration keys (e.g. ditto.gateway.authentication.devops.password = ...), read over the built-in defaults; -Dconfig.file=... names it too"},
	{name: EnvJavaToolOptions, desc: "JVM options whose -Dkey=value system properties set configuration keys over the HOCON file (other options are ignored)"},
	{name: EnvDittoOpts, desc: "more -Dkey=value system properties, read after JAVA_TOOL_OPTIONS"},
}

// variable is one environment variable a configuration section reads,
// as its envconfig tags declare it.
type variable struct {
	name, def, desc string
	// keys are its configuration keys (dittoKeysOf).
	keys []string
	// field is the settable struct field it fills.
	field reflect.Value
}

// secret reports whether the variable's value is shown as "***".
func (v variable) secret() bool {
	if dittoconf.IsSecret(v.name) {
		return true
	}
	for _, k := range v.keys {
		segs, err := dittoconf.ParsePath(k)
		if err == nil && dittoconf.IsSecret(segs[len(segs)-1]) {
			return true
		}
	}
	return false
}

// variables lists the variables of the given sections (pointers to
// flat structs), in field order: the envconfig tag names the variable
// (the field name in upper case without one, as envconfig does), default
// and desc tags give its default and meaning, ignored:"true" skips a
// field.
func variables(parts []any) ([]variable, error) {
	var out []variable
	for _, part := range parts {
		rv := reflect.ValueOf(part).Elem()
		rt := rv.Type()
		for i := range rt.NumField() {
			f := rt.Field(i)
			if !f.IsExported() || f.Tag.Get("ignored") == "true" {
				continue
			}
			name := f.Tag.Get("envconfig")
			if name == "" {
				name = strings.ToUpper(f.Name)
			}
			fv := rv.Field(i)
			if fv.Kind() == reflect.Struct && !decodable(fv) {
				return nil, fmt.Errorf("%s.%s: nested configuration structs are not supported; flatten it or tag it ignored:\"true\"", rt, f.Name)
			}
			out = append(out, variable{name: name, def: f.Tag.Get("default"), desc: f.Tag.Get("desc"),
				keys: dittoKeysOf(name), field: fv})
		}
	}
	return out, nil
}

// decodable reports whether a struct field decodes itself from text.
func decodable(fv reflect.Value) bool {
	p := fv.Addr().Interface()
	_, dec := p.(envconfig.Decoder)
	_, set := p.(envconfig.Setter)
	_, txt := p.(encoding.TextUnmarshaler)
	return dec || set || txt
}

// layers are the configuration sources below the environment.
type layers struct {
	env map[string]string
	// file is the HOCON file read ("" for none), fileTree what it set.
	file     string
	fileTree *dittoconf.Tree
	// props are the -D properties of JAVA_TOOL_OPTIONS and DITTO_OPTS;
	// vmArgs those options as the process got them, masked.
	props    *dittoconf.Tree
	vmArgs   []string
	warnings []string
}

// readLayers reads the -D properties and the HOCON file env names; the
// file's substitutions see defaults and env.
func readLayers(env map[string]string, defaults *dittoconf.Tree) (*layers, error) {
	l := &layers{env: env}
	var props []dittoconf.Property
	for _, name := range []string{EnvJavaToolOptions, EnvDittoOpts} {
		s := env[name]
		p, err := dittoconf.ParseProperties(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		props = append(props, p...)
		opts, _ := dittoconf.SplitOptions(s)
		for _, o := range opts {
			l.vmArgs = append(l.vmArgs, dittoconf.MaskOption(o))
		}
	}
	var err error
	if l.props, err = dittoconf.PropertiesTree(props); err != nil {
		return nil, err
	}
	l.file = env[EnvConfigFile]
	if l.file == "" {
		l.file, _ = l.props.String("config.file")
	}
	l.fileTree = dittoconf.NewTree()
	if l.file != "" {
		l.fileTree, err = dittoconf.ParseFile(l.file, dittoconf.Options{
			Env: func(name string) (string, bool) {
				v, ok := env[name]
				return v, ok
			},
			Base: defaults,
			Warn: func(msg string) { l.warnings = append(l.warnings, msg) },
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvConfigFile, err)
		}
	}
	return l, nil
}

// value finds a variable's setting: the environment variable, else the
// first of its keys set by a -D property, else by the HOCON file, else
// its default. tree is the value a layer's tree holds (nil from the
// environment or the default); from says where it came from.
func (l *layers) value(v variable) (raw string, tree any, from string, ok bool) {
	if s, ok := l.env[v.name]; ok {
		return s, nil, "environment variable " + v.name, true
	}
	for _, layer := range []struct {
		tree *dittoconf.Tree
		from string
	}{{l.props, "-D"}, {l.fileTree, l.file + ": "}} {
		for _, k := range v.keys {
			if s, ok := layer.tree.String(k); ok {
				t, _ := layer.tree.Get(k)
				return s, t, layer.from + k, true
			}
		}
	}
	if v.def != "" {
		return v.def, nil, "default", true
	}
	return "", nil, "", false
}

// loadFrom fills the sections of cfg from environ (NAME=VALUE entries, as
// os.Environ gives them) and the layers it names, and builds the
// effective configuration tree.
func loadFrom(cfg *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	vars, err := variables(cfg.parts())
	if err != nil {
		return err
	}
	defaults := dittoconf.NewTree()
	for _, v := range vars {
		if v.def == "" {
			continue
		}
		for _, k := range v.keys {
			if err := defaults.Set(k, v.def); err != nil {
				return fmt.Errorf("%s: key %s: %w", v.name, k, err)
			}
		}
	}
	l, err := readLayers(env, defaults)
	if err != nil {
		return err
	}
	tree := l.fileTree.Clone()
	tree.Merge(l.props)
	var errs []error
	// set marks the keys a variable with a value has written: a later
	// variable of the same key (another spelling) does not overwrite
	// them, as the sections read the first spelling that is set.
	set := map[string]bool{}
	for _, v := range vars {
		raw, layerValue, from, ok := l.value(v)
		if ok {
			if err := setField(v.field, raw); err != nil {
				shown := raw
				if v.secret() {
					shown = dittoconf.Mask
				}
				errs = append(errs, fmt.Errorf("%s %q (from %s): %w", v.name, shown, from, err))
				continue
			}
		}
		eff := effective(v.field, raw, ok)
		switch layerValue.(type) {
		case map[string]any, []any:
			eff = layerValue // the structure the file wrote, not its JSON text
		}
		for _, k := range v.keys {
			if set[k] {
				continue
			}
			if err := tree.Set(k, eff); err != nil {
				errs = append(errs, fmt.Errorf("%s: key %s: %w", v.name, k, err))
			}
			set[k] = ok
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := tree.Set("ditto.info", info(env, l)); err != nil {
		return err
	}
	cfg.Tree, cfg.Warnings = tree, l.warnings
	return nil
}

// info is the process part of ditto.info, Ditto's runtime information
// (its service part, name and instance-id, is each service's own): the
// environment and the JVM options (vm-args: here the options of
// JAVA_TOOL_OPTIONS and DITTO_OPTS), secrets masked; and the Go version,
// start time and HOCON file of the process.
func info(env map[string]string, l *layers) map[string]any {
	masked := make(map[string]any, len(env))
	for k, v := range env {
		masked[k] = dittoconf.MaskEnv(k, v)
	}
	vmArgs := make([]any, len(l.vmArgs))
	for i, a := range l.vmArgs {
		vmArgs[i] = a
	}
	out := map[string]any{
		"env":        masked,
		"vm-args":    vmArgs,
		"go-version": runtime.Version(),
		"start-time": time.Now().UTC().Format(time.RFC3339),
	}
	if l.file != "" {
		out["config-file"] = l.file
	}
	return out
}

// effective is a variable's value as the configuration tree shows it,
// typed: a boolean or number as such, a duration in HOCON's form, a JSON
// object or array held in a string as that structure, any other text as
// written; an unset variable without default "" (text) or null.
func effective(f reflect.Value, raw string, set bool) any {
	isText := f.Kind() == reflect.String && f.Type() == reflect.TypeFor[string]()
	if !set {
		if isText {
			return ""
		}
		return nil
	}
	if _, ok := f.Addr().Interface().(envconfig.Decoder); ok {
		return raw
	}
	if f.Type() == reflect.TypeFor[time.Duration]() {
		return dittoconf.FormatDuration(time.Duration(f.Int()))
	}
	switch f.Kind() {
	case reflect.Bool:
		return f.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return json.Number(strconv.FormatInt(f.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return json.Number(strconv.FormatUint(f.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		return json.Number(strconv.FormatFloat(f.Float(), 'g', -1, 64))
	}
	if t := strings.TrimSpace(raw); isText && (strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{")) && json.Valid([]byte(t)) {
		var v any
		if json.Unmarshal([]byte(t), &v) == nil {
			return v
		}
	}
	return raw
}

// setField decodes raw into f as envconfig does, except that durations
// are read as HOCON writes them (10s, 5m, 3d, "10 seconds"; Go's 1h30m
// too) and booleans also as yes, no, on and off.
func setField(f reflect.Value, raw string) error {
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			f.Set(reflect.New(f.Type().Elem()))
		}
		return setField(f.Elem(), raw)
	}
	switch p := f.Addr().Interface().(type) {
	case envconfig.Decoder:
		return p.Decode(raw)
	case envconfig.Setter:
		return p.Set(raw)
	case encoding.TextUnmarshaler:
		return p.UnmarshalText([]byte(raw))
	}
	if f.Type() == reflect.TypeFor[time.Duration]() {
		d, err := dittoconf.ParseDuration(raw)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Bool:
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "yes", "on":
			raw = "true"
		case "no", "off":
			raw = "false"
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 0, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer of %d bits", f.Type().Bits())
		}
		f.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 0, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a non-negative integer of %d bits", f.Type().Bits())
		}
		f.SetUint(n)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(raw, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a number")
		}
		f.SetFloat(x)
	case reflect.Slice:
		parts := strings.Split(raw, ",")
		if strings.TrimSpace(raw) == "" {
			parts = nil
		}
		s := reflect.MakeSlice(f.Type(), len(parts), len(parts))
		for i, p := range parts {
			if err := setField(s.Index(i), p); err != nil {
				return err
			}
		}
		f.Set(s)
	default:
		return fmt.Errorf("cannot read a %s from the environment", f.Type())
	}
	return nil
}
