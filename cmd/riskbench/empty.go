package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// emptyMethod is the baseline: a unary call that does nothing.
const emptyMethod = "/riskbench.Empty/Call"

// emptyDesc registers the baseline by hand, so it needs no .proto of its
// own and costs exactly one empty unmarshal and marshal per call.
var emptyDesc = grpc.ServiceDesc{
	ServiceName: "riskbench.Empty",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := &emptypb.Empty{}
			if err := dec(in); err != nil {
				return nil, err
			}
			return &emptypb.Empty{}, nil
		},
	}},
}

// emptyServer serves the baseline until ctx ends: same grpc-go as riskd,
// plaintext, no interceptors.
func emptyServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("riskbench empty-server", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	var impl any = struct{}{}
	srv.RegisterService(&emptyDesc, impl)
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	fmt.Println("listening", lis.Addr().String())
	return srv.Serve(lis)
}
