package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Datatype names of the Open Inference Protocol that advtest uses.
const (
	// FP32 is the protocol's name for float32 tensors.
	FP32 = "FP32"
	// FP64 is the protocol's name for float64 tensors.
	FP64 = "FP64"
	// INT64 is the protocol's name for int64 tensors.
	INT64 = "INT64"
)

// InferRequest is the JSON body of POST /v2/models/{name}/infer.
type InferRequest struct {
	// ID is an optional request identifier that the server echoes.
	ID string `json:"id,omitempty"`
	// Parameters are optional protocol parameters.
	Parameters map[string]any `json:"parameters,omitempty"`
	// Inputs are the input tensors.
	Inputs []Tensor `json:"inputs"`
	// Outputs names the outputs wanted; empty asks for all of them.
	Outputs []RequestedOutput `json:"outputs,omitempty"`
}

// RequestedOutput names one output an InferRequest asks for.
type RequestedOutput struct {
	// Name is the output tensor's name.
	Name string `json:"name"`
	// Parameters are optional protocol parameters.
	Parameters map[string]any `json:"parameters,omitempty"`
}

// InferResponse is the JSON body of a successful inference.
type InferResponse struct {
	// ModelName is the model that answered.
	ModelName string `json:"model_name"`
	// ModelVersion is the version that answered, when the server says.
	ModelVersion string `json:"model_version,omitempty"`
	// ID echoes the request's ID.
	ID string `json:"id,omitempty"`
	// Parameters are optional protocol parameters.
	Parameters map[string]any `json:"parameters,omitempty"`
	// Outputs are the output tensors.
	Outputs []Tensor `json:"outputs"`
}

// Tensor is one input or output tensor on the wire. Data holds the
// elements as a JSON array, flat in row-major order or nested to the
// tensor's rank (the protocol allows both).
type Tensor struct {
	// Name is the tensor's name in the model.
	Name string `json:"name"`
	// Shape is the tensor's shape.
	Shape []int `json:"shape"`
	// Datatype is the protocol's element type name (FP32, FP64, INT64, ...).
	Datatype string `json:"datatype"`
	// Parameters are optional protocol parameters.
	Parameters map[string]any `json:"parameters,omitempty"`
	// Data is the raw JSON array of elements.
	Data json.RawMessage `json:"data"`
}

// ModelMetadata is the JSON body of GET /v2/models/{name}.
type ModelMetadata struct {
	// Name is the model's name.
	Name string `json:"name"`
	// Versions lists the model's versions, when the server says.
	Versions []string `json:"versions,omitempty"`
	// Platform names the framework or runtime serving the model.
	Platform string `json:"platform"`
	// Inputs describes the model's inputs.
	Inputs []TensorMetadata `json:"inputs"`
	// Outputs describes the model's outputs.
	Outputs []TensorMetadata `json:"outputs"`
}

// TensorMetadata describes one input or output of a model: its name,
// datatype and shape, where -1 marks a dimension that is not fixed (the
// batch axis, first).
type TensorMetadata struct {
	// Name is the tensor's name.
	Name string `json:"name"`
	// Datatype is the protocol's element type name.
	Datatype string `json:"datatype"`
	// Shape is the shape, -1 for dimensions that vary.
	Shape []int `json:"shape"`
}

// ErrorResponse is the JSON body of every failed request.
type ErrorResponse struct {
	// Error says what went wrong.
	Error string `json:"error"`
}

// maxRank bounds the rank of tensors read from the wire.
const maxRank = 16

// ElementCount returns the number of elements of shape, or an error if a
// dimension is negative or the count would exceed limit.
func ElementCount(shape []int, limit int) (int, error) {
	if len(shape) > maxRank {
		return 0, fmt.Errorf("shape %v has rank %d (at most %d)", shape, len(shape), maxRank)
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > limit/d {
			return 0, fmt.Errorf("shape %v has more than %d elements", shape, limit)
		}
		n *= d
	}
	if n > limit {
		return 0, fmt.Errorf("shape %v has more than %d elements", shape, limit)
	}
	return n, nil
}

// ParseFloatData decodes a tensor's JSON data into float32 values: a flat
// array of exactly Numel(shape) numbers, or arrays nested to len(shape)
// levels whose lengths match shape. Anything else (null, strings, booleans,
// ragged nesting, numbers beyond float32's range, the non-JSON tokens NaN
// and Infinity) is an error. It never panics.
func ParseFloatData(raw []byte, shape []int) ([]float32, error) {
	n, err := ElementCount(shape, math.MaxInt)
	if err != nil {
		return nil, err
	}
	if n > len(raw) {
		return nil, fmt.Errorf("shape %v holds %d elements; the %d bytes of data cannot hold that many numbers", shape, n, len(raw))
	}
	p := dataParser{b: raw, out: make([]float32, 0, n)}
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == '[' {
		// Flat or nested: peek at the first element.
		j := p.i + 1
		for j < len(p.b) && isSpace(p.b[j]) {
			j++
		}
		if j < len(p.b) && p.b[j] == '[' {
			err = p.nested(shape)
		} else {
			err = p.array(n)
		}
	} else {
		err = p.errorf("want a JSON array")
	}
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.b) {
		return nil, p.errorf("unexpected data after the array")
	}
	return p.out, nil
}

