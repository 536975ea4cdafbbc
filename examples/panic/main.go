// Panic crashes on purpose: the Go runtime prints the panic and a stack
// trace on stderr and exits with status 2, inside the unikernel as natively.
package main

import "fmt"

type account struct{ balance int }

func withdraw(a *account, n int) {
	if n > a.balance {
		panic(fmt.Sprintf("insufficient funds: balance %d, asked %d", a.balance, n))
	}
	a.balance -= n
}

func main() {
	a := &account{balance: 10}
	withdraw(a, 3)
	fmt.Println("balance:", a.balance)
	withdraw(a, 100)
	fmt.Println("not reached")
}
