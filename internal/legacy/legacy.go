// Package legacy imports the Node.js prototype's hand-edited account files,
// approved_streamers.json and admin.json, into FedWave accounts.
package legacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/store"
)

// maxFile bounds what is read of one file.
const maxFile = 16 << 20

// Entry is one account of a legacy file.
type Entry struct {
	Username string
	Num      int // -1 when the file has none
	Color    string
	Avatar   string
	Role     auth.Role
}

type rawEntry struct {
	Username string          `json:"username"`
	Color    string          `json:"color"`
	Num      json.RawMessage `json:"num"`
	Avatar   string          `json:"avatar"`
}

// Parse reads either file format: {"approvedstreamers":[…]} gives
// streamers, {"admin":[…]} gives admins.
func Parse(r io.Reader) ([]Entry, error) {
	var doc struct {
		Streamers *[]rawEntry `json:"approvedstreamers"`
		Admins    *[]rawEntry `json:"admin"`
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("file is larger than %d MiB", maxFile>>20)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not a legacy account file: %w", err)
	}
	if doc.Streamers == nil && doc.Admins == nil {
		return nil, errors.New(`not a legacy account file: want an "approvedstreamers" or "admin" list`)
	}
	var out []Entry
	add := func(list *[]rawEntry, role auth.Role) {
		if list == nil {
			return
		}
		for _, e := range *list {
			out = append(out, Entry{Username: strings.TrimSpace(e.Username), Num: parseNum(e.Num), Color: e.Color, Avatar: e.Avatar, Role: role})
		}
	}
	add(doc.Streamers, auth.RoleStreamer)
	add(doc.Admins, auth.RoleAdmin)
	return out, nil
}

// parseNum accepts the prototype's num as a number or a string ("0042").
func parseNum(raw json.RawMessage) int {
	s := strings.Trim(string(raw), `" `)
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 9999 {
		return -1
	}
	return n
}

// Importer creates accounts for legacy entries.
type Importer struct {
	Auth      *auth.Service
	Store     store.Users
	PublicURL string
	Out       io.Writer // one line per entry: what happened
}

// Import applies entries. New accounts have no password: each gets a
// one-time link to choose one. An account that exists with the same num is
// the same person: it is promoted if the file gives a higher role, else left
// alone, so importing twice changes nothing.
func (im *Importer) Import(ctx context.Context, entries []Entry) (created int, err error) {
	for _, e := range entries {
		if err := auth.CheckNameFormat(e.Username); err != nil {
			fmt.Fprintf(im.Out, "skipped %q: %v\n", e.Username, err)
			continue
		}
		existing, err := im.Store.UserByName(ctx, e.Username)
		switch {
		case errors.Is(err, store.ErrNotFound):
			u, err := im.Auth.ImportUser(ctx, e.Username, e.Num, e.Color, e.Avatar, e.Role)
			if err != nil {
				return created, fmt.Errorf("import %s: %w", e.Username, err)
			}
			link, err := im.Auth.ResetLinkToken(ctx, u.ID)
			if err != nil {
				return created, err
			}
			created++
			fmt.Fprintf(im.Out, "created %s (%s): set a password at %s/reset?token=%s\n", auth.Handle(u.Name, u.Num), e.Role, im.PublicURL, link)
		case err != nil:
			return created, fmt.Errorf("look up %s: %w", e.Username, err)
		case e.Num >= 0 && existing.Num != e.Num:
			fmt.Fprintf(im.Out, "skipped %s#%04d: the name is taken here by %s\n", e.Username, e.Num, auth.Handle(existing.Name, existing.Num))
		case !auth.Role(existing.Role).AtLeast(e.Role):
			if err := im.Auth.SetRole(ctx, existing.ID, e.Role); err != nil {
				return created, fmt.Errorf("promote %s: %w", e.Username, err)
			}
			fmt.Fprintf(im.Out, "promoted %s to %s\n", auth.Handle(existing.Name, existing.Num), e.Role)
		default:
			fmt.Fprintf(im.Out, "unchanged %s (already %s)\n", auth.Handle(existing.Name, existing.Num), existing.Role)
		}
	}
	return created, nil
}

// ImportFile parses and imports one file.
func (im *Importer) ImportFile(ctx context.Context, path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	entries, err := Parse(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return im.Import(ctx, entries)
}
