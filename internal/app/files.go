package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/fedwave/fedwave/internal/config"
)

// privateFiles makes the data directory, the token keys and the database
// (with its -wal and -shm files) readable by FedWave's user only, and
// creates the database file 0600 before SQLite does: SQLite would create it
// with the umask's mode (often world-readable), and gives its -wal and -shm
// files the database file's mode. Files left loose by an earlier version
// are tightened.
func privateFiles(cfg config.Config, log *slog.Logger) error {
	db := cfg.DatabasePath()
	f, err := os.OpenFile(db, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	paths := map[string]fs.FileMode{cfg.DataDir: 0o700, db: 0o600, db + "-wal": 0o600, db + "-shm": 0o600, db + "-journal": 0o600}
	keys, _ := filepath.Glob(filepath.Join(cfg.DataDir, "keys", "*"))
	for _, k := range keys {
		paths[k] = 0o600
	}
	paths[filepath.Join(cfg.DataDir, "keys")] = 0o700
	for p, mode := range paths {
		if err := tighten(p, mode, log); err != nil {
			return err
		}
	}
	return nil
}

// tighten takes away the permissions p has beyond mode; a missing p is fine.
func tighten(p string, mode fs.FileMode, log *slog.Logger) error {
	info, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check permissions: %w", err)
	}
	if info.Mode().Perm()&^mode == 0 {
		return nil
	}
	if err := os.Chmod(p, info.Mode().Perm()&mode); err != nil {
		return fmt.Errorf("restrict permissions of %s: %w", p, err)
	}
	log.Debug("restricted permissions", "path", p, "was", info.Mode().Perm().String())
	return nil
}
