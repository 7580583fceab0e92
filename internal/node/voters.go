package node

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/cluster"
)

// parseVoters reads controller.quorum.voters: "id@host:port,..." as Kafka
// writes it. An empty string is no voters (a one-node cluster).
func parseVoters(s string) ([]cluster.Voter, error) {
	var voters []cluster.Voter
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		idStr, addr, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("controller.quorum.voters: %q: want id@host:port", item)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("controller.quorum.voters: %q: bad node ID", item)
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" || port == "0" {
			return nil, fmt.Errorf("controller.quorum.voters: %q: want id@host:port", item)
		}
		for _, v := range voters {
			if v.ID == int32(id) {
				return nil, fmt.Errorf("controller.quorum.voters: node %d listed twice", id)
			}
		}
		voters = append(voters, cluster.Voter{ID: int32(id), Addr: addr})
	}
	return voters, nil
}

// raftAddr is the address this node's metadata quorum member binds: the
// one given, or else its own entry in the voter list.
func raftAddr(given string, voters []cluster.Voter, self int32) (string, error) {
	if given != "" || len(voters) == 0 {
		return given, nil
	}
	for _, v := range voters {
		if v.ID == self {
			return v.Addr, nil
		}
	}
	return "", fmt.Errorf("node %d is not a controller voter: give it --controller-listen host:port to join as a non-voter", self)
}
