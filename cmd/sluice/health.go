package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterHealth is what `sluice cluster health` reports, like `rpk cluster
// health`: the cluster is healthy when a controller is known, every broker
// that holds a replica is up, and every partition has a leader and its
// full ISR, and no broker has every log directory offline.
type clusterHealth struct {
	Healthy          bool     `json:"healthy"`
	UnhealthyReasons []string `json:"unhealthy_reasons"`
	Controller       int32    `json:"controller_id"`
	Brokers          []int32  `json:"brokers"`
	BrokersDown      []int32  `json:"brokers_down"`
	Leaderless       []string `json:"leaderless_partitions"`
	UnderReplicated  []string `json:"under_replicated_partitions"`
	// LogDirsOffline names, as "broker:dir", the log directories of the
	// brokers whose every log directory is offline (DescribeLogDirs).
	LogDirsOffline []string `json:"log_dirs_offline"`
	// BrokersNotAnswering are live brokers, as Metadata lists them, that
	// did not answer DescribeLogDirs: stopped, hung or unreachable.
	BrokersNotAnswering []int32 `json:"brokers_not_answering"`
	// LogDirsChecked is false when the principal may not describe the
	// log directories (DESCRIBE on the cluster): the rest of the report
	// stands without that check.
	LogDirsChecked bool `json:"log_dirs_checked"`
}

// addUnanswered marks the cluster unhealthy for each live broker, as
// Metadata lists it, that did not answer an ApiVersions request within
// the probe's time: stopped, hung or unreachable.
func (h *clusterHealth) addUnanswered(answered map[int32]bool) {
	for _, id := range h.Brokers {
		if !answered[id] {
			h.BrokersNotAnswering = append(h.BrokersNotAnswering, id)
		}
	}
	if len(h.BrokersNotAnswering) > 0 {
		h.UnhealthyReasons = append(h.UnhealthyReasons, "brokers_not_answering")
		h.Healthy = false
	}
}

