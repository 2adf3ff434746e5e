package cmd

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel"
)

func float32NaN() float32 { return float32(math.NaN()) }

func npyHeader(descr string, shape []int) []byte {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	tuple := "(" + strings.Join(parts, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	tuple += ")"
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple)
	total := 10 + len(dict) + 1
	pad := (64 - total%64) % 64
	dict += strings.Repeat(" ", pad) + "\n"
	h := []byte("\x93NUMPY\x01\x00")
	h = binary.LittleEndian.AppendUint16(h, uint16(len(dict)))
	return append(h, dict...)
}

func npyFloat32(v []float32, shape ...int) []byte {
	b := npyHeader("<f4", shape)
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func npyInt64(v []int64, shape ...int) []byte {
	b := npyHeader("<i8", shape)
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

// unsupportedOpModel is the CNN with its first Relu turned into an op type
// the engine does not have.
func unsupportedOpModel(t *testing.T) []byte {
	t.Helper()
	m, err := onnxmodel.Load(cnnModel)
	if err != nil {
		t.Fatal(err)
	}
	mp := m.ToProto()
	for _, n := range mp.GetGraph().GetNode() {
		if n.GetOpType() == "Relu" {
			op := "Hardmax"
			n.OpType = &op
			break
		}
	}
	m2 := &onnxmodel.Model{Proto: mp}
	b, err := m2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
