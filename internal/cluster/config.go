package cluster

import (
	"bytes"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// Ports are the server's listening ports, all on 127.0.0.1. A service's
// gRPC port serves the other services and (the frontend's) clients; its
// membership port carries ringpop gossip between the services.
type Ports struct {
	Frontend, FrontendHTTP, FrontendMembership int
	History, HistoryMembership                 int
	Matching, MatchingMembership               int
	Worker, WorkerMembership                   int
	Metrics, PProf                             int
}

// DefaultFrontendPort keeps the cluster clear of a dev server on 7233 (and
// its UI on 8233): the standard Temporal layout shifted by 10000.
const DefaultFrontendPort = 17233

// PortsFrom lays the ports out as a standard Temporal server does (frontend
// 7233, history 7234, matching 7235, worker 7239, membership 300 below,
// frontend HTTP 7243, metrics 8000, pprof 7936), shifted so the frontend
// is at frontend.
func PortsFrom(frontend int) Ports {
	d := frontend - 7233
	return Ports{
		Frontend: 7233 + d, FrontendHTTP: 7243 + d, FrontendMembership: 6933 + d,
		History: 7234 + d, HistoryMembership: 6934 + d,
		Matching: 7235 + d, MatchingMembership: 6935 + d,
		Worker: 7239 + d, WorkerMembership: 6939 + d,
		Metrics: 8000 + d, PProf: 7936 + d,
	}
}

// FreePorts picks free loopback ports (tests, several clusters at once).
// They come from below 32768, not from the kernel's ephemeral range: the
// server records membership ports in a PostgreSQL smallint.
func FreePorts() (Ports, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	next := func() int {
		for range 200 {
			port := 20000 + mrand.IntN(32768-20000)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue // taken
			}
			lns = append(lns, l) // held until all are picked: no repeats
			return port
		}
		return 0
	}
	p := Ports{
		Frontend: next(), FrontendHTTP: next(), FrontendMembership: next(),
		History: next(), HistoryMembership: next(),
		Matching: next(), MatchingMembership: next(),
		Worker: next(), WorkerMembership: next(),
		Metrics: next(), PProf: next(),
	}
	if slices.Contains(p.list(), 0) {
		return Ports{}, fmt.Errorf("find free ports: none free in 20000-32767")
	}
	return p, nil
}

func (p Ports) list() []int {
	return []int{p.Frontend, p.FrontendHTTP, p.FrontendMembership, p.History, p.HistoryMembership,
		p.Matching, p.MatchingMembership, p.Worker, p.WorkerMembership, p.Metrics, p.PProf}
}

// checkFree fails with a PortInUseError on the first port taken.
func (p Ports) checkFree() error {
	for _, port := range p.list() {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return &PortInUseError{Port: port, Err: err}
		}
		l.Close()
	}
	return nil
}

// configData fills serverConfig.
type configData struct {
	Postgres            Postgres
	Persistence         string // database names
	Visibility          string
	Ports               Ports
	HistoryShards       int
	DynamicConfigFile   string
	ClusterName         string
	LogLevel            string
	PersistenceMaxConns int
}

// serverConfig is the server's static configuration: PostgreSQL for
// persistence and visibility, the four services in one process, each bound
// to loopback. It follows the server's own config/development-postgres12.yaml.
var serverConfig = template.Must(template.New("server").Funcs(template.FuncMap{"quote": strconv.Quote}).Parse(`# Written by internal/cluster; rewritten at each start.
log:
  stdout: true
  level: {{quote .LogLevel}}

persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: {{.HistoryShards}}
  datastores:
    postgres-default:
      sql:
        pluginName: "postgres12"
        databaseName: {{quote .Persistence}}
        connectAddr: {{quote .Postgres.Addr}}
        connectProtocol: "tcp"
        user: {{quote .Postgres.User}}
        password: {{quote .Postgres.Password}}
        maxConns: {{.PersistenceMaxConns}}
        maxIdleConns: {{.PersistenceMaxConns}}
        maxConnLifetime: "1h"
    postgres-visibility:
      sql:
        pluginName: "postgres12"
        databaseName: {{quote .Visibility}}
        connectAddr: {{quote .Postgres.Addr}}
        connectProtocol: "tcp"
        user: {{quote .Postgres.User}}
        password: {{quote .Postgres.Password}}
        maxConns: 4
        maxIdleConns: 4
        maxConnLifetime: "1h"

global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  pprof:
    port: {{.Ports.PProf}}
  metrics:
    prometheus:
      framework: "tally"
      timerType: "histogram"
      listenAddress: "127.0.0.1:{{.Ports.Metrics}}"

services:
  frontend:
    rpc:
      grpcPort: {{.Ports.Frontend}}
      membershipPort: {{.Ports.FrontendMembership}}
      bindOnLocalHost: true
      httpPort: {{.Ports.FrontendHTTP}}
  matching:
    rpc:
      grpcPort: {{.Ports.Matching}}
      membershipPort: {{.Ports.MatchingMembership}}
      bindOnLocalHost: true
  history:
    rpc:
      grpcPort: {{.Ports.History}}
      membershipPort: {{.Ports.HistoryMembership}}
      bindOnLocalHost: true
  worker:
    rpc:
      grpcPort: {{.Ports.Worker}}
      membershipPort: {{.Ports.WorkerMembership}}
      bindOnLocalHost: true

clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: {{quote .ClusterName}}
  currentClusterName: {{quote .ClusterName}}
  clusterInformation:
    {{.ClusterName}}:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:{{.Ports.Frontend}}"

dcRedirectionPolicy:
  policy: "noop"

archival:
  history:
    state: "disabled"
  visibility:
    state: "disabled"

namespaceDefaults:
  archival:
    history:
      state: "disabled"
    visibility:
      state: "disabled"

dynamicConfigClient:
  filepath: {{quote .DynamicConfigFile}}
  pollInterval: "10s"
`))

func renderConfig(d configData) ([]byte, error) {
	var b bytes.Buffer
	if err := serverConfig.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("render server config: %w", err)
	}
	return b.Bytes(), nil
}

// renderDynamicConfig turns key=value settings (temporal-dev.yaml's
// x-dynamic-config, as the dev server takes them) into the server's dynamic
// config file: each key a list of one constrained-free value, typed as
// YAML reads it (true, 1, 2.5, or a string).
func renderDynamicConfig(settings []string) ([]byte, error) {
	vals := map[string]string{}
	for _, s := range settings {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("dynamic config %q: want key=value", s)
		}
		vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	var b bytes.Buffer
	b.WriteString("# Written by internal/cluster from the env file's x-dynamic-config.\n")
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		fmt.Fprintf(&b, "%s:\n  - value: %s\n", k, yamlScalar(vals[k]))
	}
	return b.Bytes(), nil
}

// yamlScalar keeps booleans and numbers bare and quotes anything else.
func yamlScalar(v string) string {
	if v == "true" || v == "false" {
		return v
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return strconv.Quote(v)
}
