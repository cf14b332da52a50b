package faults

import (
	"net/http"

	"github.com/reaper-media/reaper/providers"
)

// Fake is what every provider fake (msstest, smhtest, vodtest) offers: an HTTP handler with an
// inventory of files, call counts per target and a fault injector. The conformance suite
// (providertest) holds each fake to it, and the fakes' stack (internal/fakestack) serves the three
// through it; it lives here, beside the injector the fakes share, so neither has to import the other.
type Fake interface {
	http.Handler
	// Add puts the file the target names into the inventory.
	Add(t providers.Target)
	// Exists reports whether the target's file is still in the inventory (not deleted, not recycled).
	Exists(t providers.Target) bool
	// Calls counts delete requests that named the target, whatever their answer. A call is counted
	// when it arrives, before any injected latency.
	Calls(t providers.Target) int
	// Faults is the fake's injector.
	Faults() *Injector
}
