package mirror

import (
	"fmt"
	"regexp"
	"testing"
)

// Topic selection and naming: internal topics never, --topics and
// --exclude-topics as regexes, {source} and {topic} in the rename format.
func TestSelectedAndTargetName(t *testing.T) {
	t.Parallel()
	cfg := Config{Topics: regexp.MustCompile(`^(orders|payments)`), ExcludeTopics: regexp.MustCompile(`-tmp$`),
		SourceAlias: "dc1", RenameFormat: "{source}.{topic}"}
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		topic string
		want  bool
	}{
		{"orders", true}, {"payments-eu", true}, {"orders-tmp", false}, {"users", false},
		{"__consumer_offsets", false}, {"__orders", false},
	} {
		if got := cfg.selected(c.topic); got != c.want {
			t.Errorf("selected(%q) = %v, want %v", c.topic, got, c.want)
		}
	}
	if got := cfg.targetName("orders"); got != "dc1.orders" {
		t.Errorf("targetName = %q, want dc1.orders", got)
	}
	bad := Config{RenameFormat: "{source}.x"}
	if err := bad.defaults(); err == nil {
		t.Errorf("a rename format without {topic} was accepted")
	}
	plain := Config{}
	if err := plain.defaults(); err != nil || plain.targetName("orders") != "orders" || !plain.selected("anything") {
		t.Errorf("defaults: %v, name %q", err, plain.targetName("orders"))
	}
}

// MirrorMaker 2's translation: a committed offset just after a synced
// record maps exactly; one further on maps to just after the nearest
// synced record before it (never past a record not known to be copied);
// one before every sync does not map.
func TestTranslateThroughOffsetSyncs(t *testing.T) {
	t.Parallel()
	tr := &translator{recent: map[tp][]offsetSync{}, history: map[tp][]offsetSync{}}
	k := tp{"orders", 0}
	for _, s := range []offsetSync{{Source: 10, Target: 100}, {Source: 20, Target: 105}, {Source: 20, Target: 999}, {Source: 30, Target: 110}} {
		tr.acked(k, s)
	}
	for _, c := range []struct {
		offset, want int64
		ok           bool
	}{
		{5, 0, false}, {10, 0, false}, {11, 101, true}, {15, 101, true}, {21, 106, true}, {31, 111, true}, {1000, 111, true},
	} {
		got, ok := tr.translate(k, c.offset)
		if got != c.want || ok != c.ok {
			t.Errorf("translate(%d) = %d, %v; want %d, %v", c.offset, got, ok, c.want, c.ok)
		}
	}
	if _, ok := tr.translate(tp{"orders", 1}, 50); ok {
		t.Errorf("a partition with no syncs translated")
	}
	// The written history (read back after a restart) reaches further
	// back than the recent syncs.
	tr.history[k] = []offsetSync{{Source: 2, Target: 40}, {Source: 20, Target: 105}}
	for _, c := range []struct{ offset, want int64 }{{3, 41}, {5, 41}, {11, 101}, {21, 106}} {
		if got, ok := tr.translate(k, c.offset); got != c.want || !ok {
			t.Errorf("with history: translate(%d) = %d, %v; want %d", c.offset, got, ok, c.want)
		}
	}
}

// The partitions led by one source broker are dealt out to the copy
// loops round robin in topic and partition order; never more loops than
// partitions, never none.
func TestSplitParts(t *testing.T) {
	t.Parallel()
	var parts []*partition
	for _, k := range []tp{{"b", 1}, {"a", 2}, {"b", 0}, {"a", 0}, {"a", 1}} {
		parts = append(parts, &partition{dstTopic: k.topic, index: k.part})
	}
	names := func(groups [][]*partition) [][]string {
		var out [][]string
		for _, g := range groups {
			var names []string
			for _, p := range g {
				names = append(names, fmt.Sprintf("%s/%d", p.dstTopic, p.index))
			}
			out = append(out, names)
		}
		return out
	}
	for _, c := range []struct {
		n    int
		want string
	}{
		{1, "[[a/0 a/1 a/2 b/0 b/1]]"},
		{2, "[[a/0 a/2 b/1] [a/1 b/0]]"},
		{4, "[[a/0 b/1] [a/1] [a/2] [b/0]]"},
		{8, "[[a/0] [a/1] [a/2] [b/0] [b/1]]"},
		{0, "[[a/0 a/1 a/2 b/0 b/1]]"},
	} {
		if got := fmt.Sprint(names(splitParts(parts, c.n))); got != c.want {
			t.Errorf("splitParts(%d) = %s, want %s", c.n, got, c.want)
		}
	}
}
