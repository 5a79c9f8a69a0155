package envflag_test

import (
	"fmt"
	"os"
	"time"

	"github.com/inferflow/inferflow/internal/envflag"
	"github.com/inferflow/inferflow/internal/telemetry"
	"github.com/inferflow/inferflow/internal/temporalclient"
)

// A binary's own settings, each declared once.
var settings = struct {
	Listen envflag.Spec[string]
	Token  envflag.Spec[string]
	Idle   envflag.Spec[time.Duration]
}{
	Listen: envflag.Spec[string]{Flag: "listen", Env: "REALTIME_LISTEN", Default: "127.0.0.1:8443",
		Help: "address for WebRTC signalling", Check: envflag.HostPort},
	// Environment only and secret: never in a process list, -h or an error.
	Token: envflag.Spec[string]{Env: "REALTIME_TOKEN", Secret: true, Help: "bearer token clients present",
		Check: envflag.NotBlank},
	Idle: envflag.Spec[time.Duration]{Flag: "idle-timeout", Env: "REALTIME_IDLE_TIMEOUT", Default: time.Minute,
		Help: "close a session after this much silence", Check: envflag.AtLeast(time.Second)},
}

type config struct {
	temporal  temporalclient.Config
	telemetry telemetry.Config
	listen    string
	token     string
	idle      time.Duration
}

// A third binary (a realtime process that is a Temporal client) composes
// the shared groups with its own settings on one Set.
func Example() {
	env := envflag.Map{
		"REALTIME_TOKEN":       "t0ken",
		"TEMPORAL_ADDRESS":     "temporal.internal:7233",
		"TEMPORAL_CONFIG_FILE": os.DevNull,
	}
	var c config
	s := envflag.NewWithEnv("realtime", env) // envflag.New("realtime") in main
	c.temporal.Register(s)
	c.telemetry.Register(s)
	envflag.Var(s, &c.listen, settings.Listen)
	envflag.Var(s, &c.token, settings.Token)
	envflag.Var(s, &c.idle, settings.Idle)

	if err := s.Parse([]string{"--idle-timeout", "30s"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.temporal.Address, c.telemetry.LogLevel, c.listen, c.idle, c.token != "")

	err := s.Parse([]string{"--listen", "8443"})
	fmt.Println(err)
	// Output:
	// temporal.internal:7233 info 127.0.0.1:8443 30s true
	// --listen (REALTIME_LISTEN) "8443": want host:port
}
