package mongostore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// The driver options each setting of the guide builds.
func TestClientOptions(t *testing.T) {
	t.Parallel()
	journaled, _ := ParseWriteConcern("journaled")
	co, err := ClientOptions("mongodb://db:27017/ditto", Options{MaxPoolSize: 50, MinPoolSize: 5, TLS: true,
		ReadPreference: "secondaryPreferred", WriteConcern: journaled})
	if err != nil {
		t.Fatal(err)
	}
	if *co.MaxPoolSize != 50 || *co.MinPoolSize != 5 || co.TLSConfig == nil || co.TLSConfig.RootCAs != nil ||
		co.ReadPreference.Mode() != readpref.SecondaryPreferredMode || co.WriteConcern.W != 1 || !*co.WriteConcern.Journal {
		t.Errorf("options: max %v min %v tls %v rp %v wc %+v", *co.MaxPoolSize, *co.MinPoolSize, co.TLSConfig, co.ReadPreference, co.WriteConcern)
	}
	// Defaults: the URI's, majority with journal when it names none.
	co, err = ClientOptions("mongodb://db:27017/?readPreference=nearest&minPoolSize=2", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if co.TLSConfig != nil || co.ReadPreference.Mode() != readpref.NearestMode || *co.MinPoolSize != 2 ||
		co.WriteConcern.W != writeconcern.WCMajority || !*co.WriteConcern.Journal {
		t.Errorf("defaults: tls %v rp %v min %v wc %+v", co.TLSConfig, co.ReadPreference, *co.MinPoolSize, co.WriteConcern)
	}
	// A CA file: its certificates are the roots.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, testCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if co, err = ClientOptions("mongodb://db", Options{CAFile: ca}); err != nil || co.TLSConfig == nil || co.TLSConfig.RootCAs == nil {
		t.Fatalf("CA file: %v", err)
	}
	for name, o := range map[string]Options{
		"a CA file that is not PEM":  {CAFile: filepath.Join(t.TempDir(), "missing.pem")},
		"an unknown read preference": {ReadPreference: "fastest"},
	} {
		if _, err := ClientOptions("mongodb://db", o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ClientOptions("mongodb://db/?w=0", Options{}); err == nil {
		t.Error("w=0 accepted")
	}
}

// Ditto's Pekko write concern names, for the journal's and snapshots'
// collections.
func TestParseWriteConcernPekkoNames(t *testing.T) {
	t.Parallel()
	for name, w := range map[string]any{"Acknowledged": 1, "Journaled": 1, "ReplicaAcknowledged": writeconcern.WCMajority} {
		wc, err := ParseWriteConcern(name)
		if err != nil || wc.W != w {
			t.Errorf("%s: %+v %v", name, wc, err)
		}
	}
	if _, err := ParseWriteConcern("Unacknowledged"); err == nil {
		t.Error("Unacknowledged accepted")
	}
}

// testCA returns a self-signed CA certificate in PEM.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// The read journal's additional snapshot indexes are created as asked.
func TestSnapshotIndexes(t *testing.T) {
	t.Parallel()
	uri := ferret(t)
	for _, c := range []struct {
		name string
		opts Options
		want []string
	}{
		{"Ditto's defaults", Options{Database: "ix_default", SnapshotIndexPidSnID: true}, []string{"_id_", "pid_sn", "pid_sn_id"}},
		{"both", Options{Database: "ix_both", SnapshotIndexPidID: true, SnapshotIndexPidSnID: true}, []string{"_id_", "pid_id", "pid_sn", "pid_sn_id"}},
		{"none", Options{Database: "ix_none"}, []string{"_id_", "pid_sn"}},
	} {
		s := open(t, uri, c.opts)
		if _, err := s.Journal(journal.Things); err != nil {
			t.Fatal(err)
		}
		cur, err := s.db.Collection(journal.SnapshotTable(journal.Things)).Indexes().List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for cur.Next(context.Background()) {
			got = append(got, cur.Current.Lookup("name").StringValue())
		}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: indexes %v, want %v", c.name, got, c.want)
		}
	}
}
