package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// child is a process the cluster started; done closes when it exits.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string // "" when it writes to the terminal
	log     *os.File
	done    chan struct{}
	err     error // set before done closes
}

// startChild starts bin with args and this process's environment plus env.
// With logDir its output goes to <logDir>/<name>.log, else to the terminal
// (the user's command). Each child has its own process group, so a Ctrl-C
// in the terminal reaches only cluster, which then stops them in order.
func startChild(name, bin string, args, env []string, logDir string) (*child, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	if logDir != "" {
		c.logPath = filepath.Join(logDir, name+".log")
		f, err := os.Create(c.logPath)
		if err != nil {
			return nil, err
		}
		c.log = f
		cmd.Stdout, cmd.Stderr = f, f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	} else {
		// The user's command keeps the terminal (and its Ctrl-C).
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		if c.log != nil {
			c.log.Close()
		}
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	go func() {
		c.err = cmd.Wait()
		if c.log != nil {
			c.log.Close()
		}
		close(c.done)
	}()
	return c, nil
}

// stop interrupts the child and waits, killing it after 15 s.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// stopChildren interrupts all children at once, then waits for each.
func stopChildren(cs []*child) {
	for _, c := range cs {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Signal(os.Interrupt)
		}
	}
	for _, c := range cs {
		c.stop()
	}
}
