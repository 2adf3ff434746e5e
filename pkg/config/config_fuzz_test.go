package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// FuzzConfig feeds arbitrary YAML to CheckYAML and, through ReadYAML, to
// viper and FromViper: nothing may panic, and an input that passes all three
// must give a valid Plan (YAML alias bombs are refused by the YAML decoder's
// aliasing limit; TestHostileConfig bounds what they allocate).
func FuzzConfig(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(""))
	f.Add([]byte("model: m.onnx\ndata: d.npy\nattacks: [{name: pgd, params: {eps: 0.3, steps: 40}}]\ngate: {fail_above: 0.5}\n"))
	f.Add([]byte("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"))
	f.Add([]byte("model: [\n"))
	f.Add([]byte("attacks:\n  - name: fgsm\n    params: {eps: .nan}\nseed: -1\nbatch_size: 99999999999999999999\n"))
	f.Add([]byte("preprocessing: {mean: [0.5, 0.5], std: [0, 1], clip_min: 1, clip_max: 0}\n"))
	f.Add([]byte("!!binary gIGC: x\n"))
	if matches, _ := filepath.Glob("../../configs/*.yaml"); len(matches) > 0 {
		for _, p := range matches {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxFileSize {
			return
		}
		errCheck := CheckYAML(data)
		v := NewViper()
		errRead := ReadYAML(v, "fuzz.yaml", data)
		if errCheck != nil && errRead == nil {
			t.Fatalf("CheckYAML refused (%v) but ReadYAML accepted", errCheck)
		}
		if errRead == nil {
			p, err := FromViper(v)
			if err == nil {
				if err := p.Validate(); err != nil {
					t.Fatalf("FromViper returned a plan that Validate refuses: %v", err)
				}
			} else if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
		}
	})
}

// TestHostileConfig: configs built to exhaust the parser are refused
// quickly: an alias bomb (a billion laughs), deep nesting, a file over
// MaxFileSize.
func TestHostileConfig(t *testing.T) {
	laughs := "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
	prev := "a"
	for _, k := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs += k + ": &" + k + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
		prev = k
	}
	cases := []struct{ name, text, want string }{
		{"alias bomb", laughs, "excessive aliasing"},
		{"nesting 10000 deep", "model: " + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n", "want a string"},
		{"nested mappings 5000 deep", strings.Repeat("{a: ", 5000) + "1" + strings.Repeat("}", 5000) + "\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := CheckYAML([]byte(tc.text))
			runtime.ReadMemStats(&after)
			// Bytes allocated, not time (which a loaded machine stretches):
			// an expanded alias bomb would take gigabytes.
			if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
				t.Errorf("allocated %d MiB", d>>20)
			} else {
				t.Logf("allocated %d KiB: %v", d>>10, err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("over MaxFileSize", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "big.yaml")
		if err := os.WriteFile(p, []byte("model: m.onnx\n#"+strings.Repeat("x", MaxFileSize)), 0o644); err != nil {
			t.Fatal(err)
		}
		err := ReadFile(NewViper(), p)
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("got %v", err)
		}
	})
}
