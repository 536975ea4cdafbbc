//go:build !(linux && amd64)

package kvmtest

import (
	"fmt"
	"runtime"
)

func probe() error {
	return fmt.Errorf("package kvm supports linux/amd64 only, this is %s/%s", runtime.GOOS, runtime.GOARCH)
}
