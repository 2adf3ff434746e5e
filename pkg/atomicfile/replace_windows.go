//go:build windows

package atomicfile

import (
	"os"

	"golang.org/x/sys/windows"
)

// replace moves tmp over path with MoveFileEx: MOVEFILE_REPLACE_EXISTING
// replaces an existing target in one step, and MOVEFILE_WRITE_THROUGH
// returns only once the move is on disk (Windows has no folder fsync).
func replace(tmp, path string) error {
	from, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return err
	}
	to, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	if err := windows.MoveFileEx(from, to, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	return nil
}
