// Args prints its arguments and selected environment variables and exits
// with the status given by -exit (or $EXIT_CODE).
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
)

func main() {
	code := flag.Int("exit", 0, "exit status")
	flag.Parse()
	fmt.Println("args:", flag.Args())
	for _, k := range []string{"GREETING", "EMPTY", "UNSET"} {
		v, ok := os.LookupEnv(k)
		fmt.Printf("%s=%q (set: %v)\n", k, v, ok)
	}
	if s := os.Getenv("EXIT_CODE"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			*code = n
		}
	}
	fmt.Fprintln(os.Stderr, "exiting with", *code)
	os.Exit(*code)
}
