package defend

// Feature squeezing (Xu, Evans and Qi, "Feature Squeezing: Detecting
// Adversarial Examples in Deep Neural Networks", NDSS 2018): bit-depth
// reduction and median smoothing, built from standard ONNX ops so that a
// squeezed model saves as a file other runtimes load.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/params"
	"github.com/advtest/advtest/pkg/tensor"
)

// PreprocessorKey is the metadata_props key under which a preprocessor
// defence records the value its nodes write (the input of the original
// graph). NewBPDA splits a hardened model there. Later graph rewrites keep
// the entry, so a model squeezed and then rewritten can still be attacked
// through BPDA.
const PreprocessorKey = "advtest.preprocessor_output"

// Squeezer is one feature-squeezing transformation. With both fields set,
// the median filter runs first and the bit-depth reduction second.
type Squeezer struct {
	// Bits, when in 1..16, reduces every element to 2^Bits levels:
	// Round(x·(2^Bits−1))/(2^Bits−1), for inputs in [0, 1]. Round has no
	// gradient, so a model behind it must be attacked through BPDA.
	Bits int
	// Median, when 2 or 3, replaces every element with the median of the
	// Median×Median window over the last two axes (height and width), as
	// scipy.ndimage.median_filter does with its default mode (the edge
	// value repeats at the border): for 3 the window is centred; for 2 it
	// covers the element and its neighbours above and to the left, and the
	// median of the 4 values is the upper one (the 3rd smallest).
	Median int
}

// String returns "bits=B", "median=K" or "median=K+bits=B".
func (s Squeezer) String() string {
	var parts []string
	if s.Median > 0 {
		parts = append(parts, fmt.Sprintf("median=%d", s.Median))
	}
	if s.Bits > 0 {
		parts = append(parts, fmt.Sprintf("bits=%d", s.Bits))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

// Validate checks the fields.
func (s Squeezer) Validate() error {
	if s.Bits < 0 || s.Bits > 16 {
		return fmt.Errorf("squeezer: bits=%d, want 1..16 (or 0 for none)", s.Bits)
	}
	if s.Median != 0 && s.Median != 2 && s.Median != 3 {
		return fmt.Errorf("squeezer: median=%d, want 2 or 3 (or 0 for none)", s.Median)
	}
	if s.Bits == 0 && s.Median == 0 {
		return fmt.Errorf("squeezer: neither bits nor median is set")
	}
	return nil
}

// ParseSqueezers parses a list such as "bits=1;median=2;median=2+bits=4":
// squeezers separated by ';' (or whitespace), each a '+'-joined set of
// bits=B and median=K (also written bits:B, median:K).
func ParseSqueezers(spec string) ([]Squeezer, error) {
	var out []Squeezer
	for _, item := range strings.FieldsFunc(spec, func(r rune) bool { return r == ';' || r == ' ' || r == '\t' }) {
		var s Squeezer
		for _, kv := range strings.Split(item, "+") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				k, v, ok = strings.Cut(kv, ":")
			}
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if !ok || err != nil {
				return nil, fmt.Errorf("squeezer %q: want bits=B or median=K", kv)
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "bits", "bit", "bit-depth", "bit_depth":
				s.Bits = n
			case "median", "median_filter":
				s.Median = n
			default:
				return nil, fmt.Errorf("squeezer %q: unknown kind %q (want bits or median)", item, k)
			}
		}
		if err := s.Validate(); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no squeezers in %q", spec)
	}
	return out, nil
}

// Apply computes the squeezer in Go (the reference for the graph form):
// x has shape [N, ..., H, W] (rank ≥ 2 for bits, ≥ 3 for median).
func (s Squeezer) Apply(x *tensor.Tensor) *tensor.Tensor {
	out := x.Clone()
	if s.Median > 0 && x.Rank() >= 2 {
		out = medianFilter(out, s.Median)
	}
	if s.Bits > 0 {
		l := float32(int(1)<<s.Bits - 1)
		for i, v := range out.F {
			out.F[i] = float32(math.RoundToEven(float64(v*l))) / l
		}
	}
	return out
}

