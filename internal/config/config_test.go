package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fedwave.conf")
	os.WriteFile(file, []byte("# comment\nhttp = 127.0.0.1:7000\nturn-port = 4000\nmedia-port = \"9000\"\nguests = false\n"), 0o600)

	c, rest, err := Load("serve", []string{"--config", file, "--turn-port", "5000", "extra"}, env(map[string]string{
		"FEDWAVE_MEDIA_PORT": "9100",
		"FEDWAVE_TURN_PORT":  "4100",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:7000" { // file only
		t.Errorf("http from file: %s", c.HTTPAddr)
	}
	if c.MediaPort != 9100 { // env beats file
		t.Errorf("media port: env should win over file, got %d", c.MediaPort)
	}
	if c.TURNPort != 5000 { // flag beats env and file
		t.Errorf("turn port: flag should win, got %d", c.TURNPort)
	}
	if c.Guests {
		t.Error("guests = false from the file ignored")
	}
	if c.DataDir != "./data" { // default
		t.Errorf("data default: %s", c.DataDir)
	}
	if len(rest) != 1 || rest[0] != "extra" {
		t.Errorf("rest %v", rest)
	}

	c, _, err = Load("serve", nil, env(map[string]string{"FEDWAVE_CONFIG": file}), nil)
	if err != nil || c.HTTPAddr != "127.0.0.1:7000" {
		t.Fatalf("FEDWAVE_CONFIG: %v %s", err, c.HTTPAddr)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte("no-such-setting = 1\n"), 0o600)
	noEq := filepath.Join(dir, "noeq.conf")
	os.WriteFile(noEq, []byte("http\n"), 0o600)
	for name, c := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"unknown key":  {[]string{"--config", bad}, nil, "unknown setting"},
		"no equals":    {[]string{"--config", noEq}, nil, "key = value"},
		"missing file": {[]string{"--config", filepath.Join(dir, "nope")}, nil, "no such file"},
		"bad env":      {nil, map[string]string{"FEDWAVE_TURN_PORT": "abc"}, "FEDWAVE_TURN_PORT"},
		"bad flag":     {[]string{"--turn-port", "abc"}, nil, "invalid value"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Load("serve", c.args, env(c.env), nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	readOnly := filepath.Join(t.TempDir(), "ro")
	os.Mkdir(readOnly, 0o500)
	cases := map[string]struct {
		mod  func(*Config)
		want string
	}{
		"bad http":        {func(c *Config) { c.HTTPAddr = "localhost" }, "--http"},
		"port too big":    {func(c *Config) { c.HTTPAddr = "127.0.0.1:70000" }, "--http"},
		"media port":      {func(c *Config) { c.MediaPort = -1 }, "--media-port"},
		"public ip":       {func(c *Config) { c.PublicIP = "my.host" }, "--public-ip"},
		"turn port":       {func(c *Config) { c.TURNPort = 65536 }, "--turn-port"},
		"domain":          {func(c *Config) { c.Domain = "https://x.org/" }, "--domain"},
		"public url":      {func(c *Config) { c.PublicURL = "ftp://x" }, "--public-url"},
		"postgres":        {func(c *Config) { c.Database = "postgres://db/x" }, "not supported"},
		"nats":            {func(c *Config) { c.Bus = "nats://x" }, "not supported"},
		"log level":       {func(c *Config) { c.LogLevel = "loud" }, "--log-level"},
		"file as data":    {func(c *Config) { c.DataDir = "/dev/null/x" }, "--data"},
		"auth rate zero":  {func(c *Config) { c.AuthRate = 0 }, "--auth-rate"},
		"media rate zero": {func(c *Config) { c.MediaRate = 0 }, "--media-rate"},
		"request timeout": {func(c *Config) { c.RequestTimeout = 0 }, "--request-timeout"},
	}
	if os.Geteuid() != 0 { // root can write anywhere
		cases["read-only data"] = struct {
			mod  func(*Config)
			want string
		}{func(c *Config) { c.DataDir = readOnly }, "not writable"}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.DataDir = t.TempDir()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line mentioning %q", err, tc.want)
			}
		})
	}

	c := Default()
	c.DataDir = t.TempDir()
	if err := c.Validate(); err != nil || c.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %v %s", err, c.PublicURL)
	}
	c = Default()
	c.DataDir, c.Domain = t.TempDir(), "live.example.org"
	if err := c.Validate(); err != nil || c.PublicURL != "https://live.example.org" {
		t.Fatalf("domain: %v %s", err, c.PublicURL)
	}
	if DerivePublicURL("0.0.0.0:80") != "http://localhost:80" {
		t.Fatal(DerivePublicURL("0.0.0.0:80"))
	}
}

