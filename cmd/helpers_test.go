package cmd

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/advtest/advtest/internal/npyfile"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

func float32NaN() float32 { return float32(math.NaN()) }

func npyFloat32(v []float32, shape ...int) []byte {
	b := npyfile.Header("<f4", shape)
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func npyInt64(v []int64, shape ...int) []byte {
	b := npyfile.Header("<i8", shape)
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
