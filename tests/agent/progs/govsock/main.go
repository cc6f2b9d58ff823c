// govsock: a static Go program for the image (issue 15), built by the test
// with Debian's golang-go (CGO_ENABLED=0, GOPATH mode) and
// golang.org/x/sys/unix from golang-golang-x-sys-dev.
//
//	govsock PORT   listen on AF_VSOCK PORT (any CID), print "READY PORT",
//	               echo every connection in a goroutine of its own until
//	               its EOF; on SIGTERM print "SERVED n" (connections
//	               finished) and exit 0.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

func serve(fd int, served *int64) {
	defer unix.Close(fd)
	buf := make([]byte, 65536)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		for off := 0; off < n; {
			w, err := unix.Write(fd, buf[off:n])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			off += w
		}
	}
	atomic.AddInt64(served, 1) // before the peer can see the end
	unix.Shutdown(fd, unix.SHUT_WR)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: govsock PORT")
		os.Exit(2)
	}
	port, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "govsock: bad port")
		os.Exit(2)
	}
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	lfd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.Bind(lfd, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: uint32(port)})
	}
	if err == nil {
		err = unix.Listen(lfd, 128)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "govsock: listen:", err)
		os.Exit(1)
	}
	var served int64
	go func() {
		for {
			fd, _, err := unix.Accept(lfd)
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "govsock: accept:", err)
				os.Exit(1)
			}
			go serve(fd, &served)
		}
	}()
	fmt.Printf("READY %d\n", port)
	<-terms
	fmt.Printf("SERVED %d\n", atomic.LoadInt64(&served))
	os.Exit(0)
}
