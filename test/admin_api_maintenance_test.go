package test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAdminAPIMaintenance runs three brokers, as processes and in
// process, each with its HTTP admin listener. POST
// /v1/maintenance {"enabled": true} on broker 1 moves every leadership it
// had to the others and takes it out of the ISRs while it keeps running
// and serving; producing acks=all goes on. {"enabled": false} ends it:
// broker 1 rejoins the ISRs, and a preferred-leader election gives it
// back the partitions it prefers.
func TestAdminAPIMaintenance(t *testing.T) {
	t.Parallel()
	settings := maps.Clone(fastFailover)
	settings["sluice.http.listen"] = "127.0.0.1:0"
	forEachKind(t, 3, settings, adminAPIMaintenance)
}

func adminAPIMaintenance(t *testing.T, c cluster) {
	http1 := c.httpAddr(1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := c.admin().CreateTopic(ctx, 6, 3, nil, "maint"); err != nil {
		t.Fatal(err)
	}
	td := waitISR(c, "maint", 2, 3, 30*time.Second)
	var preferred []int32 // partitions broker 1 is the preferred leader of
	for _, p := range td.Partitions {
		if p.Replicas[0] == 1 {
			preferred = append(preferred, p.Partition)
		}
	}
	if len(preferred) == 0 {
		t.Fatalf("broker 1 is the preferred leader of no partition: %s", describePartitions(td))
	}
	led := func(td kadm.TopicDetail) (leads, inISR int) {
		for _, p := range td.Partitions {
			if p.Leader == 1 {
				leads++
			}
			if slices.Contains(p.ISR, 1) {
				inISR++
			}
		}
		return
	}
	waitMaint := func(what string, ok func(kadm.TopicDetail) bool) kadm.TopicDetail {
		t.Helper()
		return waitTopic(c, "maint", 2, 30*time.Second, what, ok)
	}

	var m maintenanceStatus
	if code, msg := adminCall(t, http1, "POST", "/v1/maintenance", `{"enabled": true}`, &m); code != http.StatusOK {
		t.Fatalf("start maintenance: %d %s", code, msg)
	}
	if !m.Maintenance || m.Leaders != 0 || m.Leaderless != 0 {
		t.Errorf("maintenance started: %+v, want no leaderships and no leaderless partition", m)
	}
	waitMaint("broker 1 leads nothing and is in no ISR", func(td kadm.TopicDetail) bool {
		leads, inISR := led(td)
		return leads == 0 && inISR == 0
	})
	var st brokerStatus
	if code, _ := adminCall(t, http1, "GET", "/v1/broker", "", &st); code != http.StatusOK || !st.Maintenance || !st.Ready || st.Leaders != 0 {
		t.Errorf("GET /v1/broker in maintenance: %d %+v", code, st)
	}
	// Starting it again changes nothing.
	if code, msg := adminCall(t, http1, "POST", "/v1/maintenance", `{"enabled": true}`, &m); code != http.StatusOK || !m.Maintenance {
		t.Errorf("start maintenance twice: %d %s %+v", code, msg, m)
	}
	// The cluster goes on taking acks=all writes, through broker 1 too.
	cl := clientAt(c, 1, kgo.DefaultProduceTopic("maint"), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 12 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("during-%d", i))).FirstErr(); err != nil {
			t.Fatalf("produce during maintenance: %v", err)
		}
	}

	if code, msg := adminCall(t, http1, "POST", "/v1/maintenance", `{"enabled": false}`, &m); code != http.StatusOK || m.Maintenance {
		t.Fatalf("end maintenance: %d %s %+v", code, msg, m)
	}
	waitMaint("broker 1 back in every ISR", func(td kadm.TopicDetail) bool {
		_, inISR := led(td)
		return inISR == len(td.Partitions)
	})
	tps := kadm.TopicsSet{}
	tps.Add("maint", preferred...)
	if _, err := c.admin().ElectLeaders(ctx, kadm.ElectPreferredReplica, tps); err != nil {
		t.Fatal(err)
	}
	waitMaint("broker 1 leads its preferred partitions again", func(td kadm.TopicDetail) bool {
		leads, _ := led(td)
		return leads == len(preferred)
	})
	if code, _ := adminCall(t, http1, "GET", "/v1/broker", "", &st); code != http.StatusOK || st.Maintenance || st.Fenced {
		t.Errorf("GET /v1/broker after maintenance: %d %+v", code, st)
	}
}