// probeBrokers sends ApiVersions to every broker in ids at once and
// returns those that answered before ctx ended. ApiVersions needs no
// authorization, so the probe works for any principal.
func probeBrokers(ctx context.Context, cl *kgo.Client, ids []int32) map[int32]bool {
	var mu sync.Mutex
	answered := map[int32]bool{}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cl.Broker(int(id)).Request(ctx, kmsg.NewPtrApiVersionsRequest()); err == nil {
				mu.Lock()
				answered[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return answered
}

// addLogDirs marks the cluster unhealthy for each broker whose every log
// directory answers an error: it is up but can hold no replica.
func (h *clusterHealth) addLogDirs(all kadm.DescribedAllLogDirs) {
	for _, id := range slices.Sorted(maps.Keys(all)) {
		dirs := all[id]
		var offline []string
		for _, d := range dirs.Sorted() {
			if d.Err == nil {
				offline = nil
				break
			}
			offline = append(offline, fmt.Sprintf("%d:%s", id, d.Dir))
		}
		h.LogDirsOffline = append(h.LogDirsOffline, offline...)
	}
	if len(h.LogDirsOffline) > 0 {
		h.UnhealthyReasons = append(h.UnhealthyReasons, "log_dirs_offline")
		h.Healthy = false
	}
}

// healthOf computes a cluster's health from one Metadata answer. Metadata
// lists the live (unfenced) brokers only: a broker named as a replica but
// not listed is down.
func healthOf(m kadm.Metadata) clusterHealth {
	h := clusterHealth{Controller: m.Controller, Brokers: []int32{}, BrokersDown: []int32{}, Leaderless: []string{}, UnderReplicated: []string{}, LogDirsOffline: []string{}, BrokersNotAnswering: []int32{}}
	up := map[int32]bool{}
	for _, b := range m.Brokers {
		up[b.NodeID] = true
		h.Brokers = append(h.Brokers, b.NodeID)
	}
	down := map[int32]bool{}
	for _, t := range m.Topics.Sorted() {
		for _, p := range t.Partitions.Sorted() {
			name := fmt.Sprintf("%s/%d", t.Topic, p.Partition)
			for _, r := range p.Replicas {
				if !up[r] {
					down[r] = true
				}
			}
			switch {
			case p.Leader < 0 || errors.Is(p.Err, kerr.LeaderNotAvailable):
				h.Leaderless = append(h.Leaderless, name)
			case len(p.ISR) < len(p.Replicas):
				h.UnderReplicated = append(h.UnderReplicated, name)
			}
		}
	}
	for id := range down {
		h.BrokersDown = append(h.BrokersDown, id)
	}
	slices.Sort(h.Brokers)
	slices.Sort(h.BrokersDown)
	h.UnhealthyReasons = []string{}
	if h.Controller < 0 {
		h.UnhealthyReasons = append(h.UnhealthyReasons, "no_controller")
	}
	if len(h.BrokersDown) > 0 {
		h.UnhealthyReasons = append(h.UnhealthyReasons, "brokers_down")
	}
	if len(h.Leaderless) > 0 {
		h.UnhealthyReasons = append(h.UnhealthyReasons, "leaderless_partitions")
	}
	if len(h.UnderReplicated) > 0 {
		h.UnhealthyReasons = append(h.UnhealthyReasons, "under_replicated_partitions")
	}
	h.Healthy = len(h.UnhealthyReasons) == 0
	return h
}

func newClusterHealthCommand(o *clientOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Summarise the cluster's health; exit 1 when unhealthy",
		Long: `Summarise the cluster's health from a Metadata request: the controller, the
live brokers, brokers that hold replicas but are down, partitions without a
leader and partitions whose ISR is smaller than their replica set, and from
DescribeLogDirs the brokers whose every log directory is offline and the live
brokers that do not answer at all (stopped or hung, found with ApiVersions);
a principal not allowed to DESCRIBE the cluster gets the rest without the
log directories. The cluster
is healthy when it has a controller and none of the others; the command exits
1 otherwise, so scripts and probes can use it.`,
		Example: `  sluice cluster health
  sluice cluster health -b kafka-1:9092 --json`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := o.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			adm := kadm.NewClient(cl)
			m, err := adm.Metadata(ctx)
			if err != nil {
				return o.fail("cluster health", err)
			}
			h := healthOf(m)
			// Every live broker is asked at once; one that accepts
			// connections but never answers would hold the command to its
			// end, so the probe gets half of what is left, and the log
			// directories are asked of the brokers that answered.
			deadline, _ := ctx.Deadline()
			pctx, pcancel := context.WithTimeout(ctx, time.Until(deadline)/2)
			answered := probeBrokers(pctx, cl, h.Brokers)
			pcancel()
			h.addUnanswered(answered)
			dirs := kadm.DescribedAllLogDirs{}
			h.LogDirsChecked = true
			for _, id := range h.Brokers {
				if !answered[id] {
					continue
				}
				d, err := adm.DescribeBrokerLogDirs(ctx, id, nil)
				if errors.Is(err, kerr.ClusterAuthorizationFailed) {
					// Not this principal's to see: the rest of the verdict stands.
					h.LogDirsChecked = false
					break
				}
				if err != nil {
					return o.fail(fmt.Sprintf("cluster health: describe the log dirs of broker %d", id), err)
				}
				dirs[id] = d
			}
			if h.LogDirsChecked {
				h.addLogDirs(dirs)
			}
			w := cmd.OutOrStdout()
			if asJSON || o.json() {
				if err := printJSON(w, h); err != nil {
					return err
				}
			} else {
				ids := func(v []int32) string { return strings.Trim(fmt.Sprint(v), "[]") }
				fmt.Fprintf(w, "Healthy:                     %v\n", h.Healthy)
				if !h.Healthy {
					fmt.Fprintf(w, "Unhealthy reasons:           %s\n", strings.Join(h.UnhealthyReasons, ", "))
				}
				fmt.Fprintf(w, "Controller:                  %d\n", h.Controller)
				fmt.Fprintf(w, "Brokers up:                  %s\n", ids(h.Brokers))
				fmt.Fprintf(w, "Brokers down:                %s\n", ids(h.BrokersDown))
				fmt.Fprintf(w, "Leaderless partitions:       %d %s\n", len(h.Leaderless), strings.Join(h.Leaderless, " "))
				fmt.Fprintf(w, "Under-replicated partitions: %d %s\n", len(h.UnderReplicated), strings.Join(h.UnderReplicated, " "))
				if len(h.LogDirsOffline) > 0 {
					fmt.Fprintf(w, "Offline log directories:     %s\n", strings.Join(h.LogDirsOffline, " "))
				}
				if len(h.BrokersNotAnswering) > 0 {
					fmt.Fprintf(w, "Brokers not answering:       %s\n", ids(h.BrokersNotAnswering))
				}
				if !h.LogDirsChecked {
					fmt.Fprintf(w, "Log directories:             not checked (not authorized: DESCRIBE on the cluster)\n")
				}
			}
			if !h.Healthy {
				return fmt.Errorf("cluster is unhealthy: %s", strings.Join(h.UnhealthyReasons, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON (as --output json)")
	return cmd
}