// medianFilter is a direct median filter over the last two axes, with
// scipy.ndimage's window placement and edge replication.
func medianFilter(x *tensor.Tensor, k int) *tensor.Tensor {
	r := x.Rank()
	h, w := x.Shape[r-2], x.Shape[r-1]
	planes := x.Len() / (h * w)
	out := tensor.New(x.Shape...)
	lo := k / 2 // window rows i-lo .. i-lo+k-1
	win := make([]float32, 0, k*k)
	for p := 0; p < planes; p++ {
		src := x.F[p*h*w : (p+1)*h*w]
		dst := out.F[p*h*w : (p+1)*h*w]
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				win = win[:0]
				for di := 0; di < k; di++ {
					for dj := 0; dj < k; dj++ {
						ii := min(max(i-lo+di, 0), h-1)
						jj := min(max(j-lo+dj, 0), w-1)
						win = append(win, src[ii*w+jj])
					}
				}
				sort.Slice(win, func(a, b int) bool { return win[a] < win[b] })
				dst[i*w+j] = win[len(win)/2]
			}
		}
	}
	return out
}

// SqueezeNodes returns ONNX nodes that read value in (rank rank, float)
// and write s applied to it under out, for a model of the given opset.
// Names of the nodes and their intermediate values start with prefix.
// Bit depth is Mul, Round, Div (Floor(x·L+0.5) before opset 11, which has
// no Round; the two agree on 8-bit pixel data, which never lands on .5);
// the median is Pad (edge mode) + k² shifted Slices + a Min/Max selection
// network (ONNX has no median op).
func SqueezeNodes(s Squeezer, in, out, prefix string, rank int, opset int64) ([]*onnxpb.NodeProto, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Median > 0 && rank < 3 {
		return nil, fmt.Errorf("squeezer %s: median smoothing needs an input of rank ≥ 3 ([N, ..., H, W]), got rank %d", s, rank)
	}
	if opset < 7 {
		return nil, fmt.Errorf("squeezer %s: the model's opset %d is older than 7, the oldest advtest writes squeezers for", s, opset)
	}
	b := &graphBuf{prefix: prefix}
	cur := in
	if s.Median > 0 {
		cur = b.median(cur, s.Median, rank, opset)
	}
	if s.Bits > 0 {
		l := b.constFloat(float32(int(1)<<s.Bits - 1))
		scaled, rounded, q := b.name("scaled"), b.name("rounded"), b.name("bits")
		b.add(onnxmodel.NewNode("Mul", scaled, []string{cur, l}, []string{scaled}))
		if opset >= 11 {
			b.add(onnxmodel.NewNode("Round", rounded, []string{scaled}, []string{rounded}))
		} else {
			half, shifted := b.constFloat(0.5), b.name("shifted")
			b.add(onnxmodel.NewNode("Add", shifted, []string{scaled, half}, []string{shifted}),
				onnxmodel.NewNode("Floor", rounded, []string{shifted}, []string{rounded}))
		}
		b.add(onnxmodel.NewNode("Div", q, []string{rounded, l}, []string{q}))
		cur = q
	}
	b.add(onnxmodel.NewNode("Identity", prefix+"out", []string{cur}, []string{out}))
	return b.pruned(out), nil
}

// graphBuf collects nodes with unique names under a prefix.
type graphBuf struct {
	prefix string
	n      int
	nodes  []*onnxpb.NodeProto
}

func (b *graphBuf) name(s string) string {
	b.n++
	return fmt.Sprintf("%s%s_%d", b.prefix, s, b.n)
}

func (b *graphBuf) add(n ...*onnxpb.NodeProto) { b.nodes = append(b.nodes, n...) }

func (b *graphBuf) constFloat(v float32) string {
	c := b.name("const")
	b.add(onnxmodel.ConstantNode(c, tensor.FromFloat32([]float32{v})))
	return c
}

func (b *graphBuf) constInts(v ...int64) string {
	c := b.name("const")
	b.add(onnxmodel.ConstantNode(c, tensor.FromInt64(v, len(v))))
	return c
}

