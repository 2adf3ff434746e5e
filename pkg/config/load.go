package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix prefixes the environment variables that set config keys:
// ADVTEST_BATCH_SIZE sets batch_size, ADVTEST_GATE_FAIL_ABOVE sets
// gate.fail_above (dots and dashes become underscores).
const EnvPrefix = "ADVTEST"

// MaxFileSize bounds the size of a config file (1 MiB).
const MaxFileSize = 1 << 20

// defaults are the keys with a default value.
var defaults = map[string]any{
	"seed":                   DefaultSeed,
	"batch_size":             DefaultBatchSize,
	"preprocessing.scale":    DefaultScale,
	"preprocessing.clip_min": DefaultClipMin,
	"preprocessing.clip_max": DefaultClipMax,
	"preprocessing.layout":   DefaultLayout,
	"output.format":          DefaultFormat,
	"gate.max_regression":    0.0,
	"harden.max_rounds":      DefaultMaxRounds,
	"harden.max_clean_drop":  DefaultMaxCleanDrop,
	"train.validation_split": DefaultValidationSplit,
	"limit":                  0,
	"preprocessing.mean":     []float64{},
	"preprocessing.std":      []float64{},
	"sweep.eps":              []float64{},
	"output.path":            "",
	"gate.baseline":          "",
	"model":                  "",
	"data":                   "",
	"labels":                 "",
	"label_column":           "",
	"sweep.attack":           "",
	"sanity.enabled":         true,
	"sanity.samples":         DefaultSanitySamples,
	"train.data":             "",
	"train.labels":           "",
}

// Keys returns every config key that the environment (and a flag bound by
// the cmd layer) can set, sorted: the scalar and number-list keys. Lists of
// mappings (attacks, output.extra, harden.defences) come from the file only.
func Keys() []string {
	return leafKeys("", reflect.TypeOf(Plan{}))
}

// NewViper returns a viper instance set up for advtest: defaults for every
// key that has one, and the environment (ADVTEST_ prefix, dots and dashes
// as underscores) bound for every key of Keys. The cmd layer binds its
// flags to it (v.BindPFlag("batch_size", ...)) and reads the config file
// with ReadFile; FromViper then resolves the Plan with the precedence
// flags > environment > file > defaults.
func NewViper() *viper.Viper {
	v := viper.New()
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	for k, d := range defaults {
		v.SetDefault(k, d)
	}
	for _, k := range Keys() {
		// BindEnv with one argument cannot fail.
		_ = v.BindEnv(k)
	}
	v.SetConfigType("yaml")
	return v
}

// ReadFile reads the YAML config file at path into v. Before handing it to
// viper it checks the whole file against the Plan's shape, so that an
// unknown key (a typo) or a value of the wrong kind is an error naming the
// key, e.g. `config: advtest.yaml: attacks[1].parms: unknown key`.
// Files larger than MaxFileSize are refused.
func ReadFile(v *viper.Viper, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return fmt.Errorf("config: %s: larger than %d KiB, refused", path, MaxFileSize>>10)
	}
	return ReadYAML(v, path, data)
}

// ReadYAML is ReadFile for a config already in memory; name labels errors.
func ReadYAML(v *viper.Viper, name string, data []byte) error {
	if err := CheckYAML(data); err != nil {
		return prefixErrors("config: "+name+": ", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("config: %s: %w", name, err)
	}
	return nil
}

// CheckYAML checks a YAML config against the Plan's shape: it must be a
// mapping whose keys are all config keys, with values of the right kind.
// Ranges and cross-key rules are Validate's.
func CheckYAML(data []byte) error {
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	if raw == nil {
		return nil
	}
	if _, ok := stringMap(raw); !ok {
		return fmt.Errorf("want a mapping of config keys at the top level, got %s", got(raw))
	}
	d := decoder{strict: true}
	var p Plan
	d.decode("", raw, reflect.ValueOf(&p).Elem())
	return d.err()
}

// FromViper resolves the Plan from v (made by NewViper, with flags bound
// and the file read) and validates it. Keys that v holds but the Plan does
// not (flags of the cmd layer such as "config") are ignored. Every error
// names its key; all of them are returned, joined.
func FromViper(v *viper.Viper) (*Plan, error) {
	d := decoder{}
	var p Plan
	d.decode("", v.AllSettings(), reflect.ValueOf(&p).Elem())
	if err := d.err(); err != nil {
		return nil, prefixErrors("config: ", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// prefixErrors puts prefix in front of each joined error.
func prefixErrors(prefix string, err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("%s%w", prefix, e)
	}
	return errors.Join(out...)
}