type dataParser struct {
	b   []byte
	i   int
	out []float32
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *dataParser) skipSpace() {
	for p.i < len(p.b) && isSpace(p.b[p.i]) {
		p.i++
	}
}

func (p *dataParser) errorf(format string, args ...any) error {
	return fmt.Errorf("data at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

// nested reads arrays nested to len(shape) levels.
func (p *dataParser) nested(shape []int) error {
	if len(shape) == 0 {
		return p.errorf("arrays nested deeper than the shape's rank")
	}
	if len(shape) == 1 {
		return p.array(shape[0])
	}
	if err := p.expect('['); err != nil {
		return err
	}
	for k := 0; k < shape[0]; k++ {
		if k > 0 {
			if err := p.expect(','); err != nil {
				return err
			}
		}
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != '[' {
			return p.errorf("want a nested array (shape %v)", shape)
		}
		if err := p.nested(shape[1:]); err != nil {
			return err
		}
	}
	if err := p.expect(']'); err != nil {
		return fmt.Errorf("%w (nested arrays must match shape %v)", err, shape)
	}
	return nil
}

// array reads a flat array of exactly n numbers.
func (p *dataParser) array(n int) error {
	if err := p.expect('['); err != nil {
		return err
	}
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		if n != 0 {
			return p.errorf("empty array, want %d numbers", n)
		}
		return nil
	}
	for k := 0; ; k++ {
		if k >= n {
			return p.errorf("more than the %d numbers the shape holds", n)
		}
		v, err := p.number()
		if err != nil {
			return err
		}
		p.out = append(p.out, v)
		p.skipSpace()
		if p.i >= len(p.b) {
			return p.errorf("unterminated array")
		}
		if p.b[p.i] == ']' {
			p.i++
			if k+1 != n {
				return p.errorf("%d numbers, the shape holds %d", k+1, n)
			}
			return nil
		}
		if p.b[p.i] != ',' {
			return p.errorf("want ',' or ']', got %q", p.b[p.i])
		}
		p.i++
	}
}

func (p *dataParser) expect(c byte) error {
	p.skipSpace()
	if p.i >= len(p.b) {
		return p.errorf("want %q, got the end of the data", c)
	}
	if p.b[p.i] != c {
		return p.errorf("want %q, got %q", c, p.b[p.i])
	}
	p.i++
	return nil
}

// number reads one JSON number as float32.
func (p *dataParser) number() (float32, error) {
	p.skipSpace()
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	tok := p.b[start:p.i]
	if len(tok) == 0 {
		rest := p.b[p.i:]
		for _, w := range []string{"NaN", "-NaN", "Infinity", "-Infinity", "inf", "-inf", "nan"} {
			if bytes.HasPrefix(rest, []byte(w)) {
				return 0, p.errorf("%s is not a JSON number: the tensor holds NaN or infinite values", w)
			}
		}
		if bytes.HasPrefix(rest, []byte("null")) {
			return 0, p.errorf("null where a number belongs")
		}
		return 0, p.errorf("want a number")
	}
	if !validJSONNumber(tok) {
		return 0, p.errorf("%q is not a JSON number", tok)
	}
	v, err := strconv.ParseFloat(string(tok), 32)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, p.errorf("%s is beyond float32's range", tok)
		}
		return 0, p.errorf("%q is not a number", tok)
	}
	return float32(v), nil
}

// validJSONNumber reports whether tok follows JSON's number grammar
// (strconv accepts more: hex, underscores, a leading '+', "Inf").
func validJSONNumber(tok []byte) bool {
	i := 0
	if i < len(tok) && tok[i] == '-' {
		i++
	}
	if i >= len(tok) {
		return false
	}
	if tok[i] == '0' {
		i++
	} else if tok[i] >= '1' && tok[i] <= '9' {
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(tok) && tok[i] == '.' {
		i++
		d := i
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(tok) && (tok[i] == 'e' || tok[i] == 'E') {
		i++
		if i < len(tok) && (tok[i] == '+' || tok[i] == '-') {
			i++
		}
		d := i
		for i < len(tok) && tok[i] >= '0' && tok[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(tok)
}

// AppendFloatData appends v as a flat JSON array to dst. Every float32
// round-trips exactly. It returns an error naming the first NaN or
// infinite element, which JSON cannot carry.
func AppendFloatData(dst []byte, v []float32) ([]byte, error) {
	dst = append(dst, '[')
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("element %d is %v, which JSON cannot carry", i, x)
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendFloat(dst, float64(x), 'g', -1, 32)
	}
	return append(dst, ']'), nil
}

// AppendIntData appends v as a flat JSON array to dst.
func AppendIntData(dst []byte, v []int64) []byte {
	dst = append(dst, '[')
	for i, x := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, x, 10)
	}
	return append(dst, ']')
}
