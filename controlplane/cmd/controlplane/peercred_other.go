//go:build !linux

package main

import "net"

// peerListener passes connections through: SO_PEERCRED is Linux's (peercred_linux.go).
type peerListener struct{ net.Listener }