// median emits the k×k median filter of x over its last two axes.
func (b *graphBuf) median(x string, k, rank int, opset int64) string {
	top := int64(k / 2)          // rows above the centre
	bottom := int64(k - 1 - k/2) // rows below
	pads := make([]int64, 2*rank)
	pads[rank-2], pads[rank-1] = top, top
	pads[2*rank-2], pads[2*rank-1] = bottom, bottom
	padded := b.name("padded")
	if opset >= 11 {
		b.add(onnxmodel.NewNode("Pad", padded, []string{x, b.constInts(pads...)}, []string{padded}, onnxmodel.AttrString("mode", "edge")))
	} else {
		b.add(onnxmodel.NewNode("Pad", padded, []string{x}, []string{padded}, onnxmodel.AttrString("mode", "edge"), onnxmodel.AttrInts("pads", pads...)))
	}
	axes := []int64{int64(rank - 2), int64(rank - 1)}
	var p []string
	for dy := 0; dy < k; dy++ {
		for dx := 0; dx < k; dx++ {
			end := func(d int) int64 {
				if e := int64(d - (k - 1)); e < 0 {
					return e
				}
				return math.MaxInt64
			}
			starts, ends := []int64{int64(dy), int64(dx)}, []int64{end(dy), end(dx)}
			sl := b.name(fmt.Sprintf("shift%d%d", dy, dx))
			if opset >= 10 {
				b.add(onnxmodel.NewNode("Slice", sl, []string{padded, b.constInts(starts...), b.constInts(ends...), b.constInts(axes...)}, []string{sl}))
			} else {
				b.add(onnxmodel.NewNode("Slice", sl, []string{padded}, []string{sl},
					onnxmodel.AttrInts("starts", starts...), onnxmodel.AttrInts("ends", ends...), onnxmodel.AttrInts("axes", axes...)))
			}
			p = append(p, sl)
		}
	}
	sortPair := func(i, j int) { // p[i], p[j] = min, max
		lo, hi := b.name("min"), b.name("max")
		b.add(onnxmodel.NewNode("Min", lo, []string{p[i], p[j]}, []string{lo}),
			onnxmodel.NewNode("Max", hi, []string{p[i], p[j]}, []string{hi}))
		p[i], p[j] = lo, hi
	}
	if k == 2 {
		// Sort the pairs; the middle two are max of the lows and min of
		// the highs; the upper median is the larger of those.
		sortPair(0, 1)
		sortPair(2, 3)
		sortPair(0, 2) // p[2] = max of lows
		sortPair(1, 3) // p[1] = min of highs
		sortPair(1, 2) // p[2] = upper median
		return p[2]
	}
	// Median of 9 (Paeth's network, as in Devillard's opt_med9): 19
	// compare-exchanges, of which pruning keeps those p[4] depends on.
	for _, e := range [][2]int{{1, 2}, {4, 5}, {7, 8}, {0, 1}, {3, 4}, {6, 7}, {1, 2}, {4, 5}, {7, 8},
		{0, 3}, {5, 8}, {4, 7}, {3, 6}, {1, 4}, {2, 5}, {4, 7}, {4, 2}, {6, 4}, {4, 2}} {
		sortPair(e[0], e[1])
	}
	return p[4]
}

// pruned returns the nodes that out depends on, in order.
func (b *graphBuf) pruned(out string) []*onnxpb.NodeProto {
	need := map[string]bool{out: true}
	keep := make([]bool, len(b.nodes))
	for i := len(b.nodes) - 1; i >= 0; i-- {
		for _, o := range b.nodes[i].GetOutput() {
			if need[o] {
				keep[i] = true
			}
		}
		if keep[i] {
			for _, x := range b.nodes[i].GetInput() {
				need[x] = true
			}
		}
	}
	var res []*onnxpb.NodeProto
	for i, n := range b.nodes {
		if keep[i] {
			res = append(res, n)
		}
	}
	return res
}

// uniquePrefix returns base + a number such that no value or node of m
// starts with it.
func uniquePrefix(m *onnxmodel.Model, base string) string {
	names := map[string]bool{}
	for _, n := range m.Proto.GetGraph().GetNode() {
		names[n.GetName()] = true
		for _, o := range n.GetOutput() {
			names[o] = true
		}
	}
	for k := 0; ; k++ {
		p := fmt.Sprintf("%s%d/", base, k)
		clash := false
		for n := range names {
			if strings.HasPrefix(n, p) {
				clash = true
				break
			}
		}
		if !clash {
			return p
		}
	}
}

