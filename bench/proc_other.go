//go:build !linux

package main

import "os/exec"

// setParentDeathSignal is Linux-only; elsewhere the child's stdin closing
// (kfake) or the explicit Stop (sluice) ends it.
func setParentDeathSignal(*exec.Cmd) {}
