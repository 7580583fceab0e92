package mirror

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Consumer group offsets: once the mirror has looked at both clusters,
// then every SyncGroupOffsetsInterval, and once more when it stops (after
// its copy loops stopped), the committed offsets of the source groups
// that Config.Groups matches are committed
// on the target for the topics being mirrored, under their mirror names.
// The sync at the stop is what makes a planned switch (stop the
// consumers, stop the mirror, promote) carry the groups' last commits.
// Offsets are kept, so they need no translation; a group is left alone
// while it has members on the target (it has failed over and commits for
// itself), an offset is never moved backwards on the target, and never
// past the mirror topic's end (a consumer starting there after a failover
// must not skip records the mirror has not copied yet). A consumer group
// of KIP-848's protocol that has members on the target is told apart by
// its answer to the commit (UNKNOWN_MEMBER_ID: DescribeGroups does not
// describe such groups) and skipped quietly too.

// syncGroupsLoop calls sync once ready is closed, then every
// SyncGroupOffsetsInterval, until ctx ends. The last sync is
// finalGroupSync's, once the copying stopped.
func (m *Mirror) syncGroupsLoop(ctx context.Context, ready <-chan struct{}, sync func(context.Context) error) {
	select {
	case <-ctx.Done():
		return
	case <-ready:
	}
	t := time.NewTicker(m.cfg.SyncGroupOffsetsInterval)
	defer t.Stop()
	for {
		if err := sync(ctx); err != nil && ctx.Err() == nil {
			m.logger.Warn("sync consumer group offsets", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// finalGroupSync syncs group offsets once more as the mirror stops, within
// finalTimeout (Run's context has ended by then), if ready was closed
// (there is something to sync from).
func (m *Mirror) finalGroupSync(ready <-chan struct{}, sync func(context.Context) error) {
	if m.cfg.Groups == nil {
		return
	}
	select {
	case <-ready:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), finalTimeout)
	defer cancel()
	if err := sync(ctx); err != nil {
		m.logger.Warn("sync consumer group offsets at the mirror's stop", "err", err)
	}
}

// groupsToSync lists the source groups Config.Groups matches that have no
// members on the target (whose offsets the mirror may set).
func (m *Mirror) groupsToSync(ctx context.Context) ([]string, error) {
	listed, err := m.srcAdm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list source groups: %w", err)
	}
	var groups []string
	for _, g := range listed.Sorted() {
		if m.cfg.Groups.MatchString(g.Group) {
			groups = append(groups, g.Group)
		}
	}
	if len(groups) == 0 {
		return nil, nil
	}
	described, err := m.dstAdm.DescribeGroups(ctx, groups...)
	if err != nil {
		return nil, fmt.Errorf("describe target groups: %w", err)
	}
	var out []string
	for _, g := range groups {
		if d, ok := described[g]; !ok || inactive(d) {
			out = append(out, g) // active ones commit for themselves
		}
	}
	return out, nil
}

// SyncGroupOffsets copies the matching groups' committed offsets once.
func (m *Mirror) SyncGroupOffsets(ctx context.Context) error {
	if m.cfg.Groups == nil || !m.shapes() {
		return nil
	}
	// The mirrored topics, source name to mirror name.
	names := map[string]string{}
	var dstTopics []string
	m.mu.Lock()
	for name, ts := range m.topics {
		if ts.State == StateMirroring {
			names[name] = ts.Topic
			dstTopics = append(dstTopics, ts.Topic)
		}
	}
	m.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	groups, err := m.groupsToSync(ctx)
	if err != nil || len(groups) == 0 {
		return err
	}
	ends, err := m.dstAdm.ListEndOffsets(ctx, dstTopics...)
	if err != nil {
		return fmt.Errorf("list mirror topics' end offsets: %w", err)
	}
	var errs []error
	for _, g := range groups {
		if err := m.syncGroup(ctx, g, names, ends); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g, err))
		}
	}
	return errors.Join(errs...)
}

// inactive reports whether a target group has no members.
func inactive(d kadm.DescribedGroup) bool {
	if d.Err != nil {
		return errors.Is(d.Err, kerr.GroupIDNotFound)
	}
	return d.State == "" || d.State == "Empty" || d.State == "Dead"
}

// syncGroup commits one group's offsets on the target.
func (m *Mirror) syncGroup(ctx context.Context, group string, names map[string]string, ends kadm.ListedOffsets) error {
	src, err := m.srcAdm.FetchOffsets(ctx, group)
	if err != nil {
		return fmt.Errorf("fetch source offsets: %w", err)
	}
	dst, err := m.dstAdm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("fetch target offsets: %w", err)
	}
	commit := kadm.Offsets{}
	src.Each(func(o kadm.OffsetResponse) {
		name, ok := names[o.Topic]
		if o.Err != nil || !ok || o.At < 0 {
			return
		}
		at := o.At
		if e, ok := ends.Lookup(name, o.Partition); !ok || e.Err != nil {
			return
		} else if at > e.Offset {
			at = e.Offset
		}
		if cur, ok := dst.Lookup(name, o.Partition); ok && cur.Err == nil && cur.At >= at {
			return
		}
		commit.Add(kadm.Offset{Topic: name, Partition: o.Partition, At: at, LeaderEpoch: -1, Metadata: o.Metadata})
	})
	if len(commit) == 0 {
		return nil
	}
	resps, err := m.dstAdm.CommitOffsets(ctx, group, commit)
	if err == nil {
		err = resps.Error()
	}
	if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.StaleMemberEpoch) {
		// A KIP-848 group with members: it commits for itself.
		m.logger.Debug("group has members on the target; not syncing its offsets", "group", group)
		return nil
	}
	if err != nil {
		return fmt.Errorf("commit on the target: %w", err)
	}
	m.logger.Debug("synced group offsets", "group", group, "partitions", len(resps))
	return nil
}
