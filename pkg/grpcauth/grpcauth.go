// Package grpcauth guards the gRPC port between the planes with a shared bearer token read from a
// file (a Docker secret in production). Every call needs it, reflection and health included: the
// port must not tell an unauthenticated peer anything.
package grpcauth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// MinTokenLen keeps guessable tokens out; `openssl rand -hex 32` gives 64.
const MinTokenLen = 16

// ReadToken reads a token file. Surrounding white space (a trailing newline from echo) is ignored.
func ReadToken(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("no token file: set PROXY_GRPC_TOKEN_FILE")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < MinTokenLen {
		return "", fmt.Errorf("token file %s: token has %d characters, want at least %d", path, len(tok), MinTokenLen)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("token file %s: token contains white space", path)
	}
	return tok, nil
}

// Checker verifies the bearer token of incoming calls.
type Checker struct{ want []byte }

// NewChecker returns a Checker for token.
func NewChecker(token string) *Checker { return &Checker{want: []byte("Bearer " + token)} }

func (c *Checker) check(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if subtle.ConstantTimeCompare([]byte(v), c.want) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "missing or invalid bearer token")
}

// Unary is the server interceptor for unary calls.
func (c *Checker) Unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := c.check(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// Stream is the server interceptor for streaming calls.
func (c *Checker) Stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := c.check(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// ServerOptions returns the options that make a server require the token.
func (c *Checker) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(c.Unary), grpc.ChainStreamInterceptor(c.Stream)}
}

// Credentials attaches the token to every outgoing call.
type Credentials struct{ token string }

// NewCredentials returns per-RPC credentials carrying token.
func NewCredentials(token string) Credentials { return Credentials{token: token} }

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c Credentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + c.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. The planes talk over Swarm's
// encrypted overlay network (or loopback), so the token may travel over plaintext HTTP/2 there.
func (Credentials) RequireTransportSecurity() bool { return false }
