package params

import (
	"strings"
	"testing"
	"time"
)

type cfg struct {
	f    float64
	af   float64
	f32  float32
	i    int
	ai   int
	b    bool
	e    string
	s    string
	d    time.Duration
	bind *Binder
}

func newCfg() *cfg {
	c := &cfg{}
	b := New("widget", "w1")
	b.Float("f", &c.f, 0.5, "", "a float")
	b.AutoFloat("af", &c.af, "2*f", "an auto float")
	b.Float32("f32", &c.f32, 1.5, "a float32")
	b.Int("i", &c.i, 3, "", "an int")
	b.AutoInt("ai", &c.ai, "i+1", "an auto int")
	b.Bool("b", &c.b, true, "a bool")
	b.Enum("e", &c.e, "x", []string{"x", "y"}, "an enum")
	b.String("s", &c.s, "", "none", "a string")
	b.Duration("d", &c.d, time.Second, "a duration")
	c.bind = b
	return c
}

func TestApplyDefaultsAndValues(t *testing.T) {
	c := newCfg()
	if err := c.bind.Apply(nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"f": 0.5, "af": 0.0, "f32": 1.5, "i": 3, "ai": 0, "b": true, "e": "x", "s": "", "d": "1s"}
	got := c.bind.Values()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("default %s = %v, want %v", k, got[k], v)
		}
	}
	err := c.bind.Apply(map[string]string{"F": " 0.25 ", "af": "auto", "f32": "2", "i": "7", "ai": "9", "b": "false", "e": "Y", "s": "pgd:eps=1", "d": "90s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.f != 0.25 || c.af != 0 || c.f32 != 2 || c.i != 7 || c.ai != 9 || c.b || c.e != "y" || c.s != "pgd:eps=1" || c.d != 90*time.Second {
		t.Errorf("parsed %+v", *c)
	}
	// Apply resets to defaults first.
	if err := c.bind.Apply(map[string]string{"i": "1"}); err != nil || c.f != 0.5 || c.i != 1 {
		t.Errorf("second Apply: f %g i %d err %v", c.f, c.i, err)
	}
	docs := c.bind.Docs()
	if len(docs) != 9 || docs[1].Default != "2*f" || docs[6].Type != "string (x|y)" || docs[7].Default != "none" || strings.Join(c.bind.Names(), ",") != "f,af,f32,i,ai,b,e,s,d" {
		t.Errorf("docs %+v", docs)
	}
}

func TestApplyErrors(t *testing.T) {
	cases := []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"f": "NaN"}, `widget w1: parameter f="NaN": want a finite number`},
		{map[string]string{"af": "x"}, "want a finite number or auto"},
		{map[string]string{"i": "1.5"}, "want an integer"},
		{map[string]string{"ai": "x"}, "want an integer or auto"},
		{map[string]string{"b": "maybe"}, "want true or false"},
		{map[string]string{"e": "z"}, "want one of x|y"},
		{map[string]string{"d": "5"}, "want a duration"},
		{map[string]string{"zz": "1"}, `widget w1: unknown parameter "zz" (known: f, af,`},
	}
	for _, tc := range cases {
		err := newCfg().bind.Apply(tc.params)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.params, err, tc.want)
		}
	}
	if e := New("defence", "d").Err("k", 3, "more"); e.Error() != "defence d: parameter k=3: want more" {
		t.Errorf("Err: %v", e)
	}
}
