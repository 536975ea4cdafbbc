package monitor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckVolumes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	other := t.TempDir()
	for _, c := range []struct {
		vols []Volume
		want string // in the error; "" = valid
	}{
		{nil, ""},
		{[]Volume{{Host: dir, Guest: "/data"}, {Host: other, Guest: "/data/sub", ReadOnly: true}}, ""},
		{[]Volume{{Host: dir, Guest: "/data"}, {Host: dir, Guest: "/other"}}, ""},
		{[]Volume{{Host: filepath.Join(dir, "missing"), Guest: "/data"}}, "does not exist"},
		{[]Volume{{Host: file, Guest: "/data"}}, "is not a directory"},
		{[]Volume{{Host: "", Guest: "/data"}}, "no host directory"},
		{[]Volume{{Host: dir, Guest: "data"}}, "absolute"},
		{[]Volume{{Host: dir, Guest: ""}}, "absolute"},
		{[]Volume{{Host: dir, Guest: "/"}}, "cannot be /"},
		{[]Volume{{Host: dir, Guest: "/data/"}}, "not clean: write /data"},
		{[]Volume{{Host: dir, Guest: "/a/../data"}}, "not clean: write /data"},
		{[]Volume{{Host: dir, Guest: "/my data"}}, "spaces"},
		{[]Volume{{Host: dir, Guest: "/a:b"}}, "spaces or ':'"},
		{[]Volume{{Host: dir, Guest: "/" + strings.Repeat("x", 256)}}, "longer than 256"},
		{[]Volume{{Host: dir, Guest: "/data"}, {Host: other, Guest: "/data", ReadOnly: true}}, "already the guest directory of volume " + dir + ":/data"},
	} {
		err := checkVolumes(c.vols, 7)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.vols, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrVolume)):
			t.Errorf("%v: %v, want an error with %q", c.vols, err, c.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("%v: the error is not one line: %q", c.vols, err)
		}
	}
	many := make([]Volume, 8)
	for i := range many {
		many[i] = Volume{Host: dir, Guest: "/v" + string(rune('a'+i))}
	}
	if err := checkVolumes(many, maxVolumes(NetConfig{Mode: "user"})); err == nil || !strings.Contains(err.Error(), "at most 7") {
		t.Errorf("8 volumes and a network device: %v", err)
	}
	if err := checkVolumes(many, maxVolumes(NetConfig{})); err != nil {
		t.Errorf("8 volumes without network: %v", err)
	}
}

func TestVolumeCmdline(t *testing.T) {
	got := volumeCmdline([]Volume{{Host: "/h", Guest: "/data"}, {Host: "/h2", Guest: "/ro", ReadOnly: true}})
	if want := "brique.vol=vol0:/data brique.vol=vol1:/ro:ro"; got != want {
		t.Errorf("volumeCmdline = %q, want %q", got, want)
	}
	if got := volumeCmdline(nil); got != "" {
		t.Errorf("no volumes: %q", got)
	}
}
