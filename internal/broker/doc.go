// Package broker turns decoded Kafka requests into responses. There is one
// file per API family; each opens with the versions it supports and where
// Sluice differs from Kafka. apis.go holds the handler table that both
// dispatch and ApiVersions read, so the broker advertises exactly what it
// implements. errors.go maps internal errors to Kafka codes in one place.
//
// Handlers read metadata from the local cluster image, act on partitions
// through internal/replica, and change metadata by proposing commands to
// the controller (internal/cluster), answering after they are applied.
package broker
