package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every command taking --batch refuses an id not in NewBatchID's format before it connects: the
// config below points at a Redis that is not there, so reaching it would fail differently.
func TestBatchFlagIsCheckedBeforeRedis(t *testing.T) {
	c := newCLI(t, "")
	c.redis.Stop()
	for _, args := range [][]string{
		{"status", "--batch"}, {"wait", "--batch"}, {"report", "--batch"}, {"retry", "--batch"},
		{"retry", "--now", "--batch"}, {"cancel", "--batch"}, {"reconcile", "--batch"},
	} {
		for _, id := range []string{"nope", "20261121T124500Z-3fa2c1d0:out", "20261121T124500Z-3fa2c1d0:parked", "*"} {
			code, _, errOut := c.run(t, "", append(args, id)...)
			assert.Equal(t, 1, code, "%v %s", args, id)
			assert.Contains(t, errOut, "is not a batch id (batch ids look like 20261121T124500Z-3fa2c1d0)", "%v %s", args, id)
			assert.NotContains(t, errOut, "refused", "%v %s: no connection was tried", args, id)
		}
	}
}
