package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/murphy-chaos/murphy/coordinator"
	"github.com/murphy-chaos/murphy/coordinator/fleet"
	"github.com/murphy-chaos/murphy/internal/tlsutil"
	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// The floor is what a halt costs with nothing of Murphy around it: a gRPC server that
// holds the workers' streams open and, when asked, sends the halt message on every one
// of them. Nothing is committed, looked up or queued. It has the coordinator's
// connection options and marshals the message once, as a coordinator does, so the ratio
// of Murphy's figure to the floor's says what Murphy adds, not what gRPC's defaults cost
// (with them, 10,000 streams each take a 32 KiB write buffer at the same moment). The
// bench runs it on the same machine, with the same workers and TLS setting.
type floorServer struct {
	murphyv1.UnimplementedWorkerServiceServer
	murphyv1.UnimplementedExperimentServiceServer
	halt     chan struct{}
	haltOnce sync.Once
	msg      *fleet.Shared
}

func (f *floorServer) Connect(stream murphyv1.WorkerService_ConnectServer) error {
	if _, err := stream.Recv(); err != nil { // the hello
		return err
	}
	if err := stream.Send(&murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Welcome{Welcome: &murphyv1.Welcome{NodeId: "floor"}}}); err != nil {
		return err
	}
	go func() { // heartbeats and acknowledgements, read and dropped
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
	select {
	case <-f.halt:
		if err := fleet.SendTo(stream, f.msg.Outbound()); err != nil {
			return err
		}
	case <-stream.Context().Done():
		return nil
	}
	<-stream.Context().Done()
	return nil
}

// HaltAll stamps the time and releases every stream's send, as a committed halt does.
func (f *floorServer) HaltAll(context.Context, *murphyv1.HaltAllRequest) (*murphyv1.HaltAllResponse, error) {
	at := time.Now()
	f.haltOnce.Do(func() { close(f.halt) })
	return &murphyv1.HaltAllResponse{Halt: &murphyv1.ClusterHalt{At: timestamppb.New(at)}}, nil
}

func newBenchFloorCmd() *cobra.Command {
	var tlsFiles tlsutil.Files
	cmd := &cobra.Command{
		Use:    "floor",
		Short:  "Serve the halt floor for murphy bench halt (prints its address, serves until killed)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := coordinator.ConnOptions(tlsFiles.CA != "")
			if tlsFiles.CA != "" {
				cfg, err := tlsutil.ServerConfig(tlsFiles)
				if err != nil {
					return err
				}
				opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			srv := grpc.NewServer(opts...)
			f := &floorServer{halt: make(chan struct{}), msg: fleet.NewShared(benchHaltMsg())}
			murphyv1.RegisterWorkerServiceServer(srv, f)
			murphyv1.RegisterExperimentServiceServer(srv, f)
			fmt.Fprintln(cmd.OutOrStdout(), l.Addr().String())
			return srv.Serve(l) // until the bench interrupts the process
		},
	}
	cmd.Flags().StringVar(&tlsFiles.CA, "tls-ca", "", "CA certificate")
	cmd.Flags().StringVar(&tlsFiles.Cert, "tls-cert", "", "server certificate")
	cmd.Flags().StringVar(&tlsFiles.Key, "tls-key", "", "the certificate's key")
	return cmd
}

// benchHaltMsg is the message a coordinator sends every worker for halt --all with the
// bench's reason.
func benchHaltMsg() *murphyv1.ConnectResponse {
	return &murphyv1.ConnectResponse{Msg: &murphyv1.ConnectResponse_Halt{Halt: &murphyv1.HaltOrder{Reason: benchReason}}}
}

const benchReason = "bench"

// startFloor runs the floor as a process of its own, like the coordinators.
func startFloor(pki *benchPKI) (addr string, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	args := []string{"bench", "floor"}
	if pki != nil {
		f, err := pki.files(tlsutil.RoleCoordinator, "floor")
		if err != nil {
			return "", nil, err
		}
		args = append(args, "--tls-ca", f.CA, "--tls-cert", f.Cert, "--tls-key", f.Key)
	}
	c := exec.Command(self, args...)
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := c.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = c.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("bench floor: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}
