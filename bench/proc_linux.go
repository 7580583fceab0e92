package main

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills a child broker if the bench dies without
// stopping it, so no broker outlives the run.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
