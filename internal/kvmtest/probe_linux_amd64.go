package kvmtest

import (
	"fmt"

	"brique.dev/brique/monitor/kvm"
)

// probe opens /dev/kvm (which checks the API version) and creates and
// destroys one VM.
func probe() error {
	sys, err := kvm.Open()
	if err != nil {
		return err
	}
	defer sys.Close()
	vm, err := sys.CreateVM()
	if err != nil {
		return fmt.Errorf("cannot create a VM: %w", err)
	}
	return vm.Close()
}
