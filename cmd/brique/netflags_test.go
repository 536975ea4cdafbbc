package main

import (
	"io"
	"strings"
	"testing"
)

// TestNetConfigErrors: every bad --net or -p combination is a usage error
// that names the problem (no panic, nothing started).
func TestNetConfigErrors(t *testing.T) {
	for _, c := range []struct {
		mode    string
		publish []string
		want    string
	}{
		{"tap=x,ip=10.0.0.2/24,gw=bogus", nil, "gw=bogus"},
		{"tap=x,ip=10.0.0.2/24,dns=::1", nil, "not an IPv4 address"},
		{"tap=x,ip=fe80::1/64", nil, "only IPv4"},
		{"tap=x,gw=10.0.0.1", nil, "need ip="},
		{"tap=x,color=red", nil, "unknown setting"},
		{"none,mac=02:00:00:00:00:01", nil, "takes no settings"},
		{"wifi", nil, "unknown network"},
		{"none", []string{"8080:80"}, "-p publishes a port on the user network"},
		{"tap=x", []string{"8080:80"}, "-p publishes a port on the user network"},
	} {
		_, err := netConfig(c.mode, c.publish, false, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--net %s -p %v: err = %v, want one mentioning %q", c.mode, c.publish, err, c.want)
		}
	}
	cfg, err := netConfig("tap=x,ip=10.0.0.2/24,gw=10.0.0.1,dns=10.0.0.53", nil, false, io.Discard)
	if err != nil || cfg.IP.Gateway != [4]byte{10, 0, 0, 1} || cfg.IP.DNS != [4]byte{10, 0, 0, 53} || cfg.IP.PrefixLen != 24 {
		t.Errorf("valid tap settings: %+v, %v", cfg.IP, err)
	}
}
