package policy_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/murphy-chaos/murphy/coordinator/policy"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// TestEveryMethodHasAPolicy walks every service of the contract: a method without the
// option, or with one that leaves the role or the route unset, fails here first.
func TestEveryMethodHasAPolicy(t *testing.T) {
	services := 0
	protoregistry.GlobalFiles.RangeFilesByPackage(policy.Package, func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			services++
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				p, _ := proto.GetExtension(md.Options(), murphyv1.E_Policy).(*murphyv1.MethodPolicy)
				if p == nil || p.Role == murphyv1.Role_ROLE_UNSPECIFIED || p.Route == murphyv1.Route_ROUTE_UNSPECIFIED {
					t.Errorf("%s has no complete (murphy.v1.policy) option: %v", md.FullName(), p)
				}
			}
		}
		return true
	})
	if services != 3 {
		t.Errorf("%d services in %s, want 3 (ExperimentService, ClusterService, WorkerService)", services, policy.Package)
	}
	if _, err := policy.Load(protoregistry.GlobalFiles); err != nil {
		t.Fatal(err)
	}
}

// TestLoadRefusesAMethodWithoutPolicy: a contract with a bare method does not load, and
// the error names the method.
func TestLoadRefusesAMethodWithoutPolicy(t *testing.T) {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("murphy/v1/bare.proto"),
		Package:     proto.String(string(policy.Package)),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Empty")}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("BareService"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name:       proto.String("Poke"),
				InputType:  proto.String(".murphy.v1.Empty"),
				OutputType: proto.String(".murphy.v1.Empty"),
			}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(fd); err != nil {
		t.Fatal(err)
	}
	_, err = policy.Load(files)
	if err == nil || !strings.Contains(err.Error(), "/murphy.v1.BareService/Poke: no (murphy.v1.policy) option") {
		t.Fatalf("err = %v", err)
	}
}

// Who could call what, and which calls the leader answered, before the policy moved into
// the contract: the coordinator's hand-written tables, copied as they were. The table
// derived from the options must agree for every method and every role.
var (
	readers   = []string{tlsutil.RoleViewer, tlsutil.RoleOperator, tlsutil.RoleAdmin, tlsutil.RoleCoordinator}
	operators = []string{tlsutil.RoleOperator, tlsutil.RoleAdmin, tlsutil.RoleCoordinator}
	admins    = []string{tlsutil.RoleAdmin, tlsutil.RoleCoordinator}
	// Changed since: a coordinator connects too, to relay its workers' streams.
	workers = []string{tlsutil.RoleWorker, tlsutil.RoleCoordinator}

	access = map[string][]string{
		"/murphy.v1.ExperimentService/Validate":        readers,
		"/murphy.v1.ExperimentService/GetRun":          readers,
		"/murphy.v1.ExperimentService/ListRuns":        readers,
		"/murphy.v1.ExperimentService/Watch":           readers,
		"/murphy.v1.ExperimentService/GetVerdict":      readers,
		"/murphy.v1.ExperimentService/ListSchedules":   readers,
		"/murphy.v1.ExperimentService/Submit":          operators,
		"/murphy.v1.ExperimentService/Halt":            operators,
		"/murphy.v1.ExperimentService/HaltAll":         admins,
		"/murphy.v1.ExperimentService/Resume":          admins,
		"/murphy.v1.ExperimentService/DeleteSchedule":  admins,
		"/murphy.v1.ExperimentService/PauseSchedules":  admins,
		"/murphy.v1.ExperimentService/ResumeSchedules": admins,
		"/murphy.v1.ClusterService/Status":             readers,
		"/murphy.v1.ClusterService/ListWorkers":        readers,
		"/murphy.v1.ClusterService/ListAudit":          readers,
		"/murphy.v1.ClusterService/Join":               admins,
		"/murphy.v1.ClusterService/Remove":             admins,
		"/murphy.v1.ClusterService/Relay":              workers,
		"/murphy.v1.WorkerService/Connect":             workers,
		"/grpc.health.v1.Health/":                      tlsutil.Roles,
		"/grpc.reflection.v1.ServerReflection/":        readers,
		"/grpc.reflection.v1alpha.ServerReflection/":   readers,
	}

	// Methods missing here were answered by whichever node was asked.
	leaderWrites = []string{
		"/murphy.v1.ExperimentService/Submit", "/murphy.v1.ExperimentService/Halt",
		"/murphy.v1.ExperimentService/HaltAll", "/murphy.v1.ExperimentService/Resume",
		"/murphy.v1.ExperimentService/DeleteSchedule", "/murphy.v1.ExperimentService/PauseSchedules",
		"/murphy.v1.ExperimentService/ResumeSchedules",
		"/murphy.v1.ClusterService/Join", "/murphy.v1.ClusterService/Remove",
	}
	leaderReads = []string{
		"/murphy.v1.ExperimentService/ListSchedules", "/murphy.v1.ExperimentService/GetRun",
		"/murphy.v1.ExperimentService/ListRuns", "/murphy.v1.ExperimentService/GetVerdict",
		"/murphy.v1.ExperimentService/Watch",
		"/murphy.v1.ClusterService/ListWorkers", "/murphy.v1.ClusterService/ListAudit",
	}
)

