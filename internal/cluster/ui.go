package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"text/template"
	"time"
)

// UIOptions say how to run the Temporal Web UI (temporalio/ui-server, the
// UI `temporal server start-dev` embeds, built standalone by `make
// temporal-server` at the CLI's version) against a cluster.
type UIOptions struct {
	Binary    string // temporal-ui-server-<version>
	Dir       string // its config and log go here
	Port      int
	Frontend  string // the cluster's HostPort
	Namespace string
	// CodecEndpoint, when set, is the codec server the browser decodes
	// payloads through (the worker's).
	CodecEndpoint string
}

// UIBinaryIn names the UI server of version in toolsDir.
func UIBinaryIn(toolsDir, version string) string {
	return filepath.Join(toolsDir, "temporal-ui-server-"+version)
}

// UI is a running Web UI.
type UI struct {
	URL    string
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
}

var uiConfig = template.Must(template.New("ui").Funcs(template.FuncMap{"quote": strconv.Quote}).Parse(`# Written by internal/cluster.
temporalGrpcAddress: {{quote .Frontend}}
host: "127.0.0.1"
port: {{.Port}}
enableUi: true
defaultNamespace: {{quote .Namespace}}
notifyOnNewVersion: false
refreshInterval: 1m
codec:
  endpoint: {{quote .CodecEndpoint}}
cors:
  cookieInsecure: true
`))

// StartUI writes the UI's config, starts it and waits until it answers.
func StartUI(ctx context.Context, o UIOptions) (*UI, error) {
	if _, err := os.Stat(o.Binary); err != nil {
		return nil, &NotBuiltError{What: "temporal-ui-server", Path: o.Binary}
	}
	cfgDir := filepath.Join(o.Dir, "ui-config")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(cfgDir, clusterEnv+".yaml"))
	if err != nil {
		return nil, err
	}
	err = uiConfig.Execute(f, o)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write UI config: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port))
	if l, err := net.Listen("tcp", addr); err != nil {
		return nil, &PortInUseError{Port: o.Port, Err: err}
	} else {
		l.Close()
	}
	logf, err := os.Create(filepath.Join(o.Dir, "temporal-ui.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.Binary, "--root", o.Dir, "--config", "ui-config", "--env", clusterEnv, "start")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	ui := &UI{URL: "http://" + addr, cmd: cmd, log: logf, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(ui.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ui.URL+"/api/v1/settings", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ui, nil
			}
		}
		select {
		case <-ui.exited:
			return nil, fmt.Errorf("temporal UI server exited; see %s", logf.Name())
		case <-ctx.Done():
			ui.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			ui.Stop()
			return nil, fmt.Errorf("temporal UI server not answering at %s; see %s", ui.URL, logf.Name())
		}
	}
}

// Stop interrupts the UI server and waits for it (killing it after 5 s).
func (u *UI) Stop() {
	_ = u.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-u.exited:
	case <-time.After(5 * time.Second):
		_ = u.cmd.Process.Kill()
		<-u.exited
	}
	u.log.Close()
}
