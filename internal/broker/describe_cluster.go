package broker

// DescribeCluster, versions 0-1 (KIP-700). Only the broker endpoint type
// (1) is served; asking for controller endpoints (2) is UNSUPPORTED_ENDPOINT_TYPE.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
)

func (b *Broker) describeCluster(_ context.Context, c *Client, req *kmsg.DescribeClusterRequest) *kmsg.DescribeClusterResponse {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp
	}
	img := b.cfg.Cluster.Image()
	resp.EndpointType = 1
	resp.ClusterID = img.ClusterID
	resp.ControllerID = img.ControllerID
	resp.ClusterAuthorizedOperations = authorizedOperationsUnknown
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = b.authorizedOperations(c, img.ACLs, acl.ResourceCluster, acl.ClusterName)
	}
	for _, br := range img.Brokers {
		if br.Fenced {
			continue
		}
		ep, ok := br.Endpoint(c.Listener)
		if !ok {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = br.ID, ep.Host, ep.Port
		if br.Rack != "" {
			rack := br.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	sort.Slice(resp.Brokers, func(i, j int) bool { return resp.Brokers[i].NodeID < resp.Brokers[j].NodeID })
	return resp
}
