//go:build !linux

package main

import "time"

// CPU accounting is Linux-only; elsewhere the CPU columns read 0.
func selfCPU() time.Duration       { return 0 }
func processCPU(int) time.Duration { return 0 }
func loadAvg() float64             { return -1 }
