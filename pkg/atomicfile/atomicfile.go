// Package atomicfile is advtest's one way of writing a file that others
// read: reports, hardened models, checkpoints, starter configs, data. A
// reader never sees a half-written file, and a failed write leaves the old
// file as it was.
//
// Both functions go through github.com/google/renameio: the bytes go to a
// temporary file in the target's folder, which is synced and renamed over
// the target. Files get mode 0644. Errors name the path.
package atomicfile

import (
	"fmt"
	"io"

	"github.com/google/renameio/v2"
)

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write lets fill write the content of path, then replaces path with it
// atomically. When fill fails, path is left as it was and the temporary
// file is removed.
func Write(path string, fill func(io.Writer) error) error {
	t, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o644))
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer t.Cleanup()
	if err := fill(t); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := t.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
