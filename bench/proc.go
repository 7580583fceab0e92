package main

import (
	"os"
	"os/signal"
	"syscall"
)

var sigterm os.Signal = syscall.SIGTERM

// waitTerm returns when stopped closes or the process gets SIGTERM/SIGINT.
// The signals stay caught afterwards, so that a SIGTERM arriving while the
// caller shuts down (the parent closes stdin, then signals) cannot kill it
// halfway.
func waitTerm(stopped <-chan struct{}) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-stopped:
	case <-sig:
	}
}
