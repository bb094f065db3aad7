// Package e2e breaks a real Murphy deployment: deploy/compose's three regions, run as
// containers of the FROM scratch images, driven through the Docker engine. Its tests
// carry the build tag e2e (`make e2e`):
//
//	go test -tags e2e -v -count=1 ./deploy/e2e/
//
// Each test brings up its own copy of the compose project (own project name, own
// subnets, random host ports), kills, restarts and disconnects containers with the docker
// CLI, talks to the coordinators over gRPC at their fixed addresses on the `wan` network
// (reachable from the engine's host) and measures what a user would: how long an
// election takes, when a worker's dead-man's switch reverts, how fast a halt lands.
//
// The tests drive Docker through the docker CLI and `docker compose` (or the standalone
// `docker-compose`, v1.28 or later), not the Engine API client: compose is the artefact
// under test, and the CLI calls read like the README's instructions. Everything they
// create carries the label murphy.e2e=<project>; each test removes its project when it
// ends, also on failure, and TestMain sweeps whatever a killed earlier run left behind.
package e2e
