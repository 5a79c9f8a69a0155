package chaosrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/inferflow/inferflow/internal/cluster"
	"github.com/inferflow/inferflow/internal/devserver"
	"github.com/inferflow/inferflow/internal/temporalversion"
	"github.com/inferflow/inferflow/workflows"
)

// Cluster is the production topology's Temporal server (internal/cluster,
// `make cluster`'s) on scratch PostgreSQL databases and free ports, so the
// run's server-restart fault restarts the real server. Stop drops the
// databases.
type Cluster struct {
	*cluster.Server
	pg     cluster.Postgres
	prefix string
}

// ClusterOptions say where the repository (its Makefile, temporal-dev.yaml
// and .tools/bin, built by `make temporal-server`) and the server's folder
// are.
type ClusterOptions struct {
	Root     string
	Postgres cluster.Postgres // cluster.DefaultPostgres when zero
	Dir      string
	Progress func(step string)
}

// StartCluster starts the server as integration's TestProductionTopology
// does. A missing server binary is a *cluster.NotBuiltError (wrapped).
func StartCluster(ctx context.Context, o ClusterOptions) (*Cluster, error) {
	cliVersion, err := temporalversion.MakefileCLIVersion(filepath.Join(o.Root, "Makefile"))
	if err != nil {
		return nil, err
	}
	bins, err := cluster.Locate(ctx, "", filepath.Join(o.Root, ".tools", "bin"), cliVersion)
	if err != nil {
		return nil, fmt.Errorf("chaosrun: %w", err)
	}
	env, err := devserver.Load(filepath.Join(o.Root, "temporal-dev.yaml"), "dev")
	if err != nil {
		return nil, err
	}
	ports, err := cluster.FreePorts()
	if err != nil {
		return nil, err
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	c := &Cluster{pg: o.Postgres, prefix: fmt.Sprintf("inferflow_chaos_%d_%s", os.Getpid(), hex.EncodeToString(rnd[:]))}
	if c.pg == (cluster.Postgres{}) {
		c.pg = cluster.DefaultPostgres
	}
	c.Server, err = cluster.Start(ctx, cluster.Options{
		Binaries: bins, Postgres: c.pg, DatabasePrefix: c.prefix, Fresh: true, Ports: ports, Dir: o.Dir,
		Namespace: env.Flags["namespace"], SearchAttributes: workflows.SearchAttributes, DynamicConfig: env.DynamicConfig,
		Progress: o.Progress,
	})
	if err != nil {
		// Start may have made a database before it failed.
		return nil, errors.Join(err, c.dropDatabases())
	}
	return c, nil
}

// Stop stops the server, then drops its scratch databases.
func (c *Cluster) Stop() error {
	return errors.Join(c.Server.Stop(), c.dropDatabases())
}

func (c *Cluster) dropDatabases() error {
	var errs []error
	for _, db := range []string{cluster.PersistenceDB(c.prefix), cluster.VisibilityDB(c.prefix)} {
		if err := cluster.DropDatabase(context.Background(), c.pg, db); err != nil {
			errs = append(errs, fmt.Errorf("drop scratch database %s: %w", db, err))
		}
	}
	return errors.Join(errs...)
}
