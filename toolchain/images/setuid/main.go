// setuid runs a command as another uid:gid with no supplementary groups, the
// step down the official postgres image does with gosu when it starts as root
// (busybox has no tool that takes a numeric uid). Usage: setuid UID:GID CMD [ARG...]
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "setuid: "+format+"\n", args...)
	os.Exit(126)
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: setuid UID:GID COMMAND [ARG...]")
	}
	ids := strings.SplitN(os.Args[1], ":", 2)
	if len(ids) != 2 {
		fail("%q is not UID:GID (numbers)", os.Args[1])
	}
	uid, err1 := strconv.Atoi(ids[0])
	gid, err2 := strconv.Atoi(ids[1])
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		fail("%q is not UID:GID (numbers)", os.Args[1])
	}
	path, err := exec.LookPath(os.Args[2])
	if err != nil {
		fail("%s: %v", os.Args[2], err)
	}
	// Groups and gid first: after setuid the process may no longer change them.
	if err := syscall.Setgroups([]int{}); err != nil {
		fail("setgroups: %v", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		fail("setgid %d: %v", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		fail("setuid %d: %v", uid, err)
	}
	if err := syscall.Exec(path, os.Args[2:], os.Environ()); err != nil {
		fail("exec %s: %v", path, err)
	}
}
