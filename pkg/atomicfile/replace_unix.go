//go:build !windows

package atomicfile

import (
	"os"
	"path/filepath"
)

// replace renames tmp over path (atomic on POSIX file systems), then syncs
// the folder so that the new name survives a crash. The folder sync is best
// effort: some file systems refuse it, and the rename has happened anyway.
func replace(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
