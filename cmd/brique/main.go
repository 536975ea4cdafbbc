// Command brique builds Go programs into unikernel images and runs them on
// Brique's KVM monitor.
//
//	brique build [-o IMAGE] [PKG]
//	brique run [-m SIZE] [-e KEY=VALUE]... IMAGE|PKG [-- ARGS...]
//	brique test [-run REGEXP] [-v] [-count N] [-short] PKG...
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `Brique turns a Go program into a unikernel and runs it on KVM.

Usage:

	brique <command> [arguments]

Commands:

	build    build a Go main package into a bootable image
	run      boot an image (or build a package, then boot it)
	test     run a package's tests inside the unikernel
	version  print Brique's version

Run 'brique <command> -h' for the flags of a command.
`

// Exit statuses of brique itself (the program's own status is passed
// through by run): 125 when brique fails, like docker run.
const (
	exitUsage  = 2
	exitFailed = 125
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	code := 0
	switch args[0] {
	case "build":
		err = cmdBuild(args[1:], stderr)
	case "run":
		code, err = cmdRun(args[1:], stdout, stderr)
	case "test":
		code, err = cmdTest(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "brique", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "brique: unknown command %q\nRun 'brique help' for usage.\n", args[0])
		return exitUsage
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "brique %s: %v\n", args[0], ue.error)
			return exitUsage
		}
		fmt.Fprintf(stderr, "brique: %s\n", strings.TrimSpace(err.Error()))
		return exitFailed
	}
	return code
}

const version = "0.1.0-dev"

// usageError marks bad command lines (exit status 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: brique %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses, turning flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return err
	}
	if err != nil {
		return usagef("%v (see 'brique %s -h')", err, fs.Name())
	}
	return nil
}
