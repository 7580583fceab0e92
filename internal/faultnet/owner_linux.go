//go:build linux

package faultnet

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SocketOwner returns which of pids holds the other end of c, a
// connection accepted on loopback: the socket whose local address is c's
// remote one. It reads /proc (no privileges needed for one's own
// processes); ok is false when no pid in the list holds it (a connection
// from this process, or one already closed).
func SocketOwner(c net.Conn, pids []int) (pid int, ok bool) {
	local, lok := c.RemoteAddr().(*net.TCPAddr)
	remote, rok := c.LocalAddr().(*net.TCPAddr)
	if !lok || !rok {
		return 0, false
	}
	inode := socketInode(local.Port, remote.Port)
	if inode == "" {
		return 0, false
	}
	want := "socket:[" + inode + "]"
	for _, pid := range pids {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name())); err == nil && l == want {
				return pid, true
			}
		}
	}
	return 0, false
}

// socketInode finds the TCP socket from localPort to remotePort in
// /proc/net/tcp{,6} and returns its inode, or "".
func socketInode(localPort, remotePort int) string {
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if inode := scanTCPTable(f, localPort, remotePort); inode != "" {
			return inode
		}
	}
	return ""
}

func scanTCPTable(path string, localPort, remotePort int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		// A closed socket lingering in TIME_WAIT on the same ports has
		// inode 0 and belongs to no one.
		if hexPort(fields[1]) == localPort && hexPort(fields[2]) == remotePort && fields[9] != "0" {
			return fields[9]
		}
	}
	return ""
}

// hexPort is the port of a /proc/net/tcp address ("0100007F:1F90").
func hexPort(addr string) int {
	_, port, ok := strings.Cut(addr, ":")
	if !ok {
		return -1
	}
	n, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return -1
	}
	return int(n)
}
