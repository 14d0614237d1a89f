// Package fsutil holds the one way FedWave replaces a file in its data
// directory.
package fsutil

import (
	"errors"
	"os"
	"path/filepath"
)

// WriteFile replaces dir/name with data atomically: readers see the old
// file or the new one, never a part. The file is private (0600).
func WriteFile(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
