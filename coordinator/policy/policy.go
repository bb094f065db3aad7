package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Package is the protobuf package whose services must all declare a policy.
const Package protoreflect.FullName = "murphy.v1"

// holders lists who holds each level. The levels are declared in the contract; the roles
// are strings in certificates, so the mapping between them lives here, once.
var holders = map[murphyv1.Role][]string{
	murphyv1.Role_ROLE_VIEWER:   {tlsutil.RoleViewer, tlsutil.RoleOperator, tlsutil.RoleAdmin, tlsutil.RoleCoordinator},
	murphyv1.Role_ROLE_OPERATOR: {tlsutil.RoleOperator, tlsutil.RoleAdmin, tlsutil.RoleCoordinator},
	murphyv1.Role_ROLE_ADMIN:    {tlsutil.RoleAdmin, tlsutil.RoleCoordinator},
	// A coordinator relays the streams of the workers connected to it to the leader.
	murphyv1.Role_ROLE_WORKER: {tlsutil.RoleWorker, tlsutil.RoleCoordinator},
}

// Holders returns the roles that hold level r, nil for a level the contract does not know.
func Holders(r murphyv1.Role) []string { return slices.Clone(holders[r]) }

// others covers the services the coordinator serves but does not define: their methods
// cannot carry Murphy's option, so they are stated here, by service, and nowhere else.
// Health answers load balancers and every role; reflection describes the API to readers.
var others = map[string]Rule{
	"/grpc.health.v1.Health/":                    {Roles: tlsutil.Roles, Route: murphyv1.Route_ROUTE_ANY_NODE},
	"/grpc.reflection.v1.ServerReflection/":      {Roles: holders[murphyv1.Role_ROLE_VIEWER], Route: murphyv1.Route_ROUTE_ANY_NODE},
	"/grpc.reflection.v1alpha.ServerReflection/": {Roles: holders[murphyv1.Role_ROLE_VIEWER], Route: murphyv1.Route_ROUTE_ANY_NODE},
}

// Rule is the policy of one method.
type Rule struct {
	// Roles may call the method; callers may not modify the slice.
	Roles   []string
	Route   murphyv1.Route
	Audited bool
}

// Allows reports whether role may call the method.
func (r Rule) Allows(role string) bool { return slices.Contains(r.Roles, role) }

// LeaderOnly reports whether a follower forwards the call to the leader, unless stale
// reads are allowed and asked for.
func (r Rule) LeaderOnly(stale bool) bool {
	return r.Route == murphyv1.Route_ROUTE_LEADER || r.Route == murphyv1.Route_ROUTE_LEADER_UNLESS_STALE && !stale
}

// Table is the policy of every method the coordinator serves, keyed by gRPC full method
// name ("/murphy.v1.ExperimentService/Submit"). It is read-only once built.
type Table struct {
	methods map[string]Rule
}

// Rule returns the policy of a method. A method the table does not know gets the zero
// Rule: nobody may call it and the node asked answers it (with Unimplemented).
func (t *Table) Rule(fullMethod string) (Rule, bool) {
	if r, ok := t.methods[fullMethod]; ok {
		return r, true
	}
	if i := strings.LastIndex(fullMethod, "/"); i > 0 {
		r, ok := others[fullMethod[:i+1]]
		return r, ok
	}
	return Rule{}, false
}

// Methods returns the full names of the methods that declare a policy, sorted.
func (t *Table) Methods() []string {
	out := make([]string, 0, len(t.methods))
	for m := range t.methods {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Load reads the policy of every method of every service of Package in files. It fails,
// naming each, when a method has no policy or one without a role or route: a method
// added without a policy is a defect of the contract, not something to default.
func Load(files *protoregistry.Files) (*Table, error) {
	t := &Table{methods: map[string]Rule{}}
	var problems []error
	files.RangeFilesByPackage(Package, func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				name := "/" + string(sd.FullName()) + "/" + string(md.Name())
				r, err := ruleOf(md)
				if err != nil {
					problems = append(problems, fmt.Errorf("%s: %w", name, err))
					continue
				}
				t.methods[name] = r
			}
		}
		return true
	})
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if len(t.methods) == 0 {
		return nil, fmt.Errorf("policy: no service of package %s is registered", Package)
	}
	return t, nil
}

func ruleOf(md protoreflect.MethodDescriptor) (Rule, error) {
	opts := md.Options()
	if opts == nil || !proto.HasExtension(opts, murphyv1.E_Policy) {
		return Rule{}, errors.New("no (murphy.v1.policy) option")
	}
	p, _ := proto.GetExtension(opts, murphyv1.E_Policy).(*murphyv1.MethodPolicy)
	roles := holders[p.GetRole()]
	if roles == nil {
		return Rule{}, fmt.Errorf("the policy names no role (%v)", p.GetRole())
	}
	if _, ok := murphyv1.Route_name[int32(p.GetRoute())]; !ok || p.GetRoute() == murphyv1.Route_ROUTE_UNSPECIFIED {
		return Rule{}, fmt.Errorf("the policy names no route (%v)", p.GetRoute())
	}
	return Rule{Roles: roles, Route: p.GetRoute(), Audited: p.GetAudited()}, nil
}

var murphy = sync.OnceValue(func() *Table {
	t, err := Load(protoregistry.GlobalFiles)
	if err != nil {
		// The descriptors are compiled in, so this is a defect of the build that
		// TestEveryMethodHasAPolicy reports first; nothing could be served safely.
		panic(err)
	}
	return t
})

// Murphy returns the table of the services compiled into this binary, built on first use.
func Murphy() *Table { return murphy() }