// allowedBefore is the old lookup: the method, else its service's prefix.
func allowedBefore(method string) []string {
	if r, ok := access[method]; ok {
		return r
	}
	if i := strings.LastIndex(method, "/"); i > 0 {
		return access[method[:i+1]]
	}
	return nil
}

func TestPolicyMatchesTheFormerTables(t *testing.T) {
	tbl := policy.Murphy()
	methods := tbl.Methods()
	for m := range access {
		if !strings.HasSuffix(m, "/") && !slices.Contains(methods, m) {
			t.Errorf("%s had an access rule but declares no policy", m)
		}
	}
	// The methods of the services Murphy does not define, and some it serves no one.
	methods = append(methods,
		"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/grpc.health.v1.Health/List",
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
		"/murphy.v1.ExperimentService/Nonexistent", "/murphy.v1.RaftService/Apply", "/other.v1.Service/Call", "nonsense",
	)
	roles := append(slices.Clone(tlsutil.Roles), "", "root")
	for _, m := range methods {
		r, _ := tbl.Rule(m)
		for _, role := range roles {
			t.Run(m+"/"+role, func(t *testing.T) {
				if got, want := r.Allows(role), slices.Contains(allowedBefore(m), role); got != want {
					t.Errorf("allows %q: %v, before %v", role, got, want)
				}
			})
		}
		// The denial message lists the roles in the order it did.
		if want := allowedBefore(m); !slices.Equal(r.Roles, want) && !(len(r.Roles) == 0 && len(want) == 0) {
			t.Errorf("%s: roles %v, before %v", m, r.Roles, want)
		}
		write, read := slices.Contains(leaderWrites, m), slices.Contains(leaderReads, m)
		for _, stale := range []bool{false, true} {
			if got, want := r.LeaderOnly(stale), write || read && !stale; got != want {
				t.Errorf("%s (stale %v): leader only %v, before %v", m, stale, got, want)
			}
		}
	}
}

// TestAuditedMethods: the methods whose accepted calls write the audit trail are the
// writes a person makes; reads and a worker's stream leave no entry. The cluster test
// TestAuditedCallsMatchPolicy (package coordinator) checks the option against the trail itself.
func TestAuditedMethods(t *testing.T) {
	tbl := policy.Murphy()
	for _, m := range tbl.Methods() {
		r, _ := tbl.Rule(m)
		if want := slices.Contains(leaderWrites, m); r.Audited != want {
			t.Errorf("%s: audited %v, want %v", m, r.Audited, want)
		}
	}
}

func TestHolders(t *testing.T) {
	for _, tc := range []struct {
		level murphyv1.Role
		want  []string
	}{
		{murphyv1.Role_ROLE_VIEWER, readers},
		{murphyv1.Role_ROLE_OPERATOR, operators},
		{murphyv1.Role_ROLE_ADMIN, admins},
		{murphyv1.Role_ROLE_WORKER, workers},
		{murphyv1.Role_ROLE_UNSPECIFIED, nil},
	} {
		if got := policy.Holders(tc.level); !slices.Equal(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.level, got, tc.want)
		}
	}
}
