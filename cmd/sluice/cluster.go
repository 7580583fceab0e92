package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newClusterCommand(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster",
		Example: `  sluice cluster info
  sluice cluster health`,
	}
	cmd.AddCommand(newClusterHealthCommand(o)) // health.go
	cmd.AddCommand(newVotersCommand(o))        // voters.go
	cmd.AddCommand(newUnregisterCommand(o))    // unregister.go
	cmd.AddCommand(&cobra.Command{
		Use:   "info",
		Short: "Show the cluster ID, the controller and the brokers",
		Example: `  sluice cluster info
  sluice cluster info -b kafka-1:9092 --output json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := o.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			m, err := adm.BrokerMetadata(ctx)
			if err != nil {
				return o.fail("cluster info", err)
			}
			type broker struct {
				ID   int32  `json:"id"`
				Host string `json:"host"`
				Port int32  `json:"port"`
				Rack string `json:"rack,omitempty"`
			}
			var brokers []broker
			for _, b := range m.Brokers {
				br := broker{ID: b.NodeID, Host: b.Host, Port: b.Port}
				if b.Rack != nil {
					br.Rack = *b.Rack
				}
				brokers = append(brokers, br)
			}
			w := cmd.OutOrStdout()
			if o.json() {
				return printJSON(w, map[string]any{"cluster_id": m.Cluster, "controller": m.Controller, "brokers": brokers})
			}
			fmt.Fprintf(w, "Cluster ID: %s\nController: %d\n\n", m.Cluster, m.Controller)
			var table [][]string
			for _, b := range brokers {
				table = append(table, []string{fmt.Sprint(b.ID), fmt.Sprintf("%s:%d", b.Host, b.Port), b.Rack})
			}
			return printTable(w, []string{"BROKER", "ADDRESS", "RACK"}, table)
		},
	})
	return cmd
}
