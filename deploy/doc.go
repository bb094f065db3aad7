// Package deploy holds Murphy's deployment files: images/ (FROM scratch Dockerfiles),
// compose/ (three regions on one Docker engine), kubernetes/, systemd/ and grafana/.
// Its test checks that every YAML file parses, that only images built here are named,
// and that the dashboard queries only metrics Murphy exports. The end-to-end tests that
// run the compose deployment are in e2e/.
package deploy
