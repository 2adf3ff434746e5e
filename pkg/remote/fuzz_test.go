package remote

import (
	"math"
	"testing"
)

// FuzzParseResponse feeds arbitrary bodies to the response parser: it
// never panics, and whatever it accepts is [n, C] finite scores.
func FuzzParseResponse(f *testing.F) {
	seeds := []string{
		`{"model_name":"m","outputs":[{"name":"logits","datatype":"FP32","shape":[2,3],"data":[1,2,3,4,5,6]}]}`,
		`{"outputs":[{"name":"logits","datatype":"FP64","shape":[2,3],"data":[[1,2,3],[4,5,6]]}]}`,
		`{"outputs":[{"name":"label","datatype":"INT64","shape":[2],"data":[1,2]},{"name":"p","datatype":"FP32","shape":[2,1],"data":[0.5,0.5]}]}`,
		`{"outputs":[{"name":"logits","datatype":"FP32","shape":[2,3],"data":[NaN,2,3,4,5,6]}]}`,
		`{"outputs":[{"name":"logits","datatype":"FP32","shape":[2,-3],"data":[]}]}`,
		`{"outputs":[{"name":"logits","datatype":"FP32","shape":[2,4611686018427387904],"data":[1]}]}`,
		`{"outputs":[{"name":"logits","datatype":"FP32","shape":[2,3],"data":[[[1]]]}]}`,
		`{"outputs":[{"name":"logits","datatype":"FP32","shape":[2,3],"data":"AAAA"}]}`,
		`{"outputs":null}`, `null`, `[]`, `{`, ``,
	}
	for _, s := range seeds {
		f.Add([]byte(s), 2, true)
	}
	f.Fuzz(func(t *testing.T, body []byte, n int, named bool) {
		if n < 1 || n > 1<<20 {
			n = 2
		}
		name := ""
		if named {
			name = "logits"
		}
		for _, classes := range []int{0, 3} {
			s, err := parseScores(body, n, name, classes)
			if err != nil {
				continue
			}
			if len(s.Shape) != 2 || s.Shape[0] != n || s.Shape[1] < 1 || (classes > 0 && s.Shape[1] != classes) || len(s.F) != n*s.Shape[1] {
				t.Fatalf("accepted scores of shape %v (%d elements) for %d samples, %d classes", s.Shape, len(s.F), n, classes)
			}
			for i, v := range s.F {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("accepted a non-finite score %v at %d", v, i)
				}
			}
		}
	})
}
