// Hello prints a greeting: the smallest Brique program.
package main

import "fmt"

func main() {
	fmt.Println("Hello from a Brique unikernel!")
}
