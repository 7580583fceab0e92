package test

import (
	"os"
	"testing"
)

// skipUnlessFlakyAllowed skips a test that is known to fail some of the
// time for a reason not yet understood, unless SLUICE_TEST_FLAKY=1: the
// test stays runnable for whoever works on the cause, and the reason is
// printed with every skip so it is not forgotten.
func skipUnlessFlakyAllowed(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("SLUICE_TEST_FLAKY") != "1" {
		t.Skipf("known to fail intermittently (%s); run with SLUICE_TEST_FLAKY=1", reason)
	}
}