func TestTrustedProxy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fedwave.conf")
	os.WriteFile(file, []byte("trusted-proxy = 10.0.0.0/8, 192.0.2.7\n"), 0o600)
	str := func(c Config) string { return (*prefixList)(&c.TrustedProxies).String() }

	c, _, err := Load("serve", []string{"--trusted-proxy", "127.0.0.1/32", "--trusted-proxy", "2001:db8::1/48"}, env(nil), nil)
	if err != nil || str(c) != "127.0.0.1/32,2001:db8::/48" {
		t.Fatalf("flags: %v %q", err, str(c))
	}
	if c, _, err = Load("serve", []string{"--config", file}, env(nil), nil); err != nil || str(c) != "10.0.0.0/8,192.0.2.7/32" {
		t.Fatalf("file: %v %q", err, str(c))
	}
	c, _, err = Load("serve", []string{"--config", file}, env(map[string]string{"FEDWAVE_TRUSTED_PROXY": "::1"}), nil)
	if err != nil || str(c) != "::1/128" {
		t.Fatalf("env beats file: %v %q", err, str(c))
	}
	if c, _, err = Load("serve", nil, env(nil), nil); err != nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("default must trust no proxy: %v %q", err, str(c))
	}
	if _, _, err = Load("serve", []string{"--trusted-proxy", "proxy.example"}, env(nil), nil); err == nil || !strings.Contains(err.Error(), "CIDR") {
		t.Fatalf("bad value: %v", err)
	}
}

// TestCarryFlags: viewers who help are on by default with 20 s of
// steadiness; --carry=false turns them off, --carry-steady sets the wait,
// a negative one is refused.
func TestCarryFlags(t *testing.T) {
	c, _, err := Load("serve", nil, env(nil), nil)
	if err != nil || !c.Carry || c.CarrySteady.String() != "20s" || c.CarryChildren != 2 || c.CarryDepth != 2 {
		t.Fatalf("defaults: carry %v, steady %s, %v", c.Carry, c.CarrySteady, err)
	}
	c, _, err = Load("serve", []string{"--carry=false", "--carry-steady", "1s"}, env(nil), nil)
	if err != nil || c.Carry || c.CarrySteady.String() != "1s" {
		t.Fatalf("--carry=false --carry-steady 1s: carry %v, steady %s, %v", c.Carry, c.CarrySteady, err)
	}
	c.CarrySteady = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--carry-steady") {
		t.Errorf("a negative --carry-steady: %v", err)
	}
	if c, _, err = Load("serve", []string{"--carry-children", "1"}, env(nil), nil); err != nil || c.CarryChildren != 1 {
		t.Errorf("--carry-children 1: %d, %v", c.CarryChildren, err)
	}
	for _, n := range []int{0, 3} {
		c.CarryChildren = n
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--carry-children") {
			t.Errorf("--carry-children %d: %v", n, err)
		}
	}
	if c, _, err = Load("serve", []string{"--carry-depth", "1"}, env(nil), nil); err != nil || c.CarryDepth != 1 {
		t.Errorf("--carry-depth 1: %d, %v", c.CarryDepth, err)
	}
	for _, n := range []int{0, 5} {
		c.CarryDepth = n
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--carry-depth") {
			t.Errorf("--carry-depth %d: %v", n, err)
		}
	}
}
