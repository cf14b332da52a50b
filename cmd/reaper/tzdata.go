package main

// Policies and the overnight window name time zones (Asia/Shanghai); the container image has no
// zoneinfo, so the binary carries Go's copy.
import _ "time/tzdata"
