/*
Package faultfs injects disk faults below Sluice's partition logs, for
tests: it holds two implementations of the log's filesystem interface
(log.FS).

Injector wraps any log.FS and, by rules a test adds and removes while the
broker runs, makes chosen operations on chosen paths fail (EIO, ENOSPC, or
any error), write only part of their bytes (a short write), or wait before
they run (a slow fsync). pebble's vfs/errorfs is the model.

Mem is a filesystem in memory that remembers what was made durable, so a
test can cut the power: Crash returns the filesystem a machine would find
after losing power now, and every later operation on the old one fails
with EIO, so a broker still running on it acknowledges nothing more. A
file keeps only the bytes of its last fsync; a directory keeps only the
entries (files and subdirectories) of its last fsync, so a file created or
renamed without a directory fsync disappears, and one removed without
it comes back. syncfs(2) (SyncFS) makes everything durable. One Mem may
hold the data directories of several in-process brokers, so one Crash cuts
the power of a whole cluster at once.

# Enabling it in a broker process

In-process brokers take an FS in node.Config.LogFS. A separate `sluice`
process uses an Injector only when the binary was built with the build tag
faultfs (go build -tags faultfs) and the environment variable
SLUICE_FAULTFS names a control file; a release build has no code that reads
the variable. The control file holds one rule per line (see ParseRule),
and the broker reads it again whenever it changes, so a test can inject a
fault mid-run by rewriting the file:

	write ENOSPC path=/orders-0/
	sync EIO path=/orders-0/ after=10 times=1
	sync delay=200ms
	write short path=.log

The package is for tests and fault drills only; nothing in a normal
broker imports it unless the tag is set.
*/
package faultfs
