// Package atomicfile is advtest's one way of writing a file that others
// read: reports, hardened models, checkpoints, starter configs, data. A
// reader never sees a half-written file, and a failed write leaves the old
// file as it was.
//
// The bytes go to a temporary file in the target's folder (so that the
// final rename never crosses file systems), which is synced, closed, given
// mode 0644 and renamed over the target: rename(2) on Unix, followed by a
// best-effort sync of the folder; MoveFileEx with MOVEFILE_REPLACE_EXISTING
// and MOVEFILE_WRITE_THROUGH on Windows. The same code runs on every
// platform; only that last step differs (replace_unix.go,
// replace_windows.go). Errors name the path.
package atomicfile
