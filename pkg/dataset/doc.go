// Package dataset loads labelled datasets for advtest and hands them out in
// batches.
//
// A dataset is a Set: samples X, a float32 tensor [N, ...] in input space
// (for images, pixels scaled to [0, 1]), and labels Y, one class id per
// sample. Load reads
//
//   - .npy: one array per file (NPY format versions 1.0, 2.0 and 3.0); the
//     labels come from a second file;
//   - .npz: arrays named x and y, else the first two arrays in archive order;
//   - IDX as MNIST ships it (images idx3-ubyte, labels idx1-ubyte), plain or
//     gzip-compressed (gzip is detected by its magic bytes, not the name);
//   - CSV with a header row: one label column (by name or index), every other
//     column a float feature.
//
// Formats are recognised by their magic bytes first and by the file
// extension only for CSV. A .npy or IDX file may itself be gzip-compressed.
//
// Element types: float32 and float64 data are taken as given; uint8 data is
// divided by 255 (unless Options.NoScale); int8, int16, int32, int64 and bool
// data are converted to float32 as they are. Labels may be any of these
// types; float labels must hold whole numbers. Little- and big-endian NPY
// arrays are read; Fortran-ordered NPY arrays are transposed to C order
// (which needs a second buffer of the array's size).
//
// Loading is bounded: every declared size is checked against
// Options.MaxBytes before anything is allocated, buffers grow with the bytes
// actually present when the source size is not known (gzip streams, zip
// members), and a .npz member is never inflated past what its NPY header
// declares. Every error names the file and says what was expected.
//
// Open is Load's streaming twin: it checks the same headers, sizes and
// labels up front, keeps only the labels in memory and reads samples per
// batch (plain .npy and IDX files by offset, image folders decoded per
// batch), so that memory follows the batch rather than the dataset. Inputs
// that cannot be read by offset (gzip, .npz, Fortran order, CSV) are read
// whole, bounded by Options.MaxBytes (Stream.Streamed tells which). For a
// streamed input Options.MaxBytes bounds one sample: the set's size does not
// count against it. advtest's attack, eval and harden commands read their
// evaluation data through Open; harden's training set and certify's data
// go through Load.
//
// Set.Hash identifies the source files (SHA-256 of the bytes read) for
// reports. The package only reads; tests and the testdata generators write
// NPY files with internal/npyfile.
package dataset
