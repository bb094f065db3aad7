// Package murphyv1 is Murphy's wire contract: the experiment, worker and cluster gRPC
// services, and the replicated log's commands and snapshot. Everything except this file is
// generated from the .proto files beside it by `make proto`; edit those, never the .pb.go.
package murphyv1
