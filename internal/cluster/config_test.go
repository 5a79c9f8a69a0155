package cluster

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/inferflow/inferflow/internal/devserver"
)

func TestRenderConfig(t *testing.T) {
	ports := PortsFrom(DefaultFrontendPort)
	out, err := renderConfig(configData{
		Postgres:    Postgres{Host: "db.local", Port: 5433, User: "temporal", Password: `p"w: x`},
		Persistence: "scratch", Visibility: "scratch_visibility",
		Ports: ports, HistoryShards: 4, DynamicConfigFile: "/tmp/dyn config.yaml",
		ClusterName: "active", LogLevel: "warn", PersistenceMaxConns: 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Persistence struct {
			DefaultStore     string `yaml:"defaultStore"`
			VisibilityStore  string `yaml:"visibilityStore"`
			NumHistoryShards int    `yaml:"numHistoryShards"`
			Datastores       map[string]struct {
				SQL struct {
					PluginName   string `yaml:"pluginName"`
					DatabaseName string `yaml:"databaseName"`
					ConnectAddr  string `yaml:"connectAddr"`
					User         string `yaml:"user"`
					Password     string `yaml:"password"`
				} `yaml:"sql"`
			} `yaml:"datastores"`
		} `yaml:"persistence"`
		Services map[string]struct {
			RPC struct {
				GRPCPort        int  `yaml:"grpcPort"`
				MembershipPort  int  `yaml:"membershipPort"`
				HTTPPort        int  `yaml:"httpPort"`
				BindOnLocalHost bool `yaml:"bindOnLocalHost"`
			} `yaml:"rpc"`
		} `yaml:"services"`
		ClusterMetadata struct {
			CurrentClusterName string `yaml:"currentClusterName"`
			ClusterInformation map[string]struct {
				RPCAddress string `yaml:"rpcAddress"`
			} `yaml:"clusterInformation"`
		} `yaml:"clusterMetadata"`
		DynamicConfigClient struct {
			Filepath string `yaml:"filepath"`
		} `yaml:"dynamicConfigClient"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not YAML: %v\n%s", err, out)
	}
	p := doc.Persistence
	if p.NumHistoryShards != 4 || p.Datastores[p.DefaultStore].SQL.DatabaseName != "scratch" ||
		p.Datastores[p.VisibilityStore].SQL.DatabaseName != "scratch_visibility" {
		t.Errorf("persistence = %+v", p)
	}
	for _, store := range []string{p.DefaultStore, p.VisibilityStore} {
		sql := p.Datastores[store].SQL
		if sql.PluginName != "postgres12" || sql.ConnectAddr != "db.local:5433" || sql.User != "temporal" || sql.Password != `p"w: x` {
			t.Errorf("store %s = %+v", store, sql)
		}
	}
	want := map[string][2]int{
		"frontend": {17233, 16933}, "history": {17234, 16934}, "matching": {17235, 16935}, "worker": {17239, 16939},
	}
	if len(doc.Services) != len(want) {
		t.Errorf("services = %v, want the four in one process", doc.Services)
	}
	for name, w := range want {
		rpc := doc.Services[name].RPC
		if rpc.GRPCPort != w[0] || rpc.MembershipPort != w[1] || !rpc.BindOnLocalHost {
			t.Errorf("%s rpc = %+v, want ports %v on loopback", name, rpc, w)
		}
	}
	if doc.Services["frontend"].RPC.HTTPPort != 17243 {
		t.Errorf("frontend http port = %d", doc.Services["frontend"].RPC.HTTPPort)
	}
	if got := doc.ClusterMetadata.ClusterInformation[doc.ClusterMetadata.CurrentClusterName].RPCAddress; got != "127.0.0.1:17233" {
		t.Errorf("cluster rpcAddress = %q", got)
	}
	if doc.DynamicConfigClient.Filepath != "/tmp/dyn config.yaml" {
		t.Errorf("dynamic config file = %q", doc.DynamicConfigClient.Filepath)
	}
}

func TestPortsFromKeepsClearOfTheDevServer(t *testing.T) {
	dev := PortsFrom(7233) // the standard layout, which a dev server may hold
	if dev.Frontend != 7233 || dev.History != 7234 || dev.FrontendHTTP != 7243 || dev.Metrics != 8000 {
		t.Fatalf("standard layout = %+v", dev)
	}
	c := PortsFrom(DefaultFrontendPort)
	seen := map[int]bool{}
	for _, p := range c.list() {
		// 7233-7234 and 8233 are the dev server's gRPC, metrics and UI.
		if seen[p] || p == 7233 || p == 7234 || p == 8233 {
			t.Errorf("port %d repeated or taken by a dev server: %+v", p, c)
		}
		seen[p] = true
	}
}

