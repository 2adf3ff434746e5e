package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseCertifiedAccuracyGate(t *testing.T) {
	tests := []struct {
		in      string
		want    CertifiedAccuracyGate
		wantErr string
	}{
		{in: "0.5:0.6", want: CertifiedAccuracyGate{Radius: 0.5, MinAccuracy: 0.6}},
		{in: " 0 : 1 ", want: CertifiedAccuracyGate{Radius: 0, MinAccuracy: 1}},
		{in: "1.25:0", want: CertifiedAccuracyGate{Radius: 1.25, MinAccuracy: 0}},
		{in: "0.5", wantErr: "no colon"},
		{in: "x:0.5", wantErr: "radius"},
		{in: "-1:0.5", wantErr: "radius"},
		{in: "NaN:0.5", wantErr: "radius"},
		{in: "0.5:1.5", wantErr: "accuracy"},
		{in: "0.5:", wantErr: "accuracy"},
	}
	for _, tt := range tests {
		got, err := ParseCertifiedAccuracyGate(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "RADIUS:ACCURACY") {
				t.Errorf("Parse(%q) error = %v, want one about %q with the expected form", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if back, err := ParseCertifiedAccuracyGate(got.String()); err != nil || back != got {
			t.Errorf("Parse(%q.String()) = %+v, %v", tt.in, back, err)
		}
	}
}

// cert has four samples: certified correct at radius 0.8 and 0.3, one
// abstention, and one certified at 0.6 but wrong.
func cert() *Certification {
	return &Certification{Samples: []CertifiedSample{
		{Index: 0, Label: 1, Prediction: 1, Radius: 0.8, Correct: true},
		{Index: 1, Label: 2, Prediction: 2, Radius: 0.3, Correct: true},
		{Index: 2, Label: 3, Prediction: AbstainPrediction},
		{Index: 3, Label: 4, Prediction: 5, Radius: 0.6},
	}}
}

func TestCertifiedAccuracyAt(t *testing.T) {
	c := cert()
	for _, tt := range []struct {
		r     float64
		wantN int
	}{{0, 2}, {0.3, 2}, {0.3000000001, 2}, {0.31, 1}, {0.8, 1}, {0.81, 0}} {
		n, acc := c.CertifiedAccuracyAt(tt.r)
		if n != tt.wantN || acc != float64(tt.wantN)/4 {
			t.Errorf("CertifiedAccuracyAt(%g) = %d, %g; want %d, %g", tt.r, n, acc, tt.wantN, float64(tt.wantN)/4)
		}
	}
}

func TestCheckCertified(t *testing.T) {
	tests := []struct {
		gates []string
		want  []string
	}{
		{gates: nil},
		{gates: []string{"0:0.5", "0.5:0.25"}},
		{gates: []string{"0.5:0.3"}, want: []string{"certified accuracy at L2 radius 0.5 is 0.25 (1/4), below the minimum 0.3"}},
		{gates: []string{"0.9:0.1", "0:0.75"}, want: []string{
			"certified accuracy at L2 radius 0 is 0.5 (2/4), below the minimum 0.75",
			"certified accuracy at L2 radius 0.9 is 0 (0/4), below the minimum 0.1",
		}},
	}
	for _, tt := range tests {
		var gates []CertifiedAccuracyGate
		for _, s := range tt.gates {
			g, err := ParseCertifiedAccuracyGate(s)
			if err != nil {
				t.Fatal(err)
			}
			gates = append(gates, g)
		}
		got := CheckCertified(cert(), gates)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("gates %v: got %q, want %q", tt.gates, got, tt.want)
		}
		r := New("test")
		r.Certification = cert()
		if passed := r.ApplyCertifiedGate(gates); passed != (len(tt.want) == 0) || r.Gate.Passed != passed {
			t.Errorf("gates %v: ApplyCertifiedGate = %v, want %v", tt.gates, passed, len(tt.want) == 0)
		}
	}
	r := New("test")
	if r.ApplyCertifiedGate(nil) {
		t.Error("a report without a certification passed the certified gate")
	}
}

// TestCertificationOmitted checks that a report without a certification
// has no "certification" key (golden files stay as they are) and that one
// with it round-trips.
func TestCertificationOmitted(t *testing.T) {
	r := New("test")
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "certification") {
		t.Errorf("a report without certification writes the key: %s", buf.String())
	}
	r.Certification = cert()
	r.Certification.Clip = []float64{0, 1}
	buf.Reset()
	if err := json.NewEncoder(&buf).Encode(r); err != nil {
		t.Fatal(err)
	}
	back, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Certification, r.Certification) {
		t.Errorf("round trip: got %+v, want %+v", back.Certification, r.Certification)
	}
}
