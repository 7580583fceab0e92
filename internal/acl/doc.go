// Package acl is Sluice's authorizer: Kafka's ACL model (KIP-11) with the
// semantics of Kafka's StandardAuthorizer.
//
// An ACL (a Binding) allows or denies one principal ("User:alice", or
// "User:*" for everyone), from one host ("*" or an IP address), one
// operation on the resources its pattern names: a literal resource name
// ("*" for every resource of the type) or a name prefix. Deny wins over
// allow; an allow ACL for READ, WRITE, DELETE or ALTER also allows DESCRIBE,
// and one for ALTER_CONFIGS also allows DESCRIBE_CONFIGS; ALL stands for
// every operation. Super users may do everything. A resource with no ACL
// at all is denied, unless allow.everyone.if.no.acl.found is set.
//
// What the package owns:
//
//   - Set: an immutable, indexed set of ACLs. The cluster metadata keeps
//     one in every image and derives the next one by adding and removing
//     ACLs (persistent maps: a change copies a few tree nodes, never the
//     whole set). A check looks up the literal name, the "*" wildcard and
//     the prefixes of the name whose length some prefixed ACL has: a few
//     map lookups, no scan and no allocation.
//   - Filter: Kafka's ACL binding filters (ANY, MATCH) for DescribeAcls and
//     DeleteAcls.
//   - Authorizer: super.users and allow.everyone.if.no.acl.found around a
//     Set, answering Authorize, AuthorizeAny (Kafka's
//     authorizeByResourceType) and AuthorizedOperations (KIP-430).
//
// What it never does: decode wire messages, reach the network or the
// cluster metadata, or log. The broker asks it before any work and writes
// the audit line for a denial.
package acl