// WithSqueezer returns a copy of m whose graph starts with s: it takes data
// in input space (s assumes [0, 1] for bits) and feeds the squeezed data to
// the original graph. The value between the two is recorded under
// PreprocessorKey (unless an earlier preprocessor's is there, which stays:
// it is still computed from the input, after every preprocessor), so that
// NewBPDA can attack the result. Put squeezing on the model that takes
// input-space data, after any normalisation (WithPreprocessing) has been
// folded in.
//
// On a model with inference noise (NoiseKey) whose preprocessor mark lies
// behind the noise (x → noise → squeeze → f), it fails: a squeezer in
// front of the noise would then have no mark of its own, and AdaptiveWith
// could not pass BPDA's gradient through it. Squeeze before adding noise,
// or add the noise after all squeezers.
func WithSqueezer(m *onnxmodel.Model, s Squeezer) (*onnxmodel.Model, error) {
	inName, err := m.InputName()
	if err != nil {
		return nil, err
	}
	if mk, ok, err := NoiseMarkOf(m); err != nil {
		return nil, fmt.Errorf("squeeze: %w", err)
	} else if ok {
		if sq, has := m.Metadata(PreprocessorKey); has && dependsOn(m.Proto.GetGraph(), sq, mk.Output) {
			return nil, fmt.Errorf("squeeze: the model already has a squeezer behind its inference noise (%s); a second squeezer in front of the noise cannot be attacked through BPDA: apply the squeezers together, before or after the noise", mk.Noise)
		}
	}
	rank := len(m.Inputs[0].Shape)
	if rank == 0 {
		return nil, fmt.Errorf("squeeze: the model's input %q declares no shape; its rank is needed", inName)
	}
	prefix := uniquePrefix(m, "advtest_squeeze")
	boundary := prefix + "squeezed"
	nodes, err := SqueezeNodes(s, inName, boundary, prefix, rank, m.Opset)
	if err != nil {
		return nil, err
	}
	e := m.Edit().Prepend(boundary, nodes...)
	if _, ok := m.Metadata(PreprocessorKey); !ok {
		e.SetMetadata(PreprocessorKey, boundary)
	}
	out, err := e.Build()
	if err != nil {
		return nil, err
	}
	out.Path = m.Path
	return out, nil
}

// Squeeze is the feature-squeezing preprocessor defence ("squeeze", Xu et
// al. 2018): a median filter and/or bit-depth reduction saved in front of
// the model's graph. Defaults are the paper's CIFAR-10 choice, 5 bits and
// a 2×2 median (for MNIST the paper uses 1 bit). It only transforms the
// input: evaluate it with BPDA (NewBPDA), or the zero gradient of Round
// makes it look robust when it is not (Athalye et al. 2018).
type Squeeze struct {
	bits, median int
}

// NewSqueeze returns the squeeze defence with its defaults.
func NewSqueeze() *Squeeze { return &Squeeze{bits: 5, median: 2} }

// Name returns "squeeze".
func (d *Squeeze) Name() string { return "squeeze" }

// Kind returns Preprocessor.
func (d *Squeeze) Kind() Kind { return Preprocessor }

// Bind ties the parameters to their fields.
func (d *Squeeze) Bind() *params.Binder {
	b := params.New("defence", d.Name())
	b.Int("bits", &d.bits, 5, "", "bit depth kept, 1..16; 0 for none (Xu et al.: 1 for MNIST, 5 for CIFAR-10, 4 for ImageNet)")
	b.Int("median", &d.median, 2, "", "median filter window (2 or 3) over height and width; 0 for none")
	return b
}

// Validate checks the parameters.
func (d *Squeeze) Validate() error {
	if err := d.squeezer().Validate(); err != nil {
		return params.Errf("defence", d.Name(), "bits/median", d.squeezer().String(), err.Error())
	}
	return nil
}

func (d *Squeeze) squeezer() Squeezer { return Squeezer{Bits: d.bits, Median: d.median} }

// Params returns the resolved parameters.
func (d *Squeeze) Params() map[string]any { return d.Bind().Values() }

// Apply returns m with the squeezer in front of its graph.
func (d *Squeeze) Apply(ctx context.Context, m *onnxmodel.Model, _ TrainData, _ *rand.Rand) (*onnxmodel.Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return WithSqueezer(m, d.squeezer())
}

func init() {
	mustRegister("squeeze", FactoryFor("feature squeezing as a preprocessor in the graph: median filter and bit-depth reduction (Xu et al. 2018, NDSS); attack it through BPDA", func() Configurable { return NewSqueeze() }))
}
