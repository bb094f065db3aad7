// Package httpfault owns Murphy's L7 fault mechanism: a fault-injecting HTTP/1.1 forwarder
// placed in front of a service, and the executors of the http.delay and http.abort fault
// kinds that drive it.
//
// The forwarder pairs each client connection with one upstream connection, reads only the
// message heads it needs for framing (Content-Length, Transfer-Encoding, Connection,
// Expect) and copies everything else verbatim, so with no fault active it costs little
// more than two reads and two writes per request. Faults are an immutable rule set behind
// an atomic pointer; see worker/DESIGN.md for the measurements and rejected alternatives.
package httpfault
