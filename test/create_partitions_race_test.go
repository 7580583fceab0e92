package test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Requests on separate connections that grow a topic to the same count at
// the same time leave it at that count: each succeeds or is refused with
// INVALID_PARTITIONS, and none adds partitions another already added (as
// Kafka's controller refuses a count that is no longer larger).
func TestCreatePartitionsConcurrentRequestsAddOnce(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const clients = 6
	adms := make([]*kadm.Client, clients)
	for i := range adms {
		cl := b.client()
		defer cl.Close()
		adms[i] = kadm.NewClient(cl)
	}
	if _, err := adms[0].CreateTopic(ctx, 1, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	for count := 2; count <= 8; count++ {
		var wg sync.WaitGroup
		errs := make([]error, clients)
		start := make(chan struct{})
		for i, adm := range adms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := adm.UpdatePartitions(ctx, count, "grow")
				if err == nil {
					err = res["grow"].Err
				}
				errs[i] = err
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil && !errors.Is(err, kerr.InvalidPartitions) {
				t.Fatalf("grow to %d, client %d: %v", count, i, err)
			}
		}
		td, err := adms[0].ListTopics(ctx, "grow")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(td["grow"].Partitions); n != count {
			t.Fatalf("%d clients growing the topic to %d partitions at once left %d", clients, count, n)
		}
	}
}
