package legacy

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/store"
)

func TestParse(t *testing.T) {
	for _, bad := range []string{``, `[]`, `{}`, `{"approvedstreamers":"x"}`, `{"other":[]}`} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	es, err := Parse(strings.NewReader(`{"admin":[{"username":" x1 ","num":"12a"}]}`))
	if err != nil || len(es) != 1 || es[0].Username != "x1" || es[0].Num != -1 || es[0].Role != auth.RoleAdmin {
		t.Fatalf("%+v %v", es, err)
	}
}

func newImporter(t *testing.T) (*Importer, *store.SQLite, *bytes.Buffer) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "fw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := auth.LoadKeyRing(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Deps{Store: st, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	return &Importer{Auth: a, Store: st, PublicURL: "https://live.example", Out: out}, st, out
}

func TestImportIsIdempotent(t *testing.T) {
	ctx := context.Background()
	im, st, out := newImporter(t)
	files := []string{"testdata/approved_streamers.json", "testdata/admin.json"}
	created := 0
	for _, f := range files {
		n, err := im.ImportFile(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		created += n
	}
	if created != 3 {
		t.Fatalf("created %d, want 3\n%s", created, out)
	}
	if c := strings.Count(out.String(), "https://live.example/reset?token="); c != 3 {
		t.Fatalf("%d reset links, want 3:\n%s", c, out)
	}
	if !strings.Contains(out.String(), `skipped "bad name!"`) || !strings.Contains(out.String(), "promoted nightowl#0042 to admin") {
		t.Fatalf("output:\n%s", out)
	}

	owl, err := st.UserByName(ctx, "nightowl")
	if err != nil || owl.Num != 42 || owl.Color != "#ff8800" || owl.Avatar != "/avatars/nightowl.png" || owl.Role != "admin" || owl.PasswordHash != "" {
		t.Fatalf("nightowl %+v %v", owl, err)
	}
	ray, _ := st.UserByName(ctx, "dj_ray")
	if ray.Num != 1234 || ray.Role != "streamer" || ray.Avatar != "" || !strings.HasPrefix(ray.Color, "#") {
		t.Fatalf("dj_ray %+v (remote avatars and colour names must not be kept)", ray)
	}
	keeper, _ := st.UserByName(ctx, "keeper")
	if keeper.Num != 7 || keeper.Role != "admin" {
		t.Fatalf("keeper %+v", keeper)
	}
	for _, name := range []string{"nightowl", "dj_ray", "keeper"} {
		if _, err := st.Channel(ctx, name); err != nil {
			t.Errorf("%s has no channel: %v", name, err)
		}
	}

	// Again: nothing changes, no new links.
	out.Reset()
	for _, f := range files {
		if n, err := im.ImportFile(ctx, f); err != nil || n != 0 {
			t.Fatalf("second import created %d: %v", n, err)
		}
	}
	if strings.Contains(out.String(), "reset?token=") || strings.Contains(out.String(), "promoted") {
		t.Fatalf("second import changed something:\n%s", out)
	}
	again, _ := st.UserByName(ctx, "nightowl")
	if *again != *owl {
		t.Fatalf("nightowl changed: %+v -> %+v", owl, again)
	}
}

func TestImportedUserSetsPassword(t *testing.T) {
	ctx := context.Background()
	im, _, out := newImporter(t)
	if _, err := im.ImportFile(ctx, "testdata/approved_streamers.json"); err != nil {
		t.Fatal(err)
	}
	_, link, _ := strings.Cut(strings.Split(out.String(), "\n")[0], "reset?token=")
	if _, _, err := im.Auth.Login(ctx, "", "nightowl", "anything at all"); err == nil {
		t.Fatal("an account without a password logged in")
	}
	if _, _, err := im.Auth.CompleteReset(ctx, "", link, "new password 1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := im.Auth.Login(ctx, "", "nightowl#0042", "new password 1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := im.Auth.CompleteReset(ctx, "", link, "another one 2"); err == nil {
		t.Fatal("reset link worked twice")
	}
}

func TestImportSkipsNameTakenBySomeoneElse(t *testing.T) {
	ctx := context.Background()
	im, st, out := newImporter(t)
	u, err := im.Auth.CreateUser(ctx, "nightowl", "password1", auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if u.Num == 42 {
		t.Skip("random num collided with the file's")
	}
	im.ImportFile(ctx, "testdata/approved_streamers.json")
	if !strings.Contains(out.String(), "skipped nightowl#0042: the name is taken") {
		t.Fatalf("output:\n%s", out)
	}
	if got, _ := st.UserByName(ctx, "nightowl"); got.Role != "user" {
		t.Fatal("import changed another person's account")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`{"approvedstreamers":[{"username":"a1","color":"#000000","num":"0001","avatar":"/x.png"}]}`)
	f.Add(`{"admin":[{"username":"b2","num":12}]}`)
	f.Add(`{"admin":null}`)
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Num < -1 || e.Num > 9999 || (e.Role != auth.RoleStreamer && e.Role != auth.RoleAdmin) {
				t.Fatalf("bad entry %+v from %q", e, s)
			}
		}
	})
}