func TestRenderDynamicConfig(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want map[string]any
		err  string
	}{
		{"typed", []string{"b=true", "n=1", "f=2.5", "s=10s", "w = x y "},
			map[string]any{"b": true, "n": 1, "f": 2.5, "s": "10s", "w": "x y"}, ""},
		{"last wins", []string{"k=1", "k=2"}, map[string]any{"k": 2}, ""},
		{"empty", nil, map[string]any{}, ""},
		{"no value", []string{"k"}, nil, "want key=value"},
		{"no key", []string{"=1"}, nil, "want key=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := renderDynamicConfig(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string][]struct {
				Value any `yaml:"value"`
			}
			if err := yaml.Unmarshal(out, &doc); err != nil {
				t.Fatalf("not YAML: %v\n%s", err, out)
			}
			if len(doc) != len(tt.want) {
				t.Fatalf("got %v, want %v", doc, tt.want)
			}
			for k, v := range tt.want {
				if len(doc[k]) != 1 || doc[k][0].Value != v {
					t.Errorf("%s = %#v, want %#v", k, doc[k], v)
				}
			}
		})
	}
}

// The project's own dynamic config (temporal-dev.yaml) renders.
func TestRenderProjectDynamicConfig(t *testing.T) {
	s, err := devserver.Load(filepath.Join("..", "..", "temporal-dev.yaml"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	out, err := renderDynamicConfig(s.DynamicConfig)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "matching.numTaskqueueReadPartitions:\n  - value: 1\n") {
		t.Errorf("dynamic config:\n%s", out)
	}
}

func TestDatabaseNames(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"inferflow_temporal", true}, {"_x1", true}, {"Upper", false}, {"a-b", false},
		{"x; DROP DATABASE postgres", false}, {"", false}, {strings.Repeat("a", 64), false},
	} {
		if err := checkDBName(tt.name); (err == nil) != tt.ok {
			t.Errorf("checkDBName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	if PersistenceDB("p") != "p" || VisibilityDB("p") != "p_visibility" {
		t.Error("database names")
	}
}

func TestPostgresDSN(t *testing.T) {
	if got := (Postgres{}).DSN("ledger"); got != "postgres://postgres@127.0.0.1:5432/ledger?sslmode=disable" {
		t.Errorf("default DSN = %s", got)
	}
	if got := (Postgres{Host: "h", Port: 1, User: "u", Password: "p@ss"}).DSN("d"); got != "postgres://u:p%40ss@h:1/d?sslmode=disable" {
		t.Errorf("DSN = %s", got)
	}
}

func TestBinariesCheck(t *testing.T) {
	dir := t.TempDir()
	b := BinariesIn(dir, "v1.2.3")
	var nb *NotBuiltError
	if err := b.Check(); !errors.As(err, &nb) || nb.What != "temporal-server" || !strings.Contains(err.Error(), "make temporal-server") {
		t.Fatalf("err = %v, want NotBuiltError for the server saying to run make temporal-server", err)
	}
	for _, f := range []string{b.Server, b.SQLTool} {
		if err := os.WriteFile(f, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Check(); !errors.As(err, &nb) || !strings.Contains(nb.What, "schema") {
		t.Fatalf("err = %v, want the schema missing", err)
	}
	for _, store := range []string{"temporal", "visibility"} {
		if err := os.MkdirAll(b.schemaPath(store), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.checkFree(); err != nil {
		t.Fatalf("free ports reported taken: %v", err)
	}
	seen := map[int]bool{}
	for _, port := range p.list() {
		// Membership ports go into a PostgreSQL smallint.
		if port >= 32768 || seen[port] {
			t.Fatalf("port %d repeated or above a smallint: %+v", port, p)
		}
		seen[port] = true
	}
	p.History = l.Addr().(*net.TCPAddr).Port
	var inUse *PortInUseError
	if err := p.checkFree(); !errors.As(err, &inUse) || inUse.Port != p.History || !strings.Contains(err.Error(), strconv.Itoa(p.History)) {
		t.Fatalf("err = %v, want PortInUseError for %d", err, p.History)
	}
}
