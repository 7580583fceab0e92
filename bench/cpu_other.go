//go:build !linux

package main

import (
	"errors"
	"time"
)

// CPU accounting and /proc are Linux-only; elsewhere the CPU columns read
// 0, and RSS and file descriptors are unknown.
func selfCPU() time.Duration       { return 0 }
func processCPU(int) time.Duration { return 0 }
func loadAvg() float64             { return -1 }
func processRSS(int) int64         { return 0 }
func processRSSAnon(int) int64     { return 0 }
func processFDs(int) int           { return -1 }
func openFileLimit() uint64        { return 0 }
func processReadBytes(int) int64   { return -1 }
func dropPageCache() error         { return errors.New("dropping the page cache needs Linux") }
