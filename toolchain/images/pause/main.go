// pause is the pod sandbox image's only process: it holds the pod's namespaces
// open, reaps the zombies of processes that join its PID namespace, and exits
// cleanly when the kubelet stops the sandbox. As PID 1 a signal without a
// handler is ignored, so SIGTERM and SIGINT are handled explicitly.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pgshift pause 3.10\n")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
