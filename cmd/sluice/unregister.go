package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newUnregisterCommand is `sluice cluster unregister BROKER-ID`: Kafka's
// UnregisterBroker (kafka-cluster.sh unregister), for a broker that is gone
// for good.
func newUnregisterCommand(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "unregister BROKER-ID",
		Short: "Remove a broker that is gone for good from the cluster metadata",
		Long: `Remove a broker that is gone for good from the cluster metadata: it leaves
every ISR, the partitions it led get another leader, and Metadata no longer
lists it. Its replicas stay assigned until they are reassigned. A broker
that still runs registers again at its next heartbeat.`,
		Example: `  sluice cluster unregister 3`,
		Args:    usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNodeID(args[0])
			if err != nil {
				return flagError(cmd, err)
			}
			req := kmsg.NewPtrUnregisterBrokerRequest()
			req.BrokerID = id
			return o.quorumRequest(cmd, "unregister broker", req, func(r kmsg.Response) error {
				resp := r.(*kmsg.UnregisterBrokerResponse)
				if err := quorumErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
					return fmt.Errorf("unregister broker %d: %w", id, err)
				}
				if o.json() {
					return printJSON(cmd.OutOrStdout(), map[string]any{"broker_id": id, "result": "unregistered"})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Broker %d unregistered.\n", id)
				return nil
			})
		},
	}
}
