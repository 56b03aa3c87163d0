package grpcauth

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		desc, path, want, wantErr string
	}{
		{desc: "trailing newline trimmed", path: write("ok", "0123456789abcdef0123\n"), want: "0123456789abcdef0123"},
		{desc: "too short", path: write("short", "abc"), wantErr: "want at least 16"},
		{desc: "inner space", path: write("space", "0123456789 abcdef0123"), wantErr: "white space"},
		{desc: "missing", path: filepath.Join(dir, "nope"), wantErr: "read token file"},
		{desc: "unset", path: "", wantErr: "PROXY_GRPC_TOKEN_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := ReadToken(tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadToken = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestChecker runs a real server on loopback: the health service answers only with the token.
func TestChecker(t *testing.T) {
	const token = "s3cret-token-0123456789"
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(NewChecker(token).ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	defer srv.Stop()

	tests := []struct {
		desc string
		opts []grpc.DialOption
		want codes.Code
	}{
		{desc: "no token", want: codes.Unauthenticated},
		{desc: "wrong token", opts: []grpc.DialOption{grpc.WithPerRPCCredentials(NewCredentials("wrong-token-0123456789"))}, want: codes.Unauthenticated},
		{desc: "right token", opts: []grpc.DialOption{grpc.WithPerRPCCredentials(NewCredentials(token))}, want: codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			conn, err := grpc.NewClient(lis.Addr().String(), append(tc.opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
			if got := status.Code(err); got != tc.want {
				t.Fatalf("Check: code %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}
