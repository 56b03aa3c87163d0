package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// grpcurl runs `go tool grpcurl` (a tool line in this module's go.mod), as an operator would.
func grpcurl(args ...string) (string, error) {
	out, err := exec.Command("go", append([]string{"tool", "grpcurl"}, args...)...).CombinedOutput()
	return string(out), err
}

// Checked by 6: grpcurl with the token lists the services by reflection and calls ListDataplanes,
// which shows the node and its applied version; without the token it is refused.
func TestGrpcurl(t *testing.T) {
	a := backend(t, "A")
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", a.URL)})
	cl.startCP()
	cl.startDP("node-e2e")
	auth := "authorization: Bearer " + cl.tokenValue()

	out, err := grpcurl("-plaintext", "-H", auth, cl.grpcAddr, "list")
	if err != nil {
		t.Fatalf("grpcurl list: %v\n%s", err, out)
	}
	for _, svc := range []string{"proxy.v1.SnapshotService", "proxy.v1.EventService", "proxy.v1.AdminService", "grpc.health.v1.Health"} {
		if !strings.Contains(out, svc) {
			t.Errorf("grpcurl list: %q missing from\n%s", svc, out)
		}
	}

	// The socket is reached with grpc's own unix: target; grpcurl 1.9.3's -unix flag dials TCP with this grpc.
	for _, target := range [][]string{{cl.grpcAddr}, {"unix:" + cl.socket}} {
		args := append([]string{"-plaintext", "-H", auth}, target...)
		out, err = grpcurl(append(args, "proxy.v1.AdminService/ListDataplanes")...)
		if err != nil {
			t.Fatalf("ListDataplanes via %v: %v\n%s", target, err, out)
		}
		var resp struct {
			Dataplanes []struct {
				NodeID         string `json:"nodeId"`
				AppliedVersion string `json:"appliedVersion"`
				Connected      bool   `json:"connected"`
			} `json:"dataplanes"`
		}
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatalf("ListDataplanes output: %v\n%s", err, out)
		}
		if len(resp.Dataplanes) != 1 || resp.Dataplanes[0].NodeID != "node-e2e" || resp.Dataplanes[0].AppliedVersion == "" || resp.Dataplanes[0].AppliedVersion == "0" || !resp.Dataplanes[0].Connected {
			t.Errorf("ListDataplanes via %v = %s; want node-e2e, connected, with an applied version", target, out)
		}
	}

	for _, call := range [][]string{{"list"}, {"proxy.v1.AdminService/ListDataplanes"}, {"grpc.health.v1.Health/Check"}} {
		for _, hdr := range [][]string{nil, {"-H", "authorization: Bearer wrong-token-0123456789"}} {
			args := append(append([]string{"-plaintext"}, hdr...), cl.grpcAddr)
			out, err := grpcurl(append(args, call...)...)
			if err == nil || !strings.Contains(out, "Unauthenticated") {
				t.Errorf("grpcurl %v without a valid token: err %v, output %q; want Unauthenticated", call, err, out)
			}
		}
	}
}
