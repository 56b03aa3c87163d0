package main

import (
	"fmt"
	"net"
	"syscall"
)

// peerListener names each client of a Unix socket by the user the kernel says it runs as
// (SO_PEERCRED). Behind `ssh -L 8080:/run/proxy-manager/admin.sock host` that is the SSH user
// whose sshd forwarded the connection, so the audit trail, which records the caller's address,
// says who it was; a Unix peer's own address is only "@".
type peerListener struct{ net.Listener }

func (l peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return c, nil
	}
	return &peerConn{UnixConn: uc, peer: peerAddr{socket: l.Addr().String(), user: peerUser(uc)}}, nil
}

// peerUser returns "uid N", or why the kernel could not tell: the connection is served either
// way, since the socket's mode already decided who may connect.
func peerUser(c *net.UnixConn) string {
	raw, err := c.SyscallConn()
	if err != nil {
		return "uid unknown: " + err.Error()
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		credErr = err
	}
	if credErr != nil {
		return "uid unknown: " + credErr.Error()
	}
	return fmt.Sprintf("uid %d", cred.Uid)
}

// peerConn is a Unix-socket connection whose RemoteAddr names the peer's user.
type peerConn struct {
	*net.UnixConn
	peer peerAddr
}

func (c *peerConn) RemoteAddr() net.Addr { return c.peer }

// peerAddr prints as "unix:/run/proxy-manager/admin.sock (uid 1000)".
type peerAddr struct{ socket, user string }

func (a peerAddr) Network() string { return "unix" }
func (a peerAddr) String() string  { return "unix:" + a.socket + " (" + a.user + ")" }
