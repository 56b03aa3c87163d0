// Package geoiptest writes small MaxMind databases for tests, with mmdbwriter, in the layout of
// GeoLite2-City and GeoLite2-Country.
package geoiptest

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Network is one network of a test database and where it is.
type Network struct {
	CIDR    string
	Country string // ISO code
	City    string // English name; ignored in a Country database
}

// Networks are the networks of the default test databases, IPv4 and IPv6.
var Networks = []Network{
	{CIDR: "81.2.69.0/24", Country: "GB", City: "London"},
	{CIDR: "89.160.20.0/24", Country: "SE", City: "Linköping"},
	{CIDR: "2a02:ec0::/29", Country: "DE", City: "Berlin"},
	{CIDR: "216.160.83.0/24", Country: "US", City: "Milton"},
	{CIDR: "2001:480::/32", Country: "US", City: ""},
}

// City is the database type of a City database, Country of a Country one.
const (
	City    = "GeoLite2-City"
	Country = "GeoLite2-Country"
)

// Write builds a database of type typ (City or Country) with nets and writes it to path
// through a temporary file renamed over it, as geoipupdate does.
func Write(t testing.TB, path, typ string, nets []Network) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, Bytes(t, typ, nets), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Bytes builds a database of type typ with nets.
func Bytes(t testing.TB, typ string, nets []Network) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: typ, RecordSize: 24,
		Description: map[string]string{"en": "proxy-manager test database"}, Languages: []string{"en", "de"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.CIDR)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{
			"continent": mmdbtype.Map{"code": mmdbtype.String("EU")},
			"country": mmdbtype.Map{
				"iso_code":   mmdbtype.String(n.Country),
				"geoname_id": mmdbtype.Uint32(1),
				"names":      mmdbtype.Map{"en": mmdbtype.String(n.Country + " (en)"), "de": mmdbtype.String(n.Country + " (de)")},
			},
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)},
		}
		if typ == City && n.City != "" {
			rec["city"] = mmdbtype.Map{
				"geoname_id": mmdbtype.Uint32(2),
				"names":      mmdbtype.Map{"en": mmdbtype.String(n.City), "de": mmdbtype.String(n.City + " (de)")},
			}
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(51.5), "longitude": mmdbtype.Float64(-0.1), "time_zone": mmdbtype.String("Europe/London")}
			rec["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String("ENG")}}
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
