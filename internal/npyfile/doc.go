// Package npyfile writes NPY files and reads .npz archives for tests and the
// testdata generators; advtest itself only reads arrays, through
// pkg/dataset, and imports nothing from here.
//
// The writers follow the NPY format description of numpy (format version
// 1.0, or 2.0 when a header passes 65535 bytes): float32 tensors as '<f4',
// int64 tensors as '<i8', in C order, each file written atomically with
// pkg/atomicfile. ReadArrays reads the reference archives numpy writes for
// the engine tests: little-endian '<f4' and '<i8' and '|b1' arrays in C
// order, each returned as a float32 tensor; any other array is an error
// naming the archive, the member and what was expected.
package npyfile
